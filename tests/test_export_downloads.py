"""A manager's CSV download however it ends: its export slot always comes back, and a failed start says why.

Real failures only: a lock held by another connection that makes recording the
export time out, readers that go away half-way, and the database terminating
every connection of the app mid-download.
"""
import csv
import io
import sqlite3
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
import sqlalchemy as sa

from config import engine_options
from tests.factories import add_lead
from webapp.extensions import db
from webapp.leads.models import LeadExport
from webapp.leads.lead_row import build_lead
from webapp.leads.submission import validate_submission

EXPORT = "/admin/mg-digital-leads/export.csv"
LOCK_WAIT_MS = 300  # how long the app waits for a lock here (3 s in production)
BULK = 2500  # more than one chunk (1,000 rows) of the CSV


def _short_lock_waits(url: str) -> dict:
    options = engine_options(url)
    if url.startswith("postgresql"):
        setting = f"-c statement_timeout=5000 -c lock_timeout={LOCK_WAIT_MS}"
        options["connect_args"] = {**options["connect_args"], "options": setting}
    else:
        options["connect_args"] = {**options["connect_args"], "timeout": LOCK_WAIT_MS / 1000}
    return options


def _dsn(url: str) -> str:
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def app(app_factory, database_url):
    """The app, waiting only briefly for a lock (so a held lock fails a request quickly)."""
    return app_factory(SQLALCHEMY_ENGINE_OPTIONS=_short_lock_waits(database_url))


@pytest.fixture
def manager(client, make_user, auth):
    """The test client, signed in as a manager (before any lock is taken: signing in is audited too)."""
    make_user("manager@raam.example", name="Mira Manager", role="manager")
    assert auth.login("manager@raam.example").status_code == 302
    return client


@contextmanager
def table_locked(url: str, table: str):
    """Another session holds `table` (PostgreSQL) or the database's write lock (SQLite) until the block ends."""
    if url.startswith("postgresql"):
        holder = psycopg2.connect(_dsn(url))
        holder.cursor().execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    else:
        holder = sqlite3.connect(sa.engine.make_url(url).database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


def _add_bulk(app, count: int = BULK) -> None:
    submission = validate_submission({"name": "bulk", "phone_number": "9876543210"})
    t0 = datetime(2026, 11, 28, tzinfo=UTC)
    with app.app_context():
        db.session.add_all(build_lead(submission, "CarDekho", t0 + timedelta(seconds=i)) for i in range(count))
        db.session.commit()


def _records(app) -> list[tuple[int, bool]]:
    with app.app_context():
        return [(record.row_count, record.completed)
                for record in db.session.scalars(sa.select(LeadExport).order_by(LeadExport.id))]


def _csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).removeprefix("\ufeff"))))


def _terminate_other_connections(url: str) -> None:
    """What a database restart does to the app: every connection but this one ends (waits until they have)."""
    killer = psycopg2.connect(_dsn(url))
    killer.autocommit = True
    others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    with killer.cursor() as cursor:
        cursor.execute(f"SELECT pg_terminate_backend(pid) {others}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cursor.execute(f"SELECT count(*) {others}")
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.05)
    killer.close()


def test_exports_work_again_after_recording_them_failed(app, manager, database_url):
    with app.app_context():
        add_lead(name="Ravi Kumar")
    with table_locked(database_url, "audit_log"):
        for _ in range(app.config["EXPORTS_PER_WORKER"] + 2):
            refused = manager.get(EXPORT)
            page = refused.get_data(as_text=True)
            assert refused.status_code == 503 and refused.mimetype == "text/html"
            assert "The export could not start" in page and "try again in a minute" in page
            assert "Other exports are still downloading" not in page
    response = manager.get(EXPORT)
    assert response.status_code == 200
    assert [row[2] for row in _csv_rows(response)[1:]] == ["Ravi Kumar"]


def test_downloads_abandoned_half_way_give_their_slots_back_and_are_recorded_unfinished(app, manager):
    _add_bulk(app)
    slots = app.config["EXPORTS_PER_WORKER"]
    for _ in range(slots + 1):  # more abandoned downloads than slots: each must have given its slot back
        download = manager.get(EXPORT, buffered=False)
        assert download.status_code == 200
        assert b"bulk" in next(download.response)  # the first rows arrive...
        download.close()  # ...then the phone goes away: the server closes the response
    response = manager.get(EXPORT)
    assert response.status_code == 200 and len(_csv_rows(response)) == BULK + 1
    records = _records(app)
    assert records[-1] == (BULK, True)
    assert all(not completed and 0 < rows < BULK for rows, completed in records[:-1]), records


def test_downloads_whose_end_cannot_be_recorded_give_their_slots_back(app, manager, database_url):
    _add_bulk(app)
    for _ in range(app.config["EXPORTS_PER_WORKER"] + 1):
        download = manager.get(EXPORT, buffered=False)
        assert download.status_code == 200 and b"bulk" in next(download.response)
        with table_locked(database_url, "lead_exports"):
            download.close()  # the reader went away while the history could not be written
    response = manager.get(EXPORT)
    assert response.status_code == 200 and len(_csv_rows(response)) == BULK + 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # the COPY path is PostgreSQL's
def test_downloads_cut_off_by_the_database_give_their_slots_back(app, manager, database_url):
    with app.app_context():
        db.session.execute(sa.text("""
            INSERT INTO "mg-digital-leads" (platform, name, phone_number, payload)
            SELECT 'CarDekho', 'bulk ' || n, '9876543210', '{}' FROM generate_series(1, 30000) n"""))
        db.session.commit()
    for _ in range(app.config["EXPORTS_PER_WORKER"] + 1):
        download = manager.get(EXPORT, buffered=False)
        assert download.status_code == 200 and b"bulk" in next(download.response)
        _terminate_other_connections(database_url)  # a database restart in the middle of the download
        with pytest.raises(psycopg2.OperationalError):
            for _chunk in download.response:
                pass
        download.close()
    statuses = []
    for _ in range(5):  # the first requests may still meet a terminated pooled connection (503)
        response = manager.get(EXPORT)
        statuses.append(response.status_code)
        if response.status_code == 200:
            break
    assert statuses[-1] == 200 and set(statuses) <= {200, 503}, statuses
    assert len(_csv_rows(response)) == 30001
    assert [completed for _, completed in _records(app)] == [False] * (len(_records(app)) - 1) + [True]
