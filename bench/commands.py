"""Helpers the benchmark phases share: the Flask CLI, psql, the maintenance database, an in-process app."""
import os
import shutil
import subprocess
import sys
import time

import psycopg2

from tests.servers import ROOT


def flask_cli(env: dict, *args: str, stdin: str | None = None) -> float:
    """Run `flask --app run ARGS`; return its seconds."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "run", *args], cwd=ROOT, env=env, input=stdin,
                          text=True, capture_output=True)
    if done.returncode:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def psql(dsn: str, sql: str) -> str:
    """One statement through psql; its unaligned output."""
    return subprocess.run(["psql", "-X", "-A", "-t", "-d", dsn, "-c", sql], check=True, capture_output=True,
                          text=True).stdout.strip()


def admin(sql: str) -> None:
    """A statement on the maintenance database (CREATE / DROP DATABASE)."""
    connection = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres", connect_timeout=5)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(sql)
    connection.close()


def bench_app(url: str):
    """An in-process app on `url`, for scenarios, plans and the domain-level fallbacks."""
    from config import engine_options
    from webapp import create_app

    return create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url,
                       "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url)})


def has_dashboard(app) -> bool:
    """Whether the signed-in dashboard routes exist yet (else the domain functions are timed)."""
    return {"dashboard.lead_list", "dashboard.export_leads", "auth.login"} <= set(app.view_functions)


def py_spy() -> str | None:
    """The py-spy executable (beside this Python, or on PATH), if installed."""
    beside = os.path.join(os.path.dirname(sys.executable), "py-spy")
    return beside if os.path.exists(beside) else shutil.which("py-spy")
