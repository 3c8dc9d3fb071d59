"""PostgreSQL going away: the lead is spooled and answered 201 in time, and stored once it is back.

A TCP relay sits between the app and the real PostgreSQL server so the test can
refuse connections (a server that is down) or accept and never answer (a
server that hangs) without stopping the machine's shared server.
"""
import time

import pytest
import sqlalchemy as sa
from flask import request_started

from config import GUIDE_API_KEY
from tests.conftest import SAMPLE_LEAD, WEBHOOK, empty_tables, make_app
from tests.servers import TcpRelay, free_port
from tests.test_database_breaker import FakeClock
from webapp.intake.breaker import CircuitBreaker
from webapp.database import dispose_engines
from webapp.extensions import db
from webapp.intake.parts import intake_of
from webapp.auth.accounts import create_user

SENDER_TIMEOUT = 10  # seconds, the guide's section 2


@pytest.fixture
def relayed_app(postgresql_url, tmp_path):
    """An app whose PostgreSQL connections go through a relay the test controls."""
    target = sa.engine.make_url(postgresql_url)
    relay = TcpRelay(relay_port := free_port(), (target.host or "127.0.0.1", target.port or 5432))
    relay.start()
    url = target.set(host="127.0.0.1", port=relay_port).render_as_string(hide_password=False)
    app = make_app(url, SPOOL_DIR=str(tmp_path / "spool"), DATABASE_RETRY_SECONDS=0.5)
    yield app, relay
    relay.close()
    with app.app_context():
        db.session.remove()
        dispose_engines()
    empty_tables(make_app(postgresql_url))


def _timed_post(client):
    started = time.monotonic()
    response = client.post(WEBHOOK, json=SAMPLE_LEAD, headers={"X-API-Key": GUIDE_API_KEY})
    return response, time.monotonic() - started


def _rows(app):
    with app.app_context():
        return db.session.execute(sa.text(
            'SELECT name, intake_id, created_at FROM "mg-digital-leads" ORDER BY id')).all()


@pytest.mark.parametrize("outage", ["refuse", "hang"])
def test_a_lead_sent_while_the_database_is_down_is_spooled_answered_201_and_stored_once_back(relayed_app, outage):
    app, relay = relayed_app
    client = app.test_client()
    assert _timed_post(client)[0].status_code == 201  # the pool now holds a live connection

    relay.set_mode(outage)
    response, seconds = _timed_post(client)
    assert response.status_code == 201
    assert response.get_json() == {"message": "CarDekho lead inserted successfully"}
    assert seconds < SENDER_TIMEOUT, f"took {seconds:.1f}s"
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["database"] == "unreachable"
    assert ready.get_json()["spool"]["waiting"] == 1
    status = app.test_cli_runner().invoke(args=["spool", "status"])
    assert "waiting: 1 (1 pending" in status.output
    drain = app.test_cli_runner().invoke(args=["spool", "drain"])
    assert drain.exit_code == 1 and "database is unavailable" in drain.output
    assert "waiting: 1" in app.test_cli_runner().invoke(args=["spool", "status"]).output

    relay.set_mode("open")
    time.sleep(app.config["DATABASE_RETRY_SECONDS"])  # after a failure, leads go to the spool this long
    response, seconds = _timed_post(client)
    assert response.status_code == 201, response.get_data(as_text=True)
    drain = app.test_cli_runner().invoke(args=["spool", "drain"])
    assert drain.exit_code == 0, drain.output
    assert "stored: 1, already stored: 0, failed: 0, still waiting: 0" in drain.output
    assert client.get("/readyz").get_json()["spool"] == {"waiting": 0, "failed": 0, "oldest_received_at": None}
    rows = _rows(app)
    assert len(rows) == 3 and len({row.intake_id for row in rows}) == 3
    # The spooled lead was inserted last but keeps the time it was received.
    before, after, spooled = rows
    assert before.created_at < spooled.created_at < after.created_at
    again = app.test_cli_runner().invoke(args=["spool", "drain"])
    assert "stored: 0" in again.output and len(_rows(app)) == 3


