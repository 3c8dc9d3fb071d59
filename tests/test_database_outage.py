"""PostgreSQL going away: 503 JSON fast (so CarDekho retries), and back to 201 without a restart.

A TCP relay sits between the app and the real PostgreSQL server so the test can
refuse connections (a server that is down) or accept and never answer (a
server that hangs) without stopping the machine's shared server.
"""
import time

import pytest
import sqlalchemy as sa

from config import GUIDE_API_KEY
from tests.conftest import SAMPLE_LEAD, WEBHOOK, make_app
from tests.servers import TcpRelay, free_port
from webapp.extensions import db

SENDER_TIMEOUT = 10  # seconds, the guide's section 2


@pytest.fixture
def relayed_app(postgresql_url):
    """An app whose PostgreSQL connections go through a relay the test controls."""
    target = sa.engine.make_url(postgresql_url)
    relay = TcpRelay(relay_port := free_port(), (target.host or "127.0.0.1", target.port or 5432))
    relay.start()
    url = target.set(host="127.0.0.1", port=relay_port).render_as_string(hide_password=False)
    app = make_app(url)
    yield app, relay
    relay.close()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    cleanup = make_app(postgresql_url)
    with cleanup.app_context():
        db.session.execute(sa.text('DELETE FROM "mg-digital-leads"'))
        db.session.commit()
        db.engine.dispose()


def _timed_post(client):
    started = time.monotonic()
    response = client.post(WEBHOOK, json=SAMPLE_LEAD, headers={"X-API-Key": GUIDE_API_KEY})
    return response, time.monotonic() - started


@pytest.mark.parametrize("outage", ["refuse", "hang"])
def test_webhook_answers_503_fast_while_the_database_is_down_and_recovers(relayed_app, outage):
    app, relay = relayed_app
    client = app.test_client()
    assert _timed_post(client)[0].status_code == 201  # the pool now holds a live connection

    relay.set_mode(outage)
    response, seconds = _timed_post(client)
    assert response.status_code == 503
    assert response.get_json() == {"error": "Database temporarily unavailable; retry with exponential backoff"}
    assert response.headers["Retry-After"]
    assert seconds < SENDER_TIMEOUT / 2, f"took {seconds:.1f}s"
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["database"] == "unreachable"

    relay.set_mode("open")
    response, seconds = _timed_post(client)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert client.get("/readyz").status_code == 200
    with app.app_context():
        stored = db.session.execute(sa.text('SELECT count(*) FROM "mg-digital-leads"')).scalar()
    assert stored == 2  # the lead before and the lead after; the 503 stored nothing
