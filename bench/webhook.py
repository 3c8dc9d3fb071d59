"""Benchmark 1: the real webhook against the minimal endpoint (and the minimal endpoint against itself on a
table without the dashboard indexes), taking turns, at 1, 8 and 32 senders."""
import json

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