def test_after_a_failure_leads_are_spooled_without_touching_the_database_until_one_tries_it_again(relayed_app):
    app, relay = relayed_app
    clock = FakeClock()
    intake_of(app).breaker = CircuitBreaker(retry_seconds=5, clock=clock)
    client = app.test_client()
    relay.set_mode("hang")
    assert _timed_post(client)[0].status_code == 201  # waited for a connection that never answered; spooled
    tried = relay.accepted
    assert [_timed_post(client)[0].status_code for _ in range(3)] == [201, 201, 201]
    assert relay.accepted == tried, "a lead waited on the hung database while the breaker was open"
    assert intake_of(app).spool.backlog().waiting == 4

    clock.now += 5
    relay.set_mode("open")
    assert [_timed_post(client)[0].status_code for _ in range(2)] == [201, 201]  # one tries, and it works
    assert relay.accepted > tried
    assert intake_of(app).spool.backlog().waiting == 4  # both went straight into the table
    drain = app.test_cli_runner().invoke(args=["spool", "drain"])
    assert "stored: 4, already stored: 0, failed: 0, still waiting: 0" in drain.output
    rows = _rows(app)
    assert len(rows) == 6 and len({row.intake_id for row in rows}) == 6


def test_the_webhook_answers_503_only_when_the_spool_cannot_write_either(relayed_app, tmp_path):
    app, relay = relayed_app
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    intake_of(app).spool.__init__(str(not_a_directory / "spool"))  # a spool that cannot be created
    relay.set_mode("refuse")
    response, seconds = _timed_post(app.test_client())
    assert response.status_code == 503
    assert response.get_json() == {"error": "Lead could not be stored right now; retry with exponential backoff"}
    assert response.headers["Retry-After"]
    assert seconds < SENDER_TIMEOUT


def test_a_spooled_lead_is_drained_by_the_worker_once_the_database_is_back(postgresql_url, tmp_path):
    target = sa.engine.make_url(postgresql_url)
    relay = TcpRelay(relay_port := free_port(), (target.host or "127.0.0.1", target.port or 5432))
    relay.start()
    url = target.set(host="127.0.0.1", port=relay_port).render_as_string(hide_password=False)
    app = make_app(url, SPOOL_DIR=str(tmp_path / "spool"), SPOOL_DRAIN_INTERVAL=0.2)
    client = app.test_client()
    try:
        relay.set_mode("refuse")
        assert _timed_post(client)[0].status_code == 201
        relay.set_mode("open")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _rows(app):
            time.sleep(0.2)
        assert len(_rows(app)) == 1
        assert intake_of(app).spool.backlog().waiting == 0
    finally:
        intake_of(app).drainer.stop()
        relay.set_mode("open")
        with app.app_context():
            db.session.execute(sa.text('DELETE FROM "mg-digital-leads"'))
            db.session.commit()
            db.session.remove()
            dispose_engines()
        relay.close()


def test_an_open_list_asking_during_an_outage_gets_the_outage_answer_and_its_quick_204s_after(relayed_app):
    app, relay = relayed_app
    with app.app_context():
        session_id = create_user("tab@raam.example", "Tab Person", "sales", "a long enough passphrase").get_id()
    client = app.test_client()  # signed in: a session cookie signed with the app's key, as sign-in makes
    client.set_cookie("session", app.session_interface.get_signing_serializer(app).dumps({"_user_id": session_id}))
    views_run = []

    def ask():
        return client.get("/admin/mg-digital-leads/live", query_string={"after": "0"}, headers={"HX-Request": "true"})

    with request_started.connected_to(lambda sender, **_: views_run.append(1), app):
        assert ask().status_code == 204 and views_run == []  # answered before the dashboard app
        relay.set_mode("refuse")
        assert [ask().status_code for _ in range(3)] == [503] * 3  # the view's outage answer, never a 500
        relay.set_mode("open")
        deadline = time.monotonic() + 15
        while ask().status_code != 204:  # a pooled connection the outage cut fails once more, then is replaced
            assert time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(0.6)  # DATABASE_RETRY_SECONDS (0.5 here): after an error the view answers for that long
        seen = len(views_run)
        assert [ask().status_code for _ in range(3)] == [204] * 3
        assert len(views_run) == seen  # the shortcut answers again
