"""gunicorn_worker.WholeRequestWorker: a worker whose threads are all busy leaves new connections to the others.

Real gunicorn with the production gunicorn.conf.py (2 workers of 2 threads) serving
tests/pid_app.py, which holds each request a while and answers its worker's pid.
"""
import socket
import time
from collections import Counter

import pytest

from tests.servers import free_port, start_gunicorn, stop

WORKERS, THREADS = 2, 2


@pytest.fixture(scope="module")
def server():
    port = free_port()
    process = start_gunicorn(port, {"GUNICORN_THREADS": str(THREADS)}, workers=WORKERS, app="tests.pid_app:app")
    try:
        yield port
    finally:
        stop(process)


def _open_and_ask(port: int, hold_seconds: float) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"GET /?{hold_seconds} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return sock


def _pid_answered(sock: socket.socket) -> int:
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.split(b"\r\n\r\n", 1)[1]:  # the pid is one short write
        chunk = sock.recv(4096)
        assert chunk, answer
        answer += chunk
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200"), head
    return int(body)


@pytest.mark.parametrize("attempt", range(3))
def test_connections_opened_one_after_another_are_spread_over_the_workers(server, attempt):
    # Four clients connect 50 ms apart, each request held 1.5 s: the first worker to fill its two threads stops
    # accepting, so each worker serves two at once (plain gthread lets one worker take three or four, and the
    # extra ones wait for a thread while the other worker has one free).
    clients = []
    for _ in range(WORKERS * THREADS):
        clients.append(_open_and_ask(server, 1.5))
        time.sleep(0.05)
    try:
        pids = Counter(_pid_answered(sock) for sock in clients)
    finally:
        for sock in clients:
            sock.close()
    assert sorted(pids.values()) == [THREADS] * WORKERS, pids


def test_a_kept_alive_connection_stays_served_when_every_thread_is_busy(server):
    # Both workers full (two held requests each); a fifth client is accepted as soon as a thread is free.
    clients = [_open_and_ask(server, 1.0) for _ in range(WORKERS * THREADS)]
    time.sleep(0.2)
    late = _open_and_ask(server, 0)
    try:
        assert _pid_answered(late) > 0
        assert len({_pid_answered(sock) for sock in clients}) == WORKERS
    finally:
        for sock in clients + [late]:
            sock.close()
