"""A bounded HTTP load generator for loopback only: N requests from C concurrent senders, then it stops."""
import asyncio
import statistics
import threading
import time
from dataclasses import dataclass

HOST = "127.0.0.1"  # never anything but this machine


@dataclass
class LoadResult:
    """What one bounded run measured."""

    requests: int
    seconds: float
    latencies: list[float]  # seconds, one per request
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        """The p-th percentile latency in milliseconds."""
        return percentile(self.latencies, p) * 1000


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of `values` (p in 0..100)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def median(values: list[float]) -> float:
    """The median, for rounds."""
    return statistics.median(values)


def http_request(method: str, path: str, port: int, body: bytes = b"", headers: dict | None = None) -> bytes:
    """The bytes of one HTTP/1.1 request that asks the server to close the connection after answering."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "Connection: close",
             f"Content-Length: {len(body)}", *(f"{name}: {value}" for name, value in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _send(port: int, payload: bytes, timeout: float) -> tuple[int, float, bytes]:
    started = time.perf_counter()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
    try:
        writer.write(payload)
        response = await asyncio.wait_for(reader.read(), timeout)  # the server closes when done
    finally:
        writer.close()
    return int(response[9:12] or 0), time.perf_counter() - started, response


async def _run(port: int, requests: list[bytes], concurrency: int, timeout: float, deadline: float):
    latencies, statuses = [], {}
    queue = iter(requests)

    async def sender():
        for payload in queue:
            if time.monotonic() > deadline:
                return
            try:
                status, seconds, _ = await _send(port, payload, timeout)
            except (OSError, asyncio.TimeoutError):
                status, seconds = 0, timeout
            latencies.append(seconds)
            statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return LoadResult(len(latencies), time.perf_counter() - started, latencies, statuses)


def run_load(port: int, requests: list[bytes], concurrency: int, timeout: float = 10.0,
             max_seconds: float = 120.0) -> LoadResult:
    """Send every request in `requests` with `concurrency` senders; stop when all are sent or at the deadline."""
    return _in_own_loop(lambda: _run(port, requests, concurrency, timeout, time.monotonic() + max_seconds))


def fetch(port: int, payload: bytes, timeout: float = 60.0) -> tuple[int, float, bytes]:
    """One request: (status, seconds, whole response)."""
    return _in_own_loop(lambda: _send(port, payload, timeout))


def _in_own_loop(make_coroutine):
    """asyncio.run in a thread of its own, so a caller that already runs an event loop can use it too."""
    outcome = {}

    def target():
        try:
            outcome["value"] = asyncio.run(make_coroutine())
        except BaseException as error:  # noqa: BLE001  (re-raised in the caller's thread)
            outcome["error"] = error

    thread = threading.Thread(target=target, name="bench-load")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
