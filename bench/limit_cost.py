"""What one webhook rate-limit check costs the worker, per strategy of `limits`, against a real Redis.

    .venv/bin/python -m bench.limit_cost            # 2000 hits per strategy, 3 rounds taking turns

Each strategy counts one key as `WebhookLimits` does (one `hit` per request) on
a private redis-server (stopped at the end), in two cases: a limit never
reached (the benchmark's, and CarDekho's everyday traffic) and the guide's
120/minute with the key over it (a flood). The figures per hit: the process CPU
time (user + system, `time.process_time`), which is what a gunicorn worker
pays; Redis's own CPU time (its INFO), which the same cores pay; the wall time.
"""
import argparse
import statistics
import time

import redis
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import STRATEGIES

from tests.servers import free_port, start_redis, stop

CASES = {"never reached": "1000000 per minute", "over 120/minute": "120 per minute"}


def redis_cpu_seconds(client: redis.Redis) -> float:
    """The redis-server's user + system CPU time so far."""
    info = client.info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def cost_per_hit(strategy: str, limit: str, port: int, hits: int) -> tuple[float, float, float]:
    """(worker CPU ms, Redis CPU ms, wall ms) per hit of `strategy`, after a warm-up that loads its script."""
    limiter = STRATEGIES[strategy](storage_from_string(f"redis://127.0.0.1:{port}/0"))
    item, server = parse(limit), redis.Redis(port=port)
    key = f"apikey:bench-{strategy}-{time.time_ns()}"
    for _ in range(150):  # past 120: the over-limit case starts over its limit
        limiter.hit(item, "raam-leads", key)
    cpu, wall, redis_cpu = time.process_time(), time.perf_counter(), redis_cpu_seconds(server)
    for _ in range(hits):
        limiter.hit(item, "raam-leads", key)
    return ((time.process_time() - cpu) * 1000 / hits, (redis_cpu_seconds(server) - redis_cpu) * 1000 / hits,
            (time.perf_counter() - wall) * 1000 / hits)


def main() -> None:
    """Measure each strategy in turns and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hits", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    server = start_redis(port)
    try:
        results = {(case, name): [] for case in CASES for name in STRATEGIES}
        for round_number in range(args.rounds):
            for case, limit in CASES.items():
                names = list(STRATEGIES)
                for name in names[round_number % len(names):] + names[:round_number % len(names)]:
                    results[case, name].append(cost_per_hit(name, limit, port, args.hits))
    finally:
        stop(server)
    print(f"| limit | strategy | worker CPU ms / hit | Redis CPU ms / hit | wall ms / hit | worker CPU of the "
          f"{args.rounds} rounds |")
    print("|---|---|---|---|---|---|")
    for (case, name), runs in results.items():
        worker, server_cpu, wall = (statistics.median(run[i] for run in runs) for i in range(3))
        print(f"| {case} | {name} | {worker:.3f} | {server_cpu:.3f} | {wall:.3f} | "
              f"{', '.join(f'{run[0]:.3f}' for run in runs)} |")

if __name__ == "__main__":
    main()
