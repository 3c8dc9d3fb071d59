"""Slow clients cannot take the threads CarDekho's leads need.

Real gunicorn with the production gunicorn.conf.py (one worker of 4 threads)
on a real PostgreSQL database, and raw sockets that send their requests one
byte every 0.15 s, as a slowloris attack does.
"""
import json
import socket
import time

import pytest

from config import GUIDE_API_KEY
from gunicorn_worker import REQUEST_ARRIVAL_SECONDS
from tests.conftest import SAMPLE_LEAD, WEBHOOK, migrate_database
from tests.servers import SlowClients, free_port, post_webhook, scratch_database, start_gunicorn, stop

THREADS = 4


@pytest.fixture(scope="module")
def server(postgresql_url, tmp_path_factory):
    with scratch_database(postgresql_url, "slow") as database_url:
        migrate_database(database_url)
        env = {"APP_ENV": "production", "SECRET_KEY": "slow-clients-test-" + "x" * 32,
               "CARDEKHO_API_KEYS": GUIDE_API_KEY, "DATABASE_URL": database_url,
               "RATELIMIT_STORAGE_URI": "memory://", "GUNICORN_THREADS": str(THREADS),
               "WEBHOOK_RATE_LIMIT": "1000 per minute", "SPOOL_DIR": str(tmp_path_factory.mktemp("spool"))}
        port = free_port()
        process = start_gunicorn(port, env, workers=1)
        try:
            yield port
        finally:
            stop(process)


def _exchange(port: int, raw: bytes, pause_after: bytes | None = None) -> list[str]:
    """Send `raw` (waiting after `pause_after` for an interim answer before the rest); every status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        if pause_after is not None:
            head, rest = raw.split(pause_after, 1)
            sock.sendall(head + pause_after)
            interim = sock.recv(65536)
            sock.sendall(rest)
        else:
            interim = b""
            sock.sendall(raw)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:  # a rejected request may be cut after its answer
            pass
    return [line.decode() for line in (interim + answer).split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]


def _webhook_post(body: bytes, *headers: str, close: bool = True) -> bytes:
    lines = [f"POST {WEBHOOK} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             f"X-API-Key: {GUIDE_API_KEY}", *headers]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_slow_clients_holding_more_connections_than_threads_never_delay_a_lead(server):
    # 9 connections trickling against 4 threads; the kept-alive ones get their quick first answer while threads are free.
    kinds = ["second-request"] * 3 + ["headers"] * 3 + ["body"] * 3
    slow = SlowClients(server, kinds, interval=0.15, duration=REQUEST_ARRIVAL_SECONDS + 8)
    try:
        time.sleep(1)  # every slow request has started arriving
        status, seconds = post_webhook(server, SAMPLE_LEAD, GUIDE_API_KEY, timeout=10)
        assert status == 201 and seconds < 5  # waiting behind the slow ones would take 10 s
    finally:
        slow.wait()
    # Each slow request is cut once it has been arriving for the allowed time, with an answer saying why.
    assert all(ended is not None and ended >= REQUEST_ARRIVAL_SECONDS - 0.5 for ended in slow.ended_after), \
        slow.ended_after
    assert slow.answers == ["HTTP/1.1 408 Request Timeout"] * len(kinds), slow.answers


def test_requests_that_arrive_whole_are_answered_as_before(server):
    lead = json.dumps(SAMPLE_LEAD).encode()
    # Plain, and with `Expect: 100-continue`: the body is sent only after the interim answer.
    assert _exchange(server, _webhook_post(lead, f"Content-Length: {len(lead)}")) == ["HTTP/1.1 201 CREATED"]
    assert _exchange(server, _webhook_post(lead, f"Content-Length: {len(lead)}", "Expect: 100-continue"),
                     pause_after=b"\r\n\r\n")[-1] == "HTTP/1.1 201 CREATED"
    # Chunked, in two chunks.
    chunked = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, lead[:10], len(lead) - 10, lead[10:])
    assert _exchange(server, _webhook_post(chunked, "Transfer-Encoding: chunked")) == ["HTTP/1.1 201 CREATED"]
    # Two requests on one kept-alive connection, the second sent in two parts.
    first = _webhook_post(lead, f"Content-Length: {len(lead)}", close=False)
    second = _webhook_post(lead, f"Content-Length: {len(lead)}")
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        sock.sendall(first + second[:40])
        time.sleep(0.5)
        sock.sendall(second[40:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.count(b"HTTP/1.1 201 CREATED") == 2


def test_oversized_requests_get_their_4xx_not_a_wait(server):
    too_big = b"{" + b" " * (300 * 1024) + b"}"
    [status] = _exchange(server, _webhook_post(too_big, f"Content-Length: {len(too_big)}"))
    assert status == "HTTP/1.1 413 REQUEST ENTITY TOO LARGE"
    huge_head = "X-Padding: " + "p" * 8000
    statuses = _exchange(server, _webhook_post(b"{}", "Content-Length: 2", *[huge_head] * 101))
    assert statuses and statuses[0].startswith("HTTP/1.1 4"), statuses
