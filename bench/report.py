"""RESULTS.md: the machine, the date, a table per benchmark, and each target met or missed (by how much)."""
import os
import platform
import sqlite3
import subprocess
from datetime import UTC, datetime


def machine(dsn: str) -> str:
    """One paragraph on where the numbers come from."""
    with open("/proc/cpuinfo") as cpuinfo:
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    with open("/proc/meminfo") as meminfo:
        memory = int(next(line.split()[1] for line in meminfo if line.startswith("MemTotal"))) / 1024 / 1024
    postgres = subprocess.run(["psql", "-X", "-A", "-t", "-d", dsn, "-c", "SHOW server_version"],
                              capture_output=True, text=True).stdout.strip()
    redis = subprocess.run(["redis-cli", "-h", "127.0.0.1", "INFO", "server"], capture_output=True,
                           text=True).stdout
    redis_version = next((line.split(":")[1].strip() for line in redis.splitlines()
                          if line.startswith("redis_version")), "?")
    return (f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB RAM, Linux {platform.release()}; "
            f"Python {platform.python_version()}, PostgreSQL {postgres} (default settings: shared_buffers "
            f"128MB, work_mem 4MB), SQLite {sqlite3.sqlite_version}, Redis {redis_version}. Shared and noisy: "
            "every figure is compared with a baseline measured in the same run.")


def load_average() -> float:
    """The machine's 1-minute load average: how much else was running beside a benchmark."""
    with open("/proc/loadavg") as loadavg:
        return float(loadavg.read().split()[0])


def table(headers: list[str], rows: list[list]) -> str:
    """A Markdown table; floats get sensible precision."""
    def cell(value):
        if isinstance(value, float):
            return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
        return f"{value:,}" if isinstance(value, int) else str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    """Met or missed, visibly."""
    return "met" if ok else "**missed**"


def now() -> str:
    """The time of a run, as RESULTS.md states it."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def header(minutes: float, sizes: str, machine_text: str, command: str = "make bench") -> str:
    """The top of RESULTS.md."""
    return (f"# Benchmark results\n\nProduced by `{command}` on {now()} in {minutes:.1f} minutes "
            f"({sizes}).\n\n**Machine:** {machine_text}\n")


def top_frames(raw_path: str, count: int = 18) -> str:
    """The heaviest frames (inclusive share of samples) of a py-spy raw profile, as a Markdown table."""
    inclusive, total = {}, 0
    with open(raw_path) as profile:
        for stack, samples in _samples(profile):
            total += samples
            for frame in set(stack.split(";")):
                inclusive[frame] = inclusive.get(frame, 0) + samples
    skip = ("gunicorn/", "<frozen", "flask/app.py", "runpy", "_run_module", "<module>")
    frames = [(frame, n) for frame, n in sorted(inclusive.items(), key=lambda item: -item[1])
              if not frame.startswith("process ") and not any(part in frame for part in skip)][:count]
    return table(["share of worker CPU (GIL held)", "frame"],
                 [[f"{n / max(total, 1) * 100:.1f}%", f"`{frame}`"] for frame, n in frames])


# (category, a substring of a frame that puts a sample in it); the first match wins, most specific first.
PROFILE_CATEGORIES = (
    ("storing: the lead and its intake-log row", "receive_lead"),
    ("storing: the lead and its intake-log row", "insert_lead"),
    ("spool drainer nudge", "drain.py"),
    ("validating the body", "submission.py"),
    ("API keys (check, last use)", "keyring.py"),
    ("request log and request id", "request_log"),
    ("request log and request id", "request_ids"),
    ("the answer (IntakeOutcome)", "outcome.py"),
    ("security headers", "webapp/security"),
    ("session cookie (Flask)", "sessions.py"),
    ("rate limit: one Redis call (webapp/intake/rate_limit.py)", "rate_limit.py"),
    ("Flask-Limiter's hooks (they skip the webhook)", "flask_limiter/"),
)


def profile_categories(raw_path: str) -> dict[str, float]:
    """Share of a py-spy raw profile's samples per PROFILE_CATEGORIES entry, plus Flask and gunicorn."""
    shares, total = {}, 0
    with open(raw_path) as profile:
        for stack, samples in _samples(profile):
            total += samples
            name = next((name for name, part in PROFILE_CATEGORIES if part in stack), None)
            name = name or ("Flask and Werkzeug (request, routing, response)" if "Flask.__call__" in stack
                            else "gunicorn (accept, parse, write)")
            shares[name] = shares.get(name, 0) + samples
    return {name: count / max(total, 1) for name, count in sorted(shares.items(), key=lambda item: -item[1])}


def _samples(profile):
    """(stack, count) per line of a py-spy raw profile; a frame's text may hold a line break: skip the pieces."""
    for line in profile:
        stack, _, count = line.rstrip().rpartition(" ")
        if count.isdigit() and stack.startswith("process "):
            yield stack, int(count)
