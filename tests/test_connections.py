"""Pooled PostgreSQL connections: a connection killed while idle is replaced before the next request uses it."""
import time

import sqlalchemy as sa

from config import GUIDE_API_KEY
from tests.conftest import SAMPLE_LEAD, WEBHOOK, empty_tables, make_app
from webapp.connections import PING_AFTER_IDLE_SECONDS
from webapp.extensions import db


def test_a_connection_killed_while_idle_is_replaced_silently(postgresql_url):
    app = make_app(postgresql_url)
    client = app.test_client()
    headers = {"X-API-Key": GUIDE_API_KEY}
    try:
        assert client.post(WEBHOOK, json=SAMPLE_LEAD, headers=headers).status_code == 201
        with app.app_context():
            pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
            db.session.remove()
        killer = make_app(postgresql_url)
        with killer.app_context():  # as a server restart would
            db.session.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            db.session.commit()
            db.engine.dispose()
        time.sleep(PING_AFTER_IDLE_SECONDS + 0.2)
        assert client.post(WEBHOOK, json=SAMPLE_LEAD, headers=headers).status_code == 201
    finally:
        empty_tables(app)
