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

from bench import report, results_file
from bench.commands import admin
from bench.wrk import ensure_wrk
from tests.servers import ROOT

KEY = "bench-key-not-a-secret"


@dataclass
class Settings:
    """Sizes and names; `make bench` uses the defaults, the smoke test small ones."""

    leads: int = 1_000_000
    sqlite_leads: int = 100_000
    senders: tuple[int, ...] = (8, 32)
    seconds: int = 5  # per wrk run
    warmup_seconds: int = 1
    rounds: int = 3
    repeats: int = 40
    database: str = "raam_bench"
    redis_db: int = 12
    results: str = os.path.join(ROOT, "bench", "RESULTS.md")
    plans: str = os.path.join(ROOT, "bench", "plans")
    work: str = os.path.join(ROOT, "bench", "out")
    profile: bool = True
    only: str | None = None  # "webhook": section 1 alone, at WEBHOOK_ONLY_LEADS unless told


WEBHOOK_ONLY_LEADS = 100_000  # enough rows for realistic index pages, seeded in seconds


def main(argv: list[str] | None = None) -> str:
    """Parse the command line, run, write and print RESULTS.md."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["webhook"],
                        help="only the webhook comparison (a few minutes): replaces section 1 of RESULTS.md")
    parser.add_argument("--leads", type=int, help=f"seeded leads (default {Settings.leads:,}; "
                                                  f"{WEBHOOK_ONLY_LEADS:,} with --only webhook)")
    parser.add_argument("--sqlite-leads", type=int, default=Settings.sqlite_leads)
    parser.add_argument("--senders", type=int, nargs="+", default=list(Settings.senders))
    parser.add_argument("--seconds", type=int, default=Settings.seconds, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=Settings.rounds)
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args(argv)
    leads = args.leads or (WEBHOOK_ONLY_LEADS if args.only == "webhook" else Settings.leads)
    settings = Settings(leads=leads, sqlite_leads=args.sqlite_leads, senders=tuple(args.senders),
                        seconds=args.seconds, rounds=args.rounds, profile=not args.no_profile, only=args.only)
    text = run(settings)
    print(text)
    return text


def run(settings: Settings) -> str:
    """Every benchmark in order (or the webhook's alone); the database and Redis number are cleaned up whatever
    happens."""
    from bench.phases import Phases

    if ensure_wrk() is None:
        raise SystemExit("wrk is not installed: run 'sudo apt-get install wrk' (make bench installs it as root)")
    os.makedirs(settings.work, exist_ok=True)
    for old_output in glob.glob(os.path.join(settings.work, "*")):
        os.remove(old_output)  # the last run's logs and profile
    if settings.only is None:
        shutil.rmtree(settings.plans, ignore_errors=True)
    started = time.perf_counter()
    admin(f'DROP DATABASE IF EXISTS "{settings.database}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{settings.database}"')
    store = redis.Redis(host="127.0.0.1", port=6379, db=settings.redis_db)
    store.flushdb()
    phases = Phases(settings, KEY)
    machine_text = report.machine(phases.dsn)
    try:
        body = phases.webhook_only() if settings.only == "webhook" else phases.all()
    finally:
        store.flushdb()
        admin(f'DROP DATABASE IF EXISTS "{settings.database}" WITH (FORCE)')
        for path in glob.glob(os.path.join(settings.work, "bench-sqlite.db*")):
            os.remove(path)
    minutes = (time.perf_counter() - started) / 60
    runs = (f"wrk runs of {settings.seconds} s at {', '.join(map(str, settings.senders))} senders, "
            f"{settings.rounds} alternating rounds")
    if settings.only == "webhook":
        sizes = f"{settings.leads:,} leads on PostgreSQL, {runs}"
        note = (f"{results_file.NOTE_START} by `python -m bench --only webhook` on {report.now()} in "
                f"{minutes:.1f} minutes ({sizes}); the other sections are from the full run above.")
        return results_file.splice_webhook(settings.results, report.header(minutes, sizes, machine_text,
                                                                           "python -m bench --only webhook"),
                                           body, note)
    sizes = f"{settings.leads:,} leads on PostgreSQL, {settings.sqlite_leads:,} on SQLite, {runs}"
    text = report.header(minutes, sizes, machine_text) + body
    results_file.write(settings.results, text)
    return text


if __name__ == "__main__":
    main()
