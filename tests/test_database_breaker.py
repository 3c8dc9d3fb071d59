"""The circuit breaker in front of the database: its states, with a clock the test moves; and what CarDekho sees.

A database that hangs or refuses: every lead is answered 201 within 2 s, and
stored once when it is back. gunicorn with the project's gunicorn.conf.py
(threaded workers) sends its PostgreSQL traffic through a TCP relay the test
controls, so the shared server is never stopped: "hang" accepts connections
and never answers, "refuse" is a server that is down.
"""
import threading
import time
import urllib.request
import uuid

import pytest
import sqlalchemy as sa

from config import GUIDE_API_KEY
from tests.conftest import make_app
from tests.servers import TcpRelay, free_port, post_webhook, start_gunicorn, stop
from webapp.intake.breaker import CircuitBreaker
from webapp.database import dispose_engines
from webapp.intake.spool import Spool
from webapp.intake.parts import intake_of

SENDERS = 30
PROMISE_SECONDS = 2.0  # the promise: every lead answered within 2 s while the database hangs
DRAIN_DEADLINE = 30  # seconds after the database answers again


class FakeClock:
    """Time that moves only when the test says so."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_opens_on_a_failure_lets_one_probe_through_after_the_wait_and_closes_on_its_success():
    clock = FakeClock()
    breaker = CircuitBreaker(retry_seconds=5, clock=clock)
    assert breaker.state == "closed" and [breaker.allow() for _ in range(3)] == [True, True, True]
    breaker.failed()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert [breaker.allow() for _ in range(3)] == [True, False, False]  # one probe, the others keep away
    assert breaker.state == "half-open"
    breaker.succeeded()
    assert breaker.state == "closed" and [breaker.allow() for _ in range(3)] == [True, True, True]


def test_a_failed_probe_opens_the_breaker_for_the_whole_wait_again():
    clock = FakeClock()
    breaker = CircuitBreaker(retry_seconds=5, clock=clock)
    breaker.failed()
    clock.now += 5
    assert breaker.allow() and breaker.state == "half-open"
    clock.now += 0.8  # the probe waited on the database before it failed
    breaker.failed()
    assert breaker.state == "open"
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow() and breaker.state == "half-open"


def test_a_probe_that_never_reports_back_is_replaced_after_the_wait():
    clock = FakeClock()
    breaker = CircuitBreaker(retry_seconds=5, clock=clock)
    breaker.failed()
    clock.now += 5
    assert breaker.allow()  # this probe's thread dies without a word
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert [breaker.allow(), breaker.allow()] == [True, False]


def test_of_many_threads_asking_at_once_exactly_one_becomes_the_probe():
    clock = FakeClock()
    breaker = CircuitBreaker(retry_seconds=5, clock=clock)
    breaker.failed()
    clock.now += 5
    start, answers = threading.Barrier(20), []

    def ask() -> None:
        start.wait(timeout=10)
        answers.append(breaker.allow())

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(answers) == [False] * 19 + [True]


def _post_all_at_once(port: int, names: list[str], key: str) -> list[tuple[str, int, float]]:
    """One lead per sender, all released at the same moment; (name, status, seconds) for each."""
    start = threading.Barrier(len(names))
    results: list[tuple[str, int, float]] = []

    def send(name: str) -> None:
        start.wait(timeout=30)
        status, seconds = post_webhook(port, {"name": name, "phone_number": "9876543210"}, key)
        results.append((name, status, seconds))

    threads = [threading.Thread(target=send, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _stored_counts(url: str, prefix: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text('SELECT name, count(*) FROM "mg-digital-leads" '
                                              "WHERE name LIKE :prefix GROUP BY name"), {"prefix": prefix + "%"})
            return dict(rows.all())
    finally:
        engine.dispose()


def _distribution(results) -> str:
    seconds = sorted(round(s, 2) for _, _, s in results)
    return f"median {seconds[len(seconds) // 2]}s, max {seconds[-1]}s, all: {seconds}"


def _outcome_of(url: str, request_id: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(sa.text("SELECT outcome FROM intake_log WHERE request_id = :id"),
                                     {"id": request_id})
    finally:
        engine.dispose()


def _table_key(url: str, spool_dir: str, label: str) -> str:
    """A key made with `flask keys create`, read once by a worker so its list is saved beside the spool."""
    app = make_app(url, SPOOL_DIR=spool_dir)
    key = app.test_cli_runner().invoke(args=["keys", "create", "--label", label]).stdout.strip().splitlines()[-1]
    with app.app_context():
        assert intake_of(app).keyring.label_for(key) == label
        dispose_engines()
    return key


@pytest.mark.parametrize("outage, sender_key", [("hang", "env"), ("refuse", "env"), ("hang", "table")])
def test_30_senders_during_an_outage_all_get_201_within_2s_and_each_lead_is_stored_once(
        postgresql_url, tmp_path, outage, sender_key):
    target = sa.engine.make_url(postgresql_url)
    relay = TcpRelay(free_port(), (target.host or "127.0.0.1", target.port or 5432))
    relay.start()
    relay.set_mode(outage)  # from the start: no worker has ever reached the database
    relayed_url = target.set(host="127.0.0.1", port=relay.listen_port).render_as_string(hide_password=False)
    spool_dir = str(tmp_path / "spool")
    prefix = f"breaker-{outage}-{sender_key}-{uuid.uuid4().hex[:8]}-"
    # A key from the table (keys create) is checked against a list the worker refreshes from the database.
    key = GUIDE_API_KEY if sender_key == "env" else _table_key(postgresql_url, spool_dir, prefix + "key")
    port = free_port()
    env = {"APP_ENV": "production", "SECRET_KEY": "test-secret-" + "x" * 32, "CARDEKHO_API_KEYS": GUIDE_API_KEY,
           "DATABASE_URL": relayed_url, "SPOOL_DIR": spool_dir, "SPOOL_DRAIN_INTERVAL": "1",
           "WEBHOOK_RATE_LIMIT": "100000 per minute", "RATELIMIT_STORAGE_URI": "memory://",
           "WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "4"}
    server = start_gunicorn(port, env, workers=2)
    try:
        for _ in range(8):  # both workers up and serving (no database involved) before the clock starts
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10).close()
        during = _post_all_at_once(port, [f"{prefix}{i}" for i in range(SENDERS)], key)
        late = [(name, status, round(seconds, 2)) for name, status, seconds in during
                if status != 201 or seconds >= PROMISE_SECONDS]
        assert len(during) == SENDERS and not late, f"{late}; {_distribution(during)}"
        print(f"\n{outage}, {sender_key} key: {SENDERS} senders, {_distribution(during)}")

        relay.set_mode("open")  # the database answers again; nothing is restarted
        expected = {name: 1 for name, _, _ in during}
        deadline = time.monotonic() + DRAIN_DEADLINE
        counts = _stored_counts(postgresql_url, prefix)
        while counts != expected and time.monotonic() < deadline:
            time.sleep(0.5)
            counts = _stored_counts(postgresql_url, prefix)
        assert set(counts) == set(expected), f"missing: {sorted(set(expected) - set(counts))}"
        assert counts == expected, f"stored twice: {[name for name, n in counts.items() if n > 1]}"
        assert Spool(spool_dir).backlog().waiting == 0

        # And the webhook stores straight into the table again (the intake log says "stored", not "spooled").
        outcomes = []
        while "stored" not in outcomes and time.monotonic() < deadline:
            request_id = f"{prefix}after-{len(outcomes)}"
            status, _ = post_webhook(port, {"name": request_id, "phone_number": "9876543210"}, key,
                                     headers={"X-Request-ID": request_id})
            assert status == 201
            outcomes.append(_outcome_of(postgresql_url, request_id))
            time.sleep(0.5)
        assert "stored" in outcomes, outcomes
    finally:
        log = stop(server)
        relay.close()
        engine = sa.create_engine(postgresql_url)
        with engine.begin() as connection:
            for table, column in (('"mg-digital-leads"', "name"), ("api_keys", "label")):
                connection.execute(sa.text(f"DELETE FROM {table} WHERE {column} LIKE :prefix"),
                                   {"prefix": prefix + "%"})
        engine.dispose()
    assert "Traceback" not in log, log
