"""The spool: no lead lost while PostgreSQL is stopped, and every spooled lead stored exactly once.

The outage test stops and restarts a real PostgreSQL server (a private
cluster, never the machine's shared one) under gunicorn with two workers.
"""
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
import sqlalchemy as sa

from config import GUIDE_API_KEY
from tests.conftest import make_app, migrate_database
from tests.servers import ROOT, PrivatePostgres, free_port, post_webhook, start_gunicorn, stop
from webapp.database import dispose_engines
from webapp.extensions import db
from webapp.intake.spool import STALE_CLAIM_SECONDS, Spool, SpooledLead
from webapp.intake.drain import drain_spool, insert_once
from webapp.leads.lead_row import new_intake_id
from webapp.intake.parts import intake_of

SENDER_TIMEOUT = 10  # seconds, the guide's section 2
DRAIN_DEADLINE = 30  # seconds after the restart, the promise


def _names_in_table(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.text('SELECT name FROM "mg-digital-leads"')).scalars())
    except sa.exc.OperationalError:
        return []
    finally:
        engine.dispose()


@pytest.fixture
def private_postgres():
    """A migrated database on a PostgreSQL cluster this test may stop and start."""
    cluster = PrivatePostgres(free_port())
    try:
        cluster.start()
        admin = psycopg2.connect(cluster.url.replace("+psycopg2", ""), connect_timeout=3)
        admin.autocommit = True
        admin.cursor().execute("CREATE DATABASE leads")
        admin.close()
        url = cluster.url.rsplit("/", 1)[0] + "/leads"
        migrate_database(url)
        yield cluster, url
    finally:
        cluster.destroy()


def test_two_senders_through_a_real_postgresql_stop_and_restart_lose_nothing(private_postgres, tmp_path):
    cluster, url = private_postgres
    port = free_port()
    env = {"APP_ENV": "production", "SECRET_KEY": "test-secret-" + "x" * 32, "CARDEKHO_API_KEYS": GUIDE_API_KEY,
           "DATABASE_URL": url, "SPOOL_DIR": str(tmp_path / "spool"), "SPOOL_DRAIN_INTERVAL": "1",
           "WEBHOOK_RATE_LIMIT": "100000 per minute", "RATELIMIT_STORAGE_URI": "memory://"}
    server = start_gunicorn(port, env, workers=2)
    results: list[tuple[str, int, float]] = []
    done = threading.Event()

    def sender(number: int) -> None:
        for i in range(2000):  # bounded; stops much earlier when the test says so
            if done.is_set():
                return
            name = f"sender{number}-lead{i}"
            status, seconds = post_webhook(port, {"name": name, "phone_number": "9876543210"}, GUIDE_API_KEY)
            results.append((name, status, seconds))
            time.sleep(0.05)

    senders = [threading.Thread(target=sender, args=(n,)) for n in (1, 2)]
    try:
        for thread in senders:
            thread.start()
        time.sleep(1.5)
        cluster.stop()
        during_outage = len(results)
        time.sleep(4)
        during_outage = len(results) - during_outage
        cluster.start()
        restarted = time.monotonic()
        time.sleep(1.5)
        done.set()
        for thread in senders:
            thread.join(timeout=SENDER_TIMEOUT + 5)
        sent = sorted(name for name, _, _ in results)
        stored: list[str] = []
        while time.monotonic() - restarted < DRAIN_DEADLINE:
            stored = sorted(_names_in_table(url))
            if len(stored) >= len(sent):
                break
            time.sleep(0.5)
    finally:
        done.set()
        log = stop(server)
    assert during_outage >= 4, "the senders should have posted while PostgreSQL was down"
    slow_or_failed = [(name, status, round(seconds, 1)) for name, status, seconds in results
                      if status != 201 or seconds >= SENDER_TIMEOUT]
    lines = log.splitlines()
    first_error = next((i for i, line in enumerate(lines) if "ERROR" in line or "status=5" in line), len(lines))
    assert not slow_or_failed, f"{slow_or_failed}\n" + "\n".join(lines[first_error:first_error + 80])
    assert "kept in the spool" in log
    assert stored == sent, f"missing: {set(sent) - set(stored)}; twice: {len(stored) - len(set(stored))}"


