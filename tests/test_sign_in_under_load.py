"""Sign-in under real concurrency: gunicorn's threaded workers, a private Redis, parallel browsers."""
import http.client
import json
import re
import threading
import time
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from config import GUIDE_API_KEY
from tests.conftest import TEST_PASSWORD, make_app, migrate_database
from tests.servers import free_port, run_flask, start_gunicorn, start_redis, stop

MIB = 1024 * 1024
SCRYPT_MIB = 128  # N=2^17, r=8: what one password check holds while it runs


@pytest.fixture
def private_redis():
    """A redis-server of this test's own, shared by its gunicorn workers."""
    port = free_port()
    server = start_redis(port)
    yield f"redis://127.0.0.1:{port}/0"
    stop(server)


@pytest.fixture
def server_env(tmp_path):
    """Production settings on a SQLite file of this test's own (gunicorn's rows outlive the app fixture)."""
    url = f"sqlite:///{tmp_path}/leads.db"
    migrate_database(url)
    return {"APP_ENV": "production", "SECRET_KEY": "sign-in-load-" + "x" * 32, "CARDEKHO_API_KEYS": GUIDE_API_KEY,
            "DATABASE_URL": url, "SPOOL_DIR": str(tmp_path / "spool"), "SPOOL_DRAIN_INTERVAL": "0"}


class Browser:
    """One browser: its cookies and the sign-in form's CSRF token, shared by the requests it sends."""

    def __init__(self, port: int):
        self.port = port
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("GET", "/login")
        response = connection.getresponse()
        page = response.read().decode()
        self.cookie = response.getheader("Set-Cookie").split(";", 1)[0]
        self.token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)

    def sign_in(self, email: str, password: str, content_type: str = "application/x-www-form-urlencoded") -> int:
        """POST the sign-in form (or, with another content type, the same fields as JSON); the status."""
        fields = {"email": email, "password": password, "csrf_token": self.token}
        body = urlencode(fields) if content_type.endswith("urlencoded") else json.dumps(fields)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        connection.request("POST", "/login", body=body, headers={
            "Content-Type": content_type, "Cookie": self.cookie, "X-CSRFToken": self.token})
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status


def in_parallel(count: int, attempt) -> list[int]:
    """Run `attempt(i)` in `count` threads released at the same moment; their results in order."""
    results = [0] * count
    start = threading.Barrier(count)

    def run(index: int) -> None:
        start.wait()
        results[index] = attempt(index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    return results


def failed_sign_ins(url: str) -> int:
    """The audit record's count of password checks that failed."""
    from webapp.audit import AuditEvent
    from webapp.database import dispose_engines
    from webapp.extensions import db

    app = make_app(url)
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "sign_in_failed"))
        dispose_engines()
    return count


def test_parallel_wrong_passwords_get_no_more_password_checks_than_the_limit(server_env, private_redis):
    env = {**server_env, "RATELIMIT_STORAGE_URI": private_redis, "GUNICORN_THREADS": "8",
           "PASSWORD_HASH_WAIT_SECONDS": "60"}  # every admitted attempt gets its check, however slow the machine
    run_flask({**env}, "users", "create", "asha@raam.example", "--name", "Asha", "--role", "sales",
              stdin=TEST_PASSWORD + "\n")
    port = free_port()
    server = start_gunicorn(port, env, workers=2)
    try:
        attacker = Browser(port)
        statuses = in_parallel(24, lambda _: attacker.sign_in("asha@raam.example", "not the password"))
        as_json = attacker.sign_in("asha@raam.example", TEST_PASSWORD, content_type="application/json")
    finally:
        log = stop(server)
    assert sorted(statuses) == [200] * 5 + [429] * 19, log  # 5 per account and address in 15 minutes
    assert failed_sign_ins(server_env["DATABASE_URL"]) == 5
    assert as_json == 415  # the same fields as JSON are no way around the form's limits


def _worker_pid(master_pid: int) -> int:
    # The master listens before it forks its worker: on a busy machine the worker may not exist yet.
    deadline = time.monotonic() + 30
    while True:
        with open(f"/proc/{master_pid}/task/{master_pid}/children") as children:
            pids = children.read().split()
        if pids or time.monotonic() > deadline:
            [pid] = pids
            return int(pid)
        time.sleep(0.05)


def _memory_kib(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/status") as status:
        lines = [line.split(":", 1) for line in status]
    return {name: int(value.split()[0]) for name, value in lines if name in ("VmRSS", "VmHWM")}


def test_parallel_sign_ins_hash_no_more_passwords_at_once_than_the_cap(server_env):
    cap = 2
    env = {**server_env, "GUNICORN_THREADS": "8", "PASSWORD_HASHES_PER_WORKER": str(cap),
           "PASSWORD_HASH_WAIT_SECONDS": "60"}
    port = free_port()
    server = start_gunicorn(port, env, workers=1)
    try:
        worker = _worker_pid(server.pid)
        browser = Browser(port)
        assert browser.sign_in("warm-up@raam.example", "not the password") == 200
        with open(f"/proc/{worker}/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # the peak (VmHWM) starts again from the current RSS
        before = _memory_kib(worker)["VmRSS"]
        statuses = in_parallel(8, lambda i: browser.sign_in(f"nobody{i}@raam.example", "not the password"))
        peak = _memory_kib(worker)["VmHWM"]
    finally:
        log = stop(server)
    assert statuses == [200] * 8, log  # every unknown email got its (dummy) check and the usual answer
    grown_mib = (peak - before) * 1024 / MIB
    print(f"8 parallel sign-ins, cap {cap}: worker RSS {before / 1024:.0f} MiB -> peak {peak / 1024:.0f} MiB "
          f"(+{grown_mib:.0f} MiB)")
    assert grown_mib < (cap + 1) * SCRYPT_MIB  # cap x 128 MiB, and less than one more check's worth on top


def test_sign_ins_are_counted_in_redis_and_still_work_while_it_is_down(tmp_path, caplog):
    import logging

    import redis

    from tests.conftest import AuthActions
    from webapp.auth.accounts import create_user
    from webapp.database import dispose_engines

    url = f"sqlite:///{tmp_path}/leads.db"
    migrate_database(url)
    redis_port = free_port()
    redis_server = start_redis(redis_port)
    app = make_app(url, RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{redis_port}/0")
    with app.app_context():
        create_user("asha@raam.example", "Asha", "sales", TEST_PASSWORD)
    try:
        first = AuthActions(app.test_client(), None)
        assert first.login().status_code == 302
        assert redis.Redis(port=redis_port).keys("*login-account*"), "the attempt should be counted in Redis"
        stop(redis_server)
        with caplog.at_level(logging.WARNING, logger="webapp"):
            assert AuthActions(app.test_client(), None).login().status_code == 302  # not a 500
        assert any("counting sign-ins in this worker's memory" in r.getMessage() for r in caplog.records)
    finally:
        stop(redis_server)
        with app.app_context():
            dispose_engines()
