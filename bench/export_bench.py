"""Benchmark 3: the CSV export of every lead against `psql \\copy` of the same columns, same run."""
import http.client
import json
import os
import statistics
import subprocess
import sys
import time

from bench.servers import memory_kib
from tests.servers import ROOT
from webapp.leads.export import EXPORT_COLUMNS

EXPORT_PATH = "/admin/mg-digital-leads/export.csv"


def raw_select(ordered: bool = True) -> str:
    """The export's columns as stored, newest first (or in table order)."""
    columns = ", ".join(column.key for _, column in EXPORT_COLUMNS)
    order = " ORDER BY created_at DESC, id DESC" if ordered else ""
    owners = "LEFT JOIN (SELECT id AS owner_key, name AS owner_name FROM users) owners ON owner_id = owner_key"
    return f'SELECT {columns} FROM "mg-digital-leads" {owners}{order}'


def psql_copy(dsn: str, command: str, out_path: str) -> float:
    """Seconds for `psql -c COMMAND` writing its COPY output to `out_path` (which is removed after)."""
    started = time.perf_counter()
    with open(out_path, "wb") as out:
        subprocess.run(["psql", "-X", "-q", "-d", dsn, "-c", command], stdout=out, check=True)
    seconds = time.perf_counter() - started
    os.remove(out_path)
    return seconds


def in_process(env: dict, date_from: str | None = None) -> dict:
    """One export in a fresh Python process (no HTTP): rows, seconds, peak memory above its baseline."""
    args = [sys.executable, "-m", "bench.export_probe"] + ([date_from] if date_from else [])
    done = subprocess.run(args, cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def over_http(port: int, worker_pid: int, cookie: str, query: str = "") -> dict:
    """One signed-in export download through a one-worker gunicorn: rows, seconds, the worker's peak memory."""
    with open(f"/proc/{worker_pid}/clear_refs", "w") as refs:
        refs.write("5")  # the worker's peak so far is forgotten: measure this export alone
    baseline = memory_kib(worker_pid)["VmRSS"]
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request("GET", f"{EXPORT_PATH}?{query}", headers={"Cookie": cookie})
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"export failed: HTTP {response.status}")
    lines, size = 0, 0
    while data := response.read(1 << 20):
        size += len(data)
        lines += data.count(b"\n")
    seconds = time.perf_counter() - started
    connection.close()
    peak = memory_kib(worker_pid)["VmHWM"]
    return {"rows": lines - 1, "bytes": size, "seconds": seconds,  # less the header row
            "baseline_mib": baseline / 1024, "peak_above_mib": (peak - baseline) / 1024}


def taking_turns(dsn: str, statement: str, download, out_path: str, rounds: int) -> dict:
    """psql of the same columns newest first, our export (`download()`), psql of our own COPY statement:
    in turns, `rounds` times; median seconds of each, and our export's largest peak memory."""
    seconds = {"psql": [], "ours": [], "psql_ours": []}
    peaks, rows = [], 0
    for _ in range(rounds):
        seconds["psql"].append(psql_copy(dsn, f"\\copy ({raw_select()}) to stdout with csv", out_path))
        result = download()
        seconds["ours"].append(result["seconds"])
        peaks.append(result["peak_above_mib"])
        rows = result["rows"]
        seconds["psql_ours"].append(psql_copy(dsn, statement, out_path))
    return {**{name: statistics.median(values) for name, values in seconds.items()}, "rows": rows,
            "peak_above_mib": max(peaks)}
