"""wrk, the webhook benchmark's load generator: found (or installed), run for a bounded time, its result read.

wrk is C with one event loop per thread: it drives 32 connections with a few per cent of a core, so the
servers' own CPU decides the numbers (a Python client took CPU from both sides and flattened the ratios).
Connections are kept alive, as a proxy in front of the app keeps them.
"""
import json
import os
import shutil
import subprocess
from dataclasses import dataclass

from tests.servers import ROOT

SCRIPT = os.path.join(ROOT, "bench", "webhook.lua")
INSTALLER = os.path.join(ROOT, "scripts", "install-wrk")
WEBHOOK = "/admin/mg-digital-leads/source/cardekho"
# One event loop keeps up with 32 connections at these rates; a second wrk thread would only take a core's
# share from the servers being measured.
THREADS = 1
TIMEOUT = "10s"  # CarDekho's own: an answer later than this is a socket error (timeout), not a latency


@dataclass
class WrkRun:
    """What one wrk run measured: every answer counted by status, socket errors apart."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    socket_errors: dict[str, int]

    @property
    def rate(self) -> float:
        """Answers per second."""
        return self.requests / self.seconds


def ensure_wrk() -> str | None:
    """The wrk executable, installing Debian's package (scripts/install-wrk, as root) when it is missing."""
    if shutil.which("wrk") is None:
        subprocess.run(["bash", INSTALLER], check=False)
    return shutil.which("wrk")


def run_wrk(port: int, key: str, connections: int, seconds: int, pause_ms: int = 0) -> WrkRun:
    """POST distinct leads to 127.0.0.1:port's webhook from `connections` connections for `seconds` seconds, each
    as fast as it is answered, or pausing about `pause_ms` after each answer."""
    binary = ensure_wrk()
    if binary is None:
        raise RuntimeError("wrk is not installed: run 'sudo apt-get install wrk' (make bench does it as root)")
    command = [binary, "-t", str(THREADS), "-c", str(connections), "-d", f"{seconds}s", "--timeout", TIMEOUT,
               "-s", SCRIPT, f"http://127.0.0.1:{port}{WEBHOOK}", "--", key, str(pause_ms)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 60)
    line = next((line for line in done.stdout.splitlines() if line.startswith("BENCH_RESULT ")), None)
    if done.returncode or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    result = json.loads(line.removeprefix("BENCH_RESULT "))
    return WrkRun(requests=result["requests"], seconds=result["duration_us"] / 1e6,
                  p50_ms=result["p50_us"] / 1000, p99_ms=result["p99_us"] / 1000,
                  statuses={int(status): count for status, count in result["statuses"].items()},
                  socket_errors={name: count for name, count in result["socket_errors"].items() if count})
