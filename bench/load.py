"""One HTTP request at a time over loopback, timed: the dashboard benchmarks' client (the webhook's is wrk)."""
import asyncio
import threading
import time

HOST = "127.0.0.1"  # never anything but this machine


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of `values` (p in 0..100)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


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
