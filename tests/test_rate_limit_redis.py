"""The guide's 120/minute limit with Redis as the shared store: real Redis, real gunicorn workers."""
import json
import logging
import re
import socket
import threading
import time

import pytest
import redis

from config import GUIDE_API_KEY
from tests.conftest import SAMPLE_LEAD, WEBHOOK, make_app, migrate_database
from tests.servers import TcpRelay, free_port, post_webhook, start_gunicorn, start_redis, stop



@pytest.fixture
def shared_redis():
    """A private redis-server shared by the workers of one test.

    Not the machine's Redis: other suites running at the same time count the
    same key there and would eat this test's limit.
    """
    port = free_port()
    server = start_redis(port)
    yield f"redis://127.0.0.1:{port}/0"
    stop(server)


def _count_rows(url: str) -> int:
    app = make_app(url)
    from webapp.database import dispose_engines
    from webapp.extensions import db
    import sqlalchemy as sa
    with app.app_context():
        count = db.session.execute(sa.text('SELECT count(*) FROM "mg-digital-leads"')).scalar()
        dispose_engines()
    return count


class HeldRequest:
    """A request sent up to its last header line: the sync worker that accepts it waits for the rest.

    Holding one worker this way makes the other serve the next requests, so a
    test can decide which worker answers without guessing.
    """

    def __init__(self, port: int):
        body = json.dumps(SAMPLE_LEAD).encode()
        head = (f"POST {WEBHOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"X-API-Key: {GUIDE_API_KEY}\r\nConnection: close\r\nContent-Length: {len(body)}\r\n")
        self.body = body
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(head.encode())
        time.sleep(0.3)  # let a worker accept it and block reading

    def finish(self) -> int:
        """Send the rest and return the status code."""
        self.sock.sendall(b"\r\n" + self.body)
        status_line = self.sock.makefile("rb").readline().decode()
        self.sock.close()
        return int(status_line.split()[1])


def test_two_gunicorn_workers_share_one_limit_in_redis(shared_redis, tmp_path):
    sqlite_url = f"sqlite:///{tmp_path}/leads.db"  # its own file: these rows outlive the test
    migrate_database(sqlite_url)
    env = {"APP_ENV": "production", "SECRET_KEY": "test-secret-" + "x" * 32, "CARDEKHO_API_KEYS": GUIDE_API_KEY,
           "DATABASE_URL": sqlite_url, "RATELIMIT_STORAGE_URI": shared_redis,
           "WEBHOOK_RATE_LIMIT": "10 per minute"}
    port = free_port()
    # Sync workers here, whatever gunicorn.conf.py says: a held request must occupy a whole worker.
    server = start_gunicorn(port, env, workers=2, options=("--worker-class", "sync"))
    try:
        first = HeldRequest(port)              # worker A waits on it
        statuses = [post_webhook(port, SAMPLE_LEAD, GUIDE_API_KEY)[0] for _ in range(6)]  # so worker B serves these
        second = HeldRequest(port)             # worker B waits on this one
        statuses.append(first.finish())                 # A answers, and is free again
        statuses += [post_webhook(port, SAMPLE_LEAD, GUIDE_API_KEY)[0] for _ in range(6)]  # so A serves these
        statuses.append(second.finish())
    finally:
        log = stop(server)
    serving_pids = set(re.findall(r"\[pid (\d+)\] webapp.intake: webhook", log))
    assert len(serving_pids) == 2, f"both workers should have served requests:\n{log}"
    # Each worker saw 7 requests: with per-process memory counting all 14 would pass.
    assert statuses.count(201) == 10, statuses
    assert statuses.count(429) == 4, statuses
    assert _count_rows(sqlite_url) == 10  # every 201 is a row


def test_redis_outage_fails_open_and_the_shared_store_comes_back(tmp_path, caplog):
    sqlite_url = f"sqlite:///{tmp_path}/leads.db"
    migrate_database(sqlite_url)
    redis_port = free_port()
    redis_server = start_redis(redis_port)
    app = make_app(sqlite_url, RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{redis_port}/0",
                   WEBHOOK_RATE_LIMIT="50 per minute")
    client = app.test_client()
    headers = {"X-API-Key": GUIDE_API_KEY}
    probe = redis.Redis(port=redis_port)
    try:
        assert client.post(WEBHOOK, json=SAMPLE_LEAD, headers=headers).status_code == 201
        assert probe.keys("*raam-leads*"), "the hit should be counted in Redis"
        stop(redis_server)
        with caplog.at_level(logging.WARNING, logger="webapp"):
            statuses = [client.post(WEBHOOK, json=SAMPLE_LEAD, headers=headers).status_code for _ in range(3)]
        assert statuses == [201, 201, 201]  # leads keep coming in while Redis is down
        assert any("storage unreachable" in r.getMessage() for r in caplog.records)

        redis_server = start_redis(redis_port)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not probe.keys("*raam-leads*"):
            assert client.post(WEBHOOK, json=SAMPLE_LEAD, headers=headers).status_code == 201
            time.sleep(0.5)
        assert probe.keys("*raam-leads*"), "the limiter should count in Redis again once it is back"
    finally:
        stop(redis_server)


def webhook_count(config: dict):
    """A webhook request's count against `config`'s store."""
    from webapp.intake.rate_limit import WebhookLimits

    limits = WebhookLimits({**config, "WEBHOOK_RATE_LIMIT": "120 per minute", "FAILED_KEY_RATE_LIMIT": "10 per minute"})
    return limits.counts, lambda: limits.check_key("cardekho")


def sign_in_count(config: dict):
    """A sign-in attempt's count against `config`'s store."""
    from webapp.auth.sign_in_limits import SignInAttempt, SignInLimits

    limits = SignInLimits({**config, "RATELIMIT_STRATEGY": "moving-window", "LOGIN_RATE_LIMIT_PER_IP": "100 per minute",
                           "LOGIN_RATE_LIMIT_PER_ACCOUNT_AND_IP": "100 per minute",
                           "LOGIN_RATE_LIMIT_PER_ACCOUNT": "100 per minute", "LOGIN_RATE_LIMIT_PER_DEVICE": "100 per minute"})
    return limits.counts, lambda: limits.admit(SignInAttempt(account="someone", address="127.0.0.1", device=None))


@pytest.mark.parametrize("counted", [webhook_count, sign_in_count], ids=["webhook", "sign-in"])
def test_a_hung_redis_is_probed_by_one_request_at_a_time(caplog, counted):
    relay = TcpRelay(free_port(), ("127.0.0.1", 9))  # accepts and never answers: a Redis that is stuck
    relay.start()
    relay.set_mode("hang")
    counts, count = counted({"RATELIMIT_KEY_PREFIX": "raam-leads",
                             "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{relay.listen_port}/0",
                             "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 0.3, "socket_timeout": 0.3}})
    try:
        with caplog.at_level(logging.WARNING, logger="webapp.rate_limit_storage"):
            count()  # waits for the socket timeout, then counts in memory
            counts.shared_retry_at = 0  # time to try the store again, with eight requests arriving at once
            errors = []

            def request():
                try:
                    count()
                except Exception as error:  # noqa: BLE001  (a 429 or anything else fails the test below)
                    errors.append(error)

            threads = [threading.Thread(target=request) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        relay.close()
    assert errors == []  # every request counted (in memory) and let through
    unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(unreachable) == 2  # the first request, then one probe: not eight requests each waiting
