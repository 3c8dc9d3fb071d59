"""`Idempotency-Key`: CarDekho's own retries of one lead store it once, across workers and through the spool.

DESIGN.md: the same key from the same sender within 24 h gets the first answer
again and stores nothing new; the intake log says `replayed`. A key is never a
reason to refuse a lead: whatever its value, the lead is kept.
"""
import os
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from config import GUIDE_API_KEY
from tests.conftest import SAMPLE_LEAD, WEBHOOK, migrate_database
from tests.servers import free_port, post_webhook, scratch_database, start_gunicorn, stop
from tests.test_database_outage import relayed_app  # noqa: F401  (a fixture)
from webapp.extensions import db

SUCCESS = {"message": "CarDekho lead inserted successfully"}
OTHER_KEY = "a-second-sender-key-" + "y" * 24


def _post(client, key="retry-7f3a", body=None, api_key=GUIDE_API_KEY):
    headers = {"X-API-Key": api_key}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(WEBHOOK, json=body or SAMPLE_LEAD, headers=headers)


def _outcomes(app) -> list[str]:
    with app.app_context():
        outcomes = db.session.execute(sa.text("SELECT outcome FROM intake_log ORDER BY id")).scalars().all()
        db.session.remove()
    return list(outcomes)


def test_a_retry_with_the_same_key_gets_the_first_answer_and_stores_nothing_new(app, client, leads):
    first, retry = _post(client), _post(client)
    assert (first.status_code, first.get_json()) == (201, SUCCESS)
    assert (retry.status_code, retry.get_json()) == (201, SUCCESS)
    assert len(leads()) == 1
    assert _outcomes(app) == ["stored", "replayed"]


def test_different_keys_or_no_key_are_different_leads(client, leads):
    assert _post(client, "first").status_code == 201
    assert _post(client, "second").status_code == 201
    assert _post(client, None).status_code == 201
    assert _post(client, None).status_code == 201  # without a key, duplicates are rows, as the guide says
    assert len(leads()) == 4


def test_the_same_key_from_another_sender_is_another_lead(app_factory, leads):
    app = app_factory(CARDEKHO_API_KEYS=[GUIDE_API_KEY, OTHER_KEY])
    client = app.test_client()
    assert _post(client, "shared-key").status_code == 201
    assert _post(client, "shared-key", api_key=OTHER_KEY).status_code == 201
    assert len(leads()) == 2


def test_a_key_older_than_24_hours_stores_a_new_lead(app, client, leads):
    assert _post(client, "old-key").status_code == 201
    with app.app_context():
        db.session.execute(sa.text('UPDATE "mg-digital-leads" SET created_at = :at'),
                           {"at": leads()[0].created_at - timedelta(hours=25)})
        db.session.commit()
        db.session.remove()
    assert _post(client, "old-key").status_code == 201
    assert _post(client, "old-key").status_code == 201  # and that new lead is the one retries now find
    assert len(leads()) == 2
    assert _outcomes(app) == ["stored", "stored", "replayed"]


@pytest.mark.parametrize("key", ["x" * 5000, "ключ-🔑", " ", "a\tb"])
def test_an_odd_key_never_costs_the_lead(client, leads, key):
    response = client.post(WEBHOOK, json=SAMPLE_LEAD,
                           headers=[("X-API-Key", GUIDE_API_KEY), ("Idempotency-Key", key.encode().decode("latin-1"))])
    assert (response.status_code, response.get_json()) == (201, SUCCESS)
    assert len(leads()) == 1


def test_retries_while_the_database_is_away_are_spooled_and_stored_once(relayed_app):  # noqa: F811
    app, relay = relayed_app
    client = app.test_client()
    relay.set_mode("refuse")
    assert _post(client, "spooled-key").status_code == 201
    assert _post(client, "spooled-key").status_code == 201
    relay.set_mode("open")
    drain = app.test_cli_runner().invoke(args=["spool", "drain"])
    assert drain.exit_code == 0, drain.output
    assert "stored: 1, already stored: 1" in drain.output
    with app.app_context():
        names = db.session.execute(sa.text('SELECT name FROM "mg-digital-leads"')).scalars().all()
        db.session.remove()
    assert names == [SAMPLE_LEAD["name"]]


def test_ten_concurrent_retries_over_four_workers_store_one_row(postgresql_url, tmp_path):
    with scratch_database(postgresql_url, "idempotency") as url:
        migrate_database(url)
        port = free_port()
        env = {"APP_ENV": "production", "SECRET_KEY": "idempotency-test-" + "x" * 32,
               "CARDEKHO_API_KEYS": GUIDE_API_KEY, "DATABASE_URL": url, "SPOOL_DIR": str(tmp_path / "spool"),
               "RATELIMIT_STORAGE_URI": "memory://", "WEBHOOK_RATE_LIMIT": "100000 per minute"}
        server = start_gunicorn(port, {**os.environ, **env}, workers=4)
        statuses: list[int] = []
        start = threading.Barrier(10)

        def retry() -> None:
            start.wait()
            statuses.append(post_webhook(port, SAMPLE_LEAD, GUIDE_API_KEY, {"Idempotency-Key": "one-lead"})[0])

        threads = [threading.Thread(target=retry) for _ in range(10)]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
        finally:
            log = stop(server)
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            rows = connection.execute(sa.text('SELECT count(*) FROM "mg-digital-leads"')).scalar()
            outcomes = connection.execute(sa.text("SELECT outcome, count(*) FROM intake_log GROUP BY outcome")).all()
        engine.dispose()
        assert statuses == [201] * 10, log
        assert rows == 1
        assert dict(outcomes) == {"stored": 1, "replayed": 9}
