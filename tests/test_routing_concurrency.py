"""Round robin under real concurrency: gunicorn with 4 workers, 10 senders, 50 leads, 3 sales people on duty.

PostgreSQL only (a throwaway database): the routers of four processes claim
leads with SKIP LOCKED and take turns on the sales people's rows.
"""
import os
import threading
import time
from collections import Counter

import pytest
import sqlalchemy as sa

from config import GUIDE_API_KEY
from tests.conftest import make_app, migrate_database
from tests.servers import free_port, post_webhook, scratch_database, start_gunicorn, stop
from webapp.auth.models import User
from webapp.database import dispose_engines
from webapp.extensions import db
from webapp.leads.models import Lead, LeadActivity

SENDERS, LEADS_EACH = 10, 5
OWNER_WITHIN = 5.0  # seconds after the lead's 201: the promise


@pytest.fixture
def database(postgresql_url):
    with scratch_database(postgresql_url, "routing") as url:
        migrate_database(url)
        app = make_app(url)
        with app.app_context():
            for n in range(3):
                db.session.add(User(email=f"sales{n}@raam.example", name=f"Sales {n}", role="sales",
                                    password_hash="x", active=True, session_version=1))
            db.session.add(User(email="boss@raam.example", name="Boss", role="manager", password_hash="x",
                                active=True, session_version=1))
            db.session.commit()
        yield app, url
        with app.app_context():
            dispose_engines()


def _owned_names(app) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(sa.select(Lead.name, Lead.owner_id).where(Lead.owner_id.is_not(None))).all()
        db.session.remove()
    return dict(rows)


def test_50_concurrent_leads_over_4_workers_each_assigned_once_evenly_within_5_seconds(database, tmp_path):
    app, url = database
    port = free_port()
    env = {"APP_ENV": "production", "SECRET_KEY": "routing-test-" + "x" * 32, "CARDEKHO_API_KEYS": GUIDE_API_KEY,
           "DATABASE_URL": url, "SPOOL_DIR": str(tmp_path / "spool"), "RATELIMIT_STORAGE_URI": "memory://",
           "WEBHOOK_RATE_LIMIT": "100000 per minute", "ROUTE_INTERVAL": "1", "PYTHONUNBUFFERED": "1"}
    server = start_gunicorn(port, {**os.environ, **env}, workers=4)
    answered: dict[str, tuple[int, float]] = {}
    start = threading.Barrier(SENDERS)

    def sender(number: int) -> None:
        start.wait()
        for i in range(LEADS_EACH):
            name = f"sender{number}-lead{i}"
            status, _ = post_webhook(port, {"name": name, "phone_number": f"98{number:03d}{i:05d}"}, GUIDE_API_KEY)
            answered[name] = (status, time.monotonic())

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(SENDERS)]
    try:
        for thread in threads:
            thread.start()
        owned_at: dict[str, float] = {}
        deadline = time.monotonic() + 60  # bounded: senders finish in seconds
        while time.monotonic() < deadline and (len(owned_at) < SENDERS * LEADS_EACH or
                                               any(thread.is_alive() for thread in threads)):
            now = time.monotonic()
            for name in _owned_names(app):
                owned_at.setdefault(name, now)
            time.sleep(0.05)
        for thread in threads:
            thread.join(timeout=30)
    finally:
        log = stop(server)
    assert Counter(status for status, _ in answered.values()) == {201: SENDERS * LEADS_EACH}, log[-3000:]
    assert set(owned_at) == set(answered), log[-3000:]
    late = {name: round(owned_at[name] - at, 2) for name, (_, at) in answered.items()
            if owned_at[name] - at > OWNER_WITHIN}
    assert late == {}
    with app.app_context():
        owners = Counter(db.session.scalars(sa.select(Lead.owner_id)))
        assigned = Counter(db.session.scalars(sa.select(LeadActivity.lead_id).where(LeadActivity.kind == "assigned")))
        sales = set(db.session.scalars(sa.select(User.id).where(User.role == "sales")))
        db.session.remove()
    assert set(owners) == sales
    assert max(owners.values()) - min(owners.values()) <= 1, owners
    assert len(assigned) == SENDERS * LEADS_EACH and set(assigned.values()) == {1}  # each assigned exactly once
    assert "Traceback" not in log
