"""`python -m bench` (`make bench`): run every benchmark, write bench/RESULTS.md and print it.

Loopback only; every load is bounded; every process started is stopped by its PID;
the PostgreSQL database and the Redis database number used are dropped and
flushed at the end.
"""
import argparse
import glob
import os
import shutil
import time
from dataclasses import dataclass

import redis

from bench import report
from bench.commands import admin
from tests.servers import ROOT

KEY = "bench-key-not-a-secret"


@dataclass
class Settings:
    """Sizes and names; `make bench` uses the defaults, the smoke test small ones."""

    leads: int = 1_000_000
    sqlite_leads: int = 100_000
    senders: tuple[int, ...] = (1, 8, 32)
    requests: int = 3000
    rounds: int = 3
    repeats: int = 40
    database: str = "raam_bench"
    redis_db: int = 12
    results: str = os.path.join(ROOT, "bench", "RESULTS.md")
    plans: str = os.path.join(ROOT, "bench", "plans")
    work: str = os.path.join(ROOT, "bench", "out")
    profile: bool = True


def main(argv: list[str] | None = None) -> str:
    """Parse the command line, run, write and print RESULTS.md."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=Settings.leads)
    parser.add_argument("--sqlite-leads", type=int, default=Settings.sqlite_leads)
    parser.add_argument("--requests", type=int, default=Settings.requests)
    parser.add_argument("--rounds", type=int, default=Settings.rounds)
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args(argv)
    settings = Settings(leads=args.leads, sqlite_leads=args.sqlite_leads, requests=args.requests,
                        rounds=args.rounds, profile=not args.no_profile)
    text = run(settings)
    print(text)
    return text


def run(settings: Settings) -> str:
    """Every benchmark in order; the database and Redis number are cleaned up whatever happens."""
    from bench.phases import Phases

    os.makedirs(settings.work, exist_ok=True)
    for old_output in glob.glob(os.path.join(settings.work, "*")):
        os.remove(old_output)  # the last run's logs and profile
    shutil.rmtree(settings.plans, ignore_errors=True)
    started = time.perf_counter()
    admin(f'DROP DATABASE IF EXISTS "{settings.database}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{settings.database}"')
    store = redis.Redis(host="127.0.0.1", port=6379, db=settings.redis_db)
    store.flushdb()
    phases = Phases(settings, KEY)
    machine_text = report.machine(phases.dsn)
    try:
        body = phases.all()
    finally:
        store.flushdb()
        admin(f'DROP DATABASE IF EXISTS "{settings.database}" WITH (FORCE)')
        for path in glob.glob(os.path.join(settings.work, "bench-sqlite.db*")):
            os.remove(path)
    sizes = (f"{settings.leads:,} leads on PostgreSQL, {settings.sqlite_leads:,} on SQLite, "
             f"{settings.requests:,} webhook requests per run, {settings.rounds} alternating rounds")
    text = report.header(time.perf_counter() - started, sizes, machine_text) + body
    with open(settings.results, "w") as out:
        out.write(text)
    return text

if __name__ == "__main__":
    main()