def _spool_leads(spool: Spool, count: int) -> list[str]:
    names = []
    start = datetime(2026, 11, 20, 4, 30, tzinfo=UTC)
    for i in range(count):
        names.append(f"spooled-{i}")
        spool.write(SpooledLead(new_intake_id(), "CarDekho", start + timedelta(seconds=i),
                                {"name": f"spooled-{i}", "phone_number": "9876543210"}))
    return names


def _flask(url: str, spool_dir: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "APP_ENV": "testing", "DATABASE_URL": url, "SPOOL_DIR": spool_dir}
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "run", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stored_names(app) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(sa.text('SELECT name FROM "mg-digital-leads"')))


def _waiting_on_a_row_lock(app) -> bool:
    with app.app_context():
        return bool(db.session.scalar(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")))


def test_two_drainers_at_the_same_time_store_each_lead_once(app, tmp_path, database_url):
    spool = Spool(str(tmp_path / "spool"))
    names = _spool_leads(spool, 150)
    drainers = [_flask(database_url, spool.directory, "spool", "drain") for _ in range(2)]
    outputs = [stop_after(drainer) for drainer in drainers]
    assert all(drainer.returncode == 0 for drainer in drainers), outputs
    assert _stored_names(app) == sorted(names)
    assert spool.backlog().waiting == 0
    stored_by = [int(output.split("stored: ")[1].split(",")[0]) for output in outputs]
    assert sum(stored_by) == 150, outputs


def stop_after(process: subprocess.Popen, timeout: float = 120) -> str:
    """Wait for a process we started to finish (bounded) and return its output."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        return stop(process)
    return output


@pytest.fixture
def postgresql_app(postgresql_url):
    """An app on the PostgreSQL test database, its leads deleted afterwards."""
    app = make_app(postgresql_url)
    yield app
    with app.app_context():
        db.session.execute(sa.text('DELETE FROM "mg-digital-leads"'))
        db.session.commit()
        db.session.remove()
        dispose_engines()


def test_a_drainer_killed_mid_drain_leaves_nothing_lost_or_doubled(postgresql_app, postgresql_url, tmp_path):
    # PostgreSQL only: the test holds a row lock that the drainer must wait on.
    app = postgresql_app
    spool = Spool(str(tmp_path / "spool"))
    names = _spool_leads(spool, 40)
    blocker_id = json.loads(open(os.path.join(spool.pending_dir, sorted(os.listdir(spool.pending_dir))[20]))
                            .read())["intake_id"]
    # Hold an uncommitted row with the 21st lead's intake id: the drainer's insert of it waits on us.
    holder = psycopg2.connect(postgresql_url.replace("+psycopg2", ""))
    holder.cursor().execute(
        """INSERT INTO "mg-digital-leads" (platform, name, phone_number, payload, intake_id)
           VALUES ('CarDekho', 'spooled-20', '9876543210', '{}', %s)""", (blocker_id,))
    drainer = _flask(postgresql_url, spool.directory, "spool", "drain")
    try:
        deadline = time.monotonic() + 60  # bounded wait: until it stored 20 and waits on the held row
        while not _waiting_on_a_row_lock(app) or len(os.listdir(spool.claimed_dir)) != 1:
            assert drainer.poll() is None and time.monotonic() < deadline, "the drainer should wait on the held row"
            time.sleep(0.05)
        drainer.send_signal(signal.SIGKILL)  # at once: after 3 s (its lock_timeout) it would give up by itself
        drainer.wait(timeout=10)
    finally:
        stop(drainer)
        holder.rollback()
        holder.close()
    assert drainer.returncode == -signal.SIGKILL
    # The 20 it stored; and the insert it was waiting in may still finish once the row is free (each insert
    # commits on its own), in which case the next drain finds that lead stored already, never twice.
    assert len(_stored_names(app)) in (20, 21)
    assert len(os.listdir(spool.claimed_dir)) == 1  # the claim it held when it died
    result = drain_in(app, spool)  # the dead drainer's claim is recovered at once
    assert (result.stored + result.already_stored, result.failed) == (20, 0)
    assert _stored_names(app) == sorted(names)
    assert spool.backlog().waiting == 0


def drain_in(app, spool: Spool):
    """Drain `spool` into `app`'s database."""
    with app.app_context():
        return drain_spool(spool, intake_of(app).engine)


def test_a_claim_whose_lead_was_already_stored_is_not_stored_again(app, tmp_path):
    spool = Spool(str(tmp_path / "spool"))
    _spool_leads(spool, 3)
    [claim] = list(spool.claims(limit=1))
    insert_once(intake_of(app).engine, claim.read())  # a drainer stored it, then died before deleting the file
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    os.rename(claim.path, claim.path.replace(f"@{os.getpid()}@", f"@{dead}@"))
    result = drain_in(app, spool)
    assert (result.stored, result.already_stored) == (2, 1)
    assert len(_stored_names(app)) == 3


def test_a_live_drainers_fresh_claim_is_left_alone_and_an_old_one_is_recovered(tmp_path):
    spool = Spool(str(tmp_path / "spool"))
    _spool_leads(spool, 2)
    first, second = list(spool.claims())
    assert spool.recover_stale_claims() == 0  # this process is alive and its claims are fresh
    old = int(time.time()) - STALE_CLAIM_SECONDS - 1
    os.rename(second.path, second.path.rsplit("@", 1)[0] + f"@{old}")
    assert spool.recover_stale_claims() == 1
    backlog = spool.backlog()
    assert (backlog.pending, backlog.in_progress) == (1, 1)
    assert backlog.oldest == datetime(2026, 11, 20, 4, 30, tzinfo=UTC)


def test_spool_files_are_private_and_complete(tmp_path):
    spool = Spool(str(tmp_path / "spool"))
    lead = SpooledLead(new_intake_id(), "CarDekho", datetime.now(UTC), {"name": "Ravi", "phone_number": "98"},
                       {"request_id": "abc"})
    name = spool.write(lead)
    path = os.path.join(spool.pending_dir, name)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(spool.pending_dir).st_mode) == 0o700
    assert SpooledLead.from_json(open(path, "rb").read()) == lead
    assert os.listdir(spool.tmp_dir) == []


def test_a_file_that_cannot_be_a_lead_is_set_aside_not_retried_forever(app, tmp_path):
    spool = Spool(str(tmp_path / "spool"))
    _spool_leads(spool, 1)
    os.makedirs(spool.pending_dir, exist_ok=True)
    with open(os.path.join(spool.pending_dir, "20260101T000000000000Z-broken.json"), "w") as file:
        file.write("{not json")
    result = drain_in(app, spool)
    assert (result.stored, result.failed) == (1, 1)
    assert spool.backlog().failed == 1 and spool.backlog().waiting == 0
    assert app.test_cli_runner().invoke(args=["spool", "status"]).exit_code == 0


def test_a_dropped_connection_reported_as_a_plain_database_error_is_an_outage_but_bad_data_is_not():
    from sqlalchemy import exc

    from webapp.database import is_outage

    dropped = exc.DatabaseError("INSERT", {}, Exception("no message from the libpq"), connection_invalidated=True)
    assert is_outage(dropped)
    assert is_outage(exc.OperationalError("INSERT", {}, Exception("server closed the connection")))
    assert not is_outage(exc.IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not is_outage(exc.DataError("INSERT", {}, Exception("invalid input")))


def test_a_new_workers_first_requests_arriving_together_all_get_their_answer(app_factory, monkeypatch):
    # Several requests reach a fresh worker at once; each makes sure the drainer runs. Starting a thread
    # is slowed down here so they really overlap (it used to leave the pid set beside no thread: a 500).
    app = app_factory(SPOOL_DRAIN_INTERVAL=5)
    real_thread = threading.Thread
    senders = [real_thread(target=lambda: statuses.append(_post_sample(app))) for _ in range(3)]
    statuses = []

    class SlowToStart(real_thread):
        def __init__(self, *args, **kwargs):  # threading's own subclasses (Timer) come through here too
            if kwargs.get("name") == "spool-drainer":
                time.sleep(0.3)
            real_thread.__init__(self, *args, **kwargs)

    monkeypatch.setattr("webapp.worker_thread.threading.Thread", SlowToStart)
    try:
        for sender in senders:
            sender.start()
            time.sleep(0.05)
        for sender in senders:
            sender.join(timeout=30)
        assert statuses == [201, 201, 201]
    finally:
        intake_of(app).drainer.stop()


def _post_sample(app) -> int:
    from tests.conftest import SAMPLE_LEAD, WEBHOOK

    return app.test_client().post(WEBHOOK, json=SAMPLE_LEAD, headers={"X-API-Key": GUIDE_API_KEY}).status_code
