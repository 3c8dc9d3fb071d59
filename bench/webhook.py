"""Benchmark 1: the real webhook against the minimal endpoint (and the minimal endpoint against itself on a
table without the dashboard indexes), taking turns, at 1, 8 and 32 senders."""
import json
import os

from bench.load import http_request, median, run_load
from bench.servers import Gunicorn
from webapp.leads.demo import demo_rows

WEBHOOK = "/admin/mg-digital-leads/source/cardekho"


def lead_requests(port: int, key: str, count: int) -> list[bytes]:
    """`count` webhook requests with varied, realistic bodies (cycled from 200 demo leads)."""
    bodies = [json.dumps(row[-2]).encode() for row in demo_rows(200, seed=5)]
    headers = {"Content-Type": "application/json", "X-API-Key": key}
    prepared = [http_request("POST", WEBHOOK, port, body, headers) for body in bodies]
    return [prepared[i % len(prepared)] for i in range(count)]


def compare(servers: list[tuple[str, Gunicorn]], key: str, senders: tuple[int, ...], requests: int,
            rounds: int) -> list[dict]:
    """Each server in turn (the order rotating every round) at each concurrency.

    Per server: the median of the rounds' req/s, p50 and p99 of all its requests, and its statuses.
    """
    results = []
    for concurrency in senders:
        runs = {name: [] for name, _ in servers}
        for round_number in range(rounds):
            turn = round_number % len(servers)
            for name, server in servers[turn:] + servers[:turn]:
                # Warm every worker (imports, phone metadata, Redis scripts, connections), not just the fastest.
                run_load(server.port, lead_requests(server.port, key, max(100, requests // 10)), max(8, concurrency))
                runs[name].append(run_load(server.port, lead_requests(server.port, key, requests), concurrency))
        row = {"senders": concurrency}
        for name, measured in runs.items():
            latencies = [seconds for run in measured for seconds in run.latencies]
            statuses = {}
            for run in measured:
                for status, count in run.statuses.items():
                    statuses[status] = statuses.get(status, 0) + count
            row[name] = {"rate": median([run.rate for run in measured]),
                         "p50": _ms(latencies, 50), "p99": _ms(latencies, 99), "statuses": statuses}
        results.append(row)
    return results


def _ms(latencies: list[float], p: float) -> float:
    from bench.load import percentile

    return percentile(latencies, p) * 1000


def worker_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def cpu_per_request(servers: list[tuple[str, Gunicorn]], key: str, requests: int, rounds: int) -> dict[str, float]:
    """Median worker CPU milliseconds per request for each server at 8 senders, taking turns."""
    measured = {name: [] for name, _ in servers}
    for round_number in range(rounds):
        turn = round_number % len(servers)
        for name, server in servers[turn:] + servers[:turn]:
            run_load(server.port, lead_requests(server.port, key, 100), 8)
            pids = server.worker_pids()
            before = worker_cpu_seconds(pids)
            done = run_load(server.port, lead_requests(server.port, key, requests), 8)
            measured[name].append((worker_cpu_seconds(pids) - before) / done.requests * 1000)
    return {name: median(values) for name, values in measured.items()}
