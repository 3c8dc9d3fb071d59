"""Pooled PostgreSQL connections: a connection killed while idle is replaced before the next request uses it."""
import time

import sqlalchemy as sa

from config import GUIDE_API_KEY
from tests.conftest import SAMPLE_LEAD, WEBHOOK, empty_tables, make_app
from webapp.database import PING_AFTER_IDLE_SECONDS, dispose_engines, engines_of
from webapp.extensions import db
from webapp.intake.parts import intake_of


def test_a_connection_killed_while_idle_is_replaced_silently(postgresql_url):
    app = make_app(postgresql_url)
    client = app.test_client()
    headers = {"X-API-Key": GUIDE_API_KEY}
    try:
        assert client.post(WEBHOOK, json=SAMPLE_LEAD, headers=headers).status_code == 201
        pids = []
        for engine in engines_of(app):  # the pooled connection of each engine (the webhook has its own)
            with engine.connect() as connection:
                pids.append(connection.scalar(sa.text("SELECT pg_backend_pid()")))
        killer = make_app(postgresql_url)
        with killer.app_context():  # as a server restart would
            for pid in pids:
                db.session.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            db.session.commit()
            dispose_engines()
        time.sleep(PING_AFTER_IDLE_SECONDS + 0.2)
        assert client.post(WEBHOOK, json=SAMPLE_LEAD, headers=headers).status_code == 201
    finally:
        empty_tables(app)


def test_the_webhooks_connection_goes_back_to_the_pool_without_a_reset(postgresql_url, monkeypatch):
    # Fault injection: make the reset fail as it does when the server has just gone away. The insert used to
    # switch a shared connection to autocommit and back; a failed switch back was a 500, and its pool slot
    # was never returned, so after 15 of them every request waited for a connection and failed.
    app = make_app(postgresql_url)
    client = app.test_client()
    engines = engines_of(app)
    webhook_engine = intake_of(app).engine

    def server_gone(dbapi_connection):
        raise webhook_engine.dialect.loaded_dbapi.OperationalError("server closed the connection unexpectedly")

    for engine in engines:
        monkeypatch.setattr(engine.dialect, "reset_isolation_level", server_gone)
    try:
        statuses = [client.post(WEBHOOK, json=dict(SAMPLE_LEAD, name=f"Lead {i}"), headers={"X-API-Key": GUIDE_API_KEY})
                    .status_code for i in range(20)]
        assert statuses == [201] * 20
        assert webhook_engine.pool.checkedout() == 0
        with app.app_context():
            assert db.session.scalar(sa.text('SELECT count(*) FROM "mg-digital-leads" WHERE name LIKE \'Lead %\'')) == 20
    finally:
        empty_tables(app)
