"""Real servers for tests: gunicorn serving this app, a private Redis, a TCP relay to PostgreSQL.

Every process started here is stopped by its PID when the test ends.
"""
import contextlib
import json
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.conftest import WEBHOOK, skip_or_fail

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER_READY = "Worker ready"  # gunicorn.conf.py's post_worker_init logs it


def free_port() -> int:
    """A port below the ephemeral range (32768+) that nothing listens on, so parallel runs never clash."""
    for _ in range(200):
        port = random.randrange(20000, 32000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32000")


def post_webhook(port: int, body: dict, key: str, headers: dict | None = None,
                 timeout: float = 10) -> tuple[int, float]:
    """POST `body` to a live server's webhook as CarDekho does: (status, or 0 for no answer; seconds)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{WEBHOOK}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "X-API-Key": key, "Connection": "close", **(headers or {})})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError:  # timed out or refused: the sender saw no answer
        status = 0
    return status, time.monotonic() - started


def wait_for_port(port: int, timeout: float = 60.0, process: subprocess.Popen | None = None) -> None:
    """Block until something accepts connections on 127.0.0.1:port (or `process` has exited: TimeoutError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise TimeoutError(f"the process exited with {process.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def stop(process: subprocess.Popen) -> str:
    """Stop a process we started, by its PID, and return what it wrote (again, if it was stopped already)."""
    if hasattr(process, "output"):
        return process.output
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log_file = getattr(process, "log_file", None)
    if log_file is not None:
        log_file.seek(0)
        process.output = log_file.read()
        log_file.close()
        return process.output
    return process.stdout.read() if process.stdout else ""


def run_flask(env: dict, *args: str, stdin: str | None = None) -> str:
    """`flask --app run ARGS` as an operator runs it (migrations, accounts, demo data); its output."""
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "run", *args], cwd=ROOT, env=env,
                            input=stdin, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@contextlib.contextmanager
def scratch_database(postgresql_url: str, suffix: str) -> Iterator[str]:
    """An empty PostgreSQL database of its own (the session's is emptied by other tests); its URL; dropped after."""
    import psycopg2
    import sqlalchemy as sa

    url = sa.engine.make_url(postgresql_url)
    name = f"{url.database}_{suffix}"
    admin = psycopg2.connect(dbname="postgres", user=url.username, host=url.host, port=url.port)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def start_gunicorn(port: int, env: dict, workers: int = 2, options: tuple[str, ...] = (),
                   app: str = "run:app") -> subprocess.Popen:
    """`gunicorn APP` (gunicorn.conf.py, then `options`) with `workers` workers on 127.0.0.1:port."""
    command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
               "--access-logfile", "-", "--error-logfile", "-", "--timeout", "30", *options, app]
    process = start_server("gunicorn", command, port, env)
    # The master listens before its workers have booted (the kernel queues what connects meanwhile): a test that
    # started at once would find one worker serving everything, or time a worker's boot as a request.
    wait_for_output(process, WORKER_READY, times=workers)
    return process


def wait_for_output(process: subprocess.Popen, text: str, times: int = 1, timeout: float = 60.0) -> None:
    """Until a process started by `start_server` has written `text` `times` times (its log is read without moving
    the file offset it writes at); fails with its output if it exits or takes longer than `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        output = os.pread(process.log_file.fileno(), 1 << 24, 0).decode("utf-8", "replace")
        if output.count(text) >= times:
            return
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{output.count(text)} of {times} times {text!r}:\n" + stop(process))
        time.sleep(0.05)


def start_server(what: str, command: list[str], port: int | None, env: dict) -> subprocess.Popen:
    """Run `command` from the project's folder until it accepts connections on `port` (at once for a process
    that listens on none); its output in `.log_file`."""
    # A file, not a pipe: nobody reads a pipe while the test runs, and a full pipe blocks every worker.
    log_file = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=log_file,
                               stderr=subprocess.STDOUT, text=True)
    process.log_file = log_file
    try:
        if port is not None:
            wait_for_port(port, process=process)
    except TimeoutError:
        pytest.fail(f"{what} did not start:\n" + stop(process))
    return process


def start_redis(port: int) -> subprocess.Popen:
    """A private, empty, non-persistent redis-server on 127.0.0.1:port."""
    binary = shutil.which("redis-server")
    if binary is None:
        skip_or_fail("redis-server is not installed")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    return process


class TcpRelay:
    """A TCP relay in front of a real server, so a test can cut the line or make it hang.

    `mode` is "open" (forward), "refuse" (nothing listens: a server that is down)
    or "hang" (accept and never answer: a server that is stuck). `accepted`
    counts the connections it took, so a test can tell whether anyone tried.
    """

    def __init__(self, listen_port: int, target: tuple[str, int]):
        self.listen_port, self.target = listen_port, target
        self.mode = "open"
        self.accepted = 0
        self._listener = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        """Listen and forward."""
        self._listener = socket.create_server(("127.0.0.1", self.listen_port), reuse_port=False)
        self._listener.settimeout(0.2)
        self._running = True
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def set_mode(self, mode: str) -> None:
        """Switch mode; cutting the line also drops every open connection."""
        if mode == "refuse" and self._listener is not None:
            self._close_listener()
        if mode != "open":
            self._drop_connections()
        if mode != "refuse" and self._listener is None:
            self._listener = socket.create_server(("127.0.0.1", self.listen_port))
            self._listener.settimeout(0.2)
        self.mode = mode

    def close(self) -> None:
        """Stop listening and drop everything."""
        self._running = False
        self._drop_connections()
        if self._listener is not None:
            self._close_listener()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        try:
            listener.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept()
        except OSError:
            pass
        listener.close()

    def _drop_connections(self) -> None:
        with self._lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                connection.close()
            self._connections.clear()

    def _accept_loop(self) -> None:
        while self._running:
            listener = self._listener
            if listener is None:
                time.sleep(0.05)
                continue
            try:
                client, _ = listener.accept()
            except (socket.timeout, OSError):
                continue
            with self._lock:
                self._connections.append(client)
                self.accepted += 1
            if self.mode == "open":
                try:
                    upstream = socket.create_connection(self.target, timeout=3)
                except OSError:
                    client.close()
                    continue
                with self._lock:
                    self._connections.append(upstream)
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class SlowClients:
    """Connections that send a request one byte at a time, as a slowloris attack does (loopback, bounded).

    `kinds` names what each connection trickles: "headers" (a request whose
    header never ends), "body" (a sign-in form whose body never ends) or
    "second-request" (a quick first request on a kept-alive connection, then a
    second that never ends). `ended_after[i]` is when the server closed
    connection i (None while open) and `answers[i]` the status line it sent.
    """

    STARTS = {
        "headers": b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
        "body": (b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: 100000\r\n\r\nemail="),
        "second-request": b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    }

    def __init__(self, port: int, kinds: list[str], interval: float = 0.15, duration: float = 16.0):
        self.kinds, self.interval, self.duration = kinds, interval, duration
        self.ended_after: list[float | None] = [None] * len(kinds)
        self.answers: list[str | None] = [None] * len(kinds)
        self._sockets = []
        self._started = time.monotonic()
        for kind in kinds:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(self.STARTS[kind])
            if kind == "second-request":
                self._read_first_answer(sock)
                sock.sendall(self.STARTS["headers"])
            sock.setblocking(False)
            self._sockets.append(sock)
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    @staticmethod
    def _read_first_answer(sock: socket.socket) -> None:
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536) or b"closed"
        head, body = answer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200") and b"connection: close" not in head.lower(), head
        [length] = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
        while len(body) < length:
            body += sock.recv(65536)

    def _trickle(self) -> None:
        deadline = self._started + self.duration
        while time.monotonic() < deadline and None in self.ended_after:
            for index, sock in enumerate(self._sockets):
                if self.ended_after[index] is None:
                    self._poke(index, sock)
            time.sleep(self.interval)

    def _poke(self, index: int, sock: socket.socket) -> None:
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                answer = sock.recv(65536)
                if answer:
                    self.answers[index] = answer.split(b"\r\n", 1)[0].decode(errors="replace")
                self.ended_after[index] = time.monotonic() - self._started
                return
            sock.send(b"a")
        except OSError:  # reset by the server
            self.ended_after[index] = time.monotonic() - self._started

    def wait(self) -> None:
        """Block until the server has closed every connection or `duration` has passed, then close the rest."""
        self._thread.join()
        for sock in self._sockets:
            sock.close()


PG_BIN = "/usr/lib/postgresql/15/bin"


class PrivatePostgres:
    """A throwaway PostgreSQL cluster of our own, so a test can really stop and restart a server.

    initdb refuses to run as root, so the cluster belongs to the `postgres` OS
    user and lives in a temporary directory it owns. Stopped by `pg_ctl`
    (and by PID if that fails) in `destroy()`.
    """

    def __init__(self, port: int):
        if not os.path.exists(os.path.join(PG_BIN, "initdb")) or shutil.which("runuser") is None:
            skip_or_fail(f"PostgreSQL server binaries not found in {PG_BIN}")
        self.port = port
        self.base = tempfile.mkdtemp(prefix="raam-pg-")
        self.data = os.path.join(self.base, "data")
        shutil.chown(self.base, "postgres", "postgres")
        self._as_postgres([f"{PG_BIN}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                           "--no-sync", "-E", "UTF8"])

    @property
    def url(self) -> str:
        """A URL for the `postgres` database of this cluster."""
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, command: list[str], timeout: float = 60) -> str:
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.base} "
                   "-c fsync=off -c max_connections=50")
        self._as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.data, "-o", options, "-l",
                           os.path.join(self.base, "server.log"), "-w", "-t", "30", "start"])

    def stop(self) -> None:
        """A real fast shutdown: sessions are cut, new connections refused."""
        self._as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop"])

    def pid(self) -> int | None:
        """The postmaster's PID, while it runs."""
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as file:
                return int(file.readline())
        except (FileNotFoundError, ValueError):
            return None

    def destroy(self) -> None:
        """Stop the server (by pg_ctl, else by its PID) and delete the cluster."""
        pid = self.pid()
        if pid is not None:
            try:
                self._as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"])
            except (RuntimeError, subprocess.TimeoutExpired):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        shutil.rmtree(self.base, ignore_errors=True)


def start_dev_server(port: int, env: dict) -> subprocess.Popen:
    """`python run.py` (Werkzeug's development server) on 127.0.0.1:port."""
    return start_server("the development server", [sys.executable, "run.py"], port, {**env, "PORT": str(port)})
