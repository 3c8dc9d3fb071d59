#!/usr/bin/env python3
"""A bounded load test on loopback: gunicorn (gunicorn.conf.py, 4 workers) + Redis + PostgreSQL.

    .venv/bin/python scripts/load_test.py                  # 50 senders x 4 requests, the guide's 120/minute
    .venv/bin/python scripts/load_test.py --json           # the report as JSON (the tests read it)

It starts a private redis-server, creates a throwaway database on the local
PostgreSQL (`--admin-url`), serves the app with gunicorn, and has N concurrent
senders post a fixed number of leads each, every request with a 10 s timeout.
It then checks, and exits 1 unless:
  - no request failed: every answer is 201 or 429, none is 5xx or timed out;
  - the limit is shared across workers: exactly as many 201s as the limit allows
    (with per-worker counting, 4 workers would let through 4 times as many);
  - every 201 is a row: each 201's request id has an intake-log row with a lead.
Everything it started is stopped by PID and the database dropped. Traffic goes
only to 127.0.0.1; the number of requests is fixed.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import psycopg2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tests.servers import free_port, post_webhook, start_gunicorn, start_redis, stop  # noqa: E402  (as the tests do)

KEY = "load-test-key"
TIMEOUT = 10  # seconds, the guide's sender timeout


def send(port: int, number: int) -> tuple[int, float, str]:
    """POST one lead; (status or 0 for no answer, seconds, request id)."""
    request_id = f"load-{number}-{uuid.uuid4().hex[:8]}"
    body = {"name": f"Load Test {number}", "phone_number": "9876543210", "campaign": "load"}
    status, seconds = post_webhook(port, body, KEY, {"X-Request-ID": request_id}, timeout=TIMEOUT)
    return status, seconds, request_id


def run_load(senders: int, requests_each: int, workers: int, rate_limit: str, admin_url: str) -> dict:
    """Serve the app, send the load, and return a report of what happened."""
    if not shutil.which("redis-server"):
        raise SystemExit("redis-server is not installed")
    database = f"raam_load_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(admin_url, connect_timeout=5)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{database}"')
    database_url = admin_url.rsplit("/", 1)[0] + "/" + database
    spool = tempfile.mkdtemp(prefix="raam-load-spool-")
    redis_port = free_port()
    redis = start_redis(redis_port)
    env = {**os.environ, "APP_ENV": "production", "SECRET_KEY": "load-test-secret-" + "x" * 32, "CARDEKHO_API_KEYS": KEY,
           "DATABASE_URL": database_url, "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{redis_port}/0",
           "WEBHOOK_RATE_LIMIT": rate_limit, "SPOOL_DIR": spool}
    web, server_log = None, ""
    try:
        web_port = free_port()  # only now: Redis holds its port, so free_port cannot hand it out twice
        subprocess.run([sys.executable, "-m", "flask", "--app", "run", "db", "upgrade"], cwd=ROOT, env=env,
                       check=True, capture_output=True)
        web = start_gunicorn(web_port, env, workers)  # gunicorn.conf.py, as in production
        results: list[tuple[int, float, str]] = []
        lock = threading.Lock()
        start_line = threading.Barrier(senders)

        def sender(index: int) -> None:
            start_line.wait(timeout=30)  # all senders start together: real concurrency
            for i in range(requests_each):
                outcome = send(web_port, index * requests_each + i)
                with lock:
                    results.append(outcome)

        started = time.monotonic()
        threads = [threading.Thread(target=sender, args=(n,)) for n in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=requests_each * TIMEOUT + 30)
        elapsed = time.monotonic() - started
        with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
            cursor.execute('SELECT count(*) FROM "mg-digital-leads"')
            rows = cursor.fetchone()[0]
            cursor.execute('SELECT request_id FROM intake_log l JOIN "mg-digital-leads" d ON d.id = l.lead_id')
            stored_request_ids = {row[0] for row in cursor.fetchall()}
    finally:
        if web is not None:
            server_log = stop(web)
        stop(redis)
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()
        shutil.rmtree(spool, ignore_errors=True)
    statuses = [status for status, _, _ in results]
    seconds = sorted(duration for _, duration, _ in results)
    created = [request_id for status, _, request_id in results if status == 201]
    return {
        "senders": senders, "requests": len(results), "workers": workers, "rate_limit": rate_limit,
        "elapsed_s": round(elapsed, 2),
        "statuses": {str(code): statuses.count(code) for code in sorted(set(statuses))},
        "errors": sum(1 for status in statuses if status not in (201, 429)),
        "latency_ms": {"p50": round(statistics.median(seconds) * 1000, 1),
                       "p95": round(seconds[int(len(seconds) * 0.95) - 1] * 1000, 1),
                       "max": round(seconds[-1] * 1000, 1)} if seconds else {},
        "rows": rows,
        "created_without_row": len(set(created) - stored_request_ids),
        "serving_workers": len({line.split("[pid ")[1].split("]")[0] for line in server_log.splitlines()
                                if "webapp.intake: webhook" in line}),
    }


def allowed_by(rate_limit: str) -> int:
    """How many requests a limit like '120 per minute' lets through in one window."""
    return int(rate_limit.split()[0])


def main() -> int:
    """Run the load, print the report, exit 1 if a promise failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--requests-each", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rate-limit", default="120 per minute")
    parser.add_argument("--admin-url", default=os.environ.get(
        "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres").replace("+psycopg2", ""))
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    if args.senders * args.requests_each > 5000:
        parser.error("at most 5000 requests per run")
    report = run_load(args.senders, args.requests_each, args.workers, args.rate_limit, args.admin_url)
    expected_201 = min(report["requests"], allowed_by(args.rate_limit))
    report["checks"] = {
        "no_errors": report["errors"] == 0,
        "limit_shared_across_workers": report["statuses"].get("201", 0) == expected_201,
        "every_201_is_a_row": report["rows"] == report["statuses"].get("201", 0)
        and report["created_without_row"] == 0,
    }
    if args.json:
        print(json.dumps(report))
    else:
        for name, value in report.items():
            print(f"{name:>20}: {value}")
    return 0 if all(report["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
