"""A manager's CSV download over a slow line outlives gunicorn's worker timeout.

Real gunicorn with the production gunicorn.conf.py, a real PostgreSQL database
of 50,000 leads (a CSV of about 10 MB, more than loopback's socket buffers hold)
and a reader that stops reading for longer than the worker timeout, as a phone
on a weak signal does.
"""
import csv
import http.client
import http.cookiejar
import io
import os
import time
import urllib.parse
import urllib.request

import pytest

from config import GUIDE_API_KEY
from tests.conftest import SAMPLE_LEAD, csrf_token_in
from tests.servers import free_port, post_webhook, run_flask, scratch_database, start_gunicorn, stop

LEADS = 50_000
EXPORT = "/admin/mg-digital-leads/export.csv"
PASSWORD = "slow-line-manager-2026"
WORKER_TIMEOUT = 4  # seconds (gthread beats about once a second: room for a stall); the reader pauses 2.5× this
EXPORTS_PER_WORKER = 2  # of gunicorn.conf.py's 4 threads per worker


@pytest.fixture(scope="module")
def server_with_leads(postgresql_url):
    with scratch_database(postgresql_url, "download") as database_url:
        env = {**os.environ, "APP_ENV": "development", "SECRET_KEY": "slow-download-test-secret",
               "DATABASE_URL": database_url, "RATELIMIT_STORAGE_URI": "memory://", "CARDEKHO_API_KEYS": GUIDE_API_KEY,
               "EXPORTS_PER_WORKER": str(EXPORTS_PER_WORKER)}
        run_flask(env, "db", "upgrade")
        run_flask(env, "leads", "seed-demo", str(LEADS))
        run_flask(env, "users", "create", "manager@raam.example", "--name", "Manager", "--role", "manager",
                  stdin=f"{PASSWORD}\n{PASSWORD}\n")
        port = free_port()
        server = start_gunicorn(port, env, workers=1, options=("--timeout", str(WORKER_TIMEOUT)))
        try:
            yield port
        finally:
            stop(server)


def _signed_in_cookie(port: int) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"
    token = csrf_token_in(opener.open(base + "/login", timeout=10).read().decode())
    form = urllib.parse.urlencode({"email": "manager@raam.example", "password": PASSWORD, "csrf_token": token})
    opener.open(base + "/login", data=form.encode(), timeout=10)
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


def _start_export(port: int, cookie: str) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", EXPORT, headers={"Cookie": cookie})
    return connection, connection.getresponse()


def test_a_slow_reader_gets_the_whole_csv_after_pausing_longer_than_the_worker_timeout(server_with_leads):
    cookie = _signed_in_cookie(server_with_leads)
    connection, response = _start_export(server_with_leads, cookie)
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/csv")
    first = response.read(64 * 1024)
    time.sleep(WORKER_TIMEOUT * 2.5)  # the worker is stuck writing into full socket buffers meanwhile
    rest = response.read()
    connection.close()
    assert len(first + rest) > 8_000_000  # more than the socket buffers: the worker really had to wait
    rows = list(csv.reader(io.StringIO((first + rest).decode("utf-8-sig"))))
    assert rows[0][0] == "Lead ID" and len(rows) == LEADS + 1  # the header and every lead, nothing cut


def test_stalled_downloads_never_take_the_threads_cardekho_needs(server_with_leads):
    cookie = _signed_in_cookie(server_with_leads)
    stalled = [_start_export(server_with_leads, cookie) for _ in range(EXPORTS_PER_WORKER)]
    try:
        for _, response in stalled:
            assert response.status == 200
            response.read(64 * 1024)  # then the phones stop reading: their threads wait on full buffers
        connection, refused = _start_export(server_with_leads, cookie)
        assert refused.status == 503 and "try again in a minute" in refused.read().decode()
        connection.close()
        status, _ = post_webhook(server_with_leads, SAMPLE_LEAD, GUIDE_API_KEY, timeout=10)
        assert status == 201  # answered inside CarDekho's 10 s while both downloads are stuck
    finally:
        for connection, _ in stalled:
            connection.close()
    # The closed downloads give their slots back once the server notices the readers are gone.
    deadline = time.monotonic() + 20
    while True:
        connection, response = _start_export(server_with_leads, cookie)
        connection.close()
        if response.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert response.status == 200
