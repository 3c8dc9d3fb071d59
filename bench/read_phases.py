"""Benchmarks 2 to 4's phases: the dashboard on PostgreSQL and SQLite, the export against psql."""
import os
from datetime import date

import sqlalchemy as sa

from bench import dashboard, export_bench, report
from bench.commands import bench_app, flask_cli, has_dashboard
from bench.servers import Gunicorn
from config import normalize_database_url
from webapp.database import dispose_engines
from webapp.extensions import db
from webapp.leads.models import Lead

SEED = "1"


class ReadPhases:
    """Mixed into bench.phases.Phases, whose state (settings, envs, sections, targets) it uses."""

    def dashboard_postgresql(self) -> None:
        """The list scenarios at the seeded size on PostgreSQL, p95 < 50 ms each."""
        self.dashboard_section("postgresql", self.url, self.real_env, budget_ms=50.0,
                               title=f"## 2. Dashboard list at {self.settings.leads:,} leads (PostgreSQL)")

    def dashboard_sqlite(self) -> None:
        """The same scenarios on a SQLite file at the smaller size, p95 < 150 ms each."""
        path = os.path.join(self.settings.work, "bench-sqlite.db")
        url = "sqlite:///" + path
        env = {**self.cli_env, "DATABASE_URL": url}
        flask_cli(env, "db", "upgrade")
        seconds = flask_cli(env, "leads", "seed-demo", str(self.settings.sqlite_leads), "--seed", SEED)
        server_env = {**self.real_env, "DATABASE_URL": url}
        self.dashboard_section("sqlite", url, server_env, budget_ms=150.0,
                               title=f"## 4. Dashboard list at {self.settings.sqlite_leads:,} leads (SQLite)",
                               note=f"seed-demo wrote them in {seconds:.1f} s (FTS5 triggers on).")

    def dashboard_section(self, backend: str, url: str, server_env: dict, budget_ms: float, title: str,
                          note: str = "") -> None:
        """Time every scenario (over HTTP once the dashboard exists), save plans, record targets."""
        app = bench_app(url)
        with app.app_context():
            scenarios = dashboard.scenarios()
            for number, scenario in enumerate(scenarios, 1):
                dashboard.save_plans(scenario, os.path.join(self.settings.plans, f"{backend}-{number}.md"))
            over_http = has_dashboard(app)
            if over_http:
                timings = self.http_timings(server_env, scenarios)
            else:
                timings = [dashboard.time_in_process(s, self.settings.repeats) for s in scenarios]
            count_ms = dashboard.time_count(5)
            db.session.remove()
            dispose_engines()
        how = ("signed-in HTTP GETs of the full list page (gunicorn, 4 workers), client-measured on loopback"
               if over_http else "the list view's domain calls in-process (search_leads + count_leads + "
               "filter_choices; the dashboard routes are not on main yet)")
        rows, summaries = [], []
        for number, (scenario, seconds) in enumerate(zip(scenarios, timings), 1):
            stats = dashboard.summary(seconds)
            summaries.append(stats)
            rows.append([scenario.name, stats["p50"], stats["p95"], stats["n"],
                         f"[plan](plans/{backend}-{number}.md)"])
        depth = summaries[1]["p50"] / summaries[0]["p50"]
        worst = max((i for i in range(len(summaries)) if not scenarios[i].extra), key=lambda i: summaries[i]["p95"])
        self.targets.append([f"{backend}: each of the {sum(not s.extra for s in scenarios)} scenarios p95 < {budget_ms:.0f} ms",
                             f"worst {summaries[worst]['p95']:.1f} ms ({scenarios[worst].name})",
                             report.verdict(summaries[worst]["p95"] < budget_ms)])
        self.targets.append([f"{backend}: deep page ≤ 3× the first page (p50)", f"{depth:.2f}×",
                             report.verdict(depth <= 3)])
        self.sections.append(f"{title}\n\nMeasured: {how}. {note}\n\n" + report.table(
            ["scenario", "p50 ms", "p95 ms", "requests", "query plan"], rows) +
            f"\n\nThe capped count alone (`count_leads`, no filter, stops at 1,001): {count_ms:.1f} ms.\n")

    def manager_cookie(self, port: int, database_url: str) -> str:
        """The benchmark manager's signed-in Cookie header for this database, signing in through the server on
        `port` the first time: every server of the run shares SECRET_KEY, and signing in again for each phase
        would run into the sign-in limit."""
        from bench.signin import sign_in

        cookies, key = self.__dict__.setdefault("cookies", {}), normalize_database_url(database_url)
        if key not in cookies:
            cookies[key] = sign_in(port, self.manager_password(database_url))
        return cookies[key]

    def manager_password(self, database_url: str) -> str:
        """The benchmark manager's password on this database, creating the account the first time."""
        from bench.signin import create_manager

        passwords, key = self.__dict__.setdefault("passwords", {}), normalize_database_url(database_url)
        if key not in passwords:
            passwords[key] = create_manager({**self.cli_env, "DATABASE_URL": database_url})
        return passwords[key]

    def http_timings(self, server_env: dict, scenarios: list) -> list[list[float]]:
        """Sign in as a manager and time each scenario's list page over HTTP."""
        with Gunicorn("run:app", server_env, 4, self.log) as server:
            cookie = self.manager_cookie(server.port, server_env["DATABASE_URL"])
            return [dashboard.time_over_http(server.port, cookie, s, self.settings.repeats) for s in scenarios]

    # --- 3. export ------------------------------------------------------------------------------------

    def export(self) -> None:
        """The export of every lead (and of about 100,000) against psql's COPY of the same columns, in turns."""
        out = os.path.join(self.settings.work, "copy.csv")
        recent = self.recent_day(min(100_000, self.settings.leads // 10)).isoformat()
        app = bench_app(self.url)
        with app.app_context():
            from webapp.leads.export_copy import copy_statement

            raw = db.engine.raw_connection()
            statement = copy_statement([], raw.cursor())
            raw.close()
            dispose_engines()
        rounds = max(3, self.settings.rounds)
        if has_dashboard(app):
            how = ("signed-in downloads from a one-worker gunicorn; memory is the worker's VmHWM above its RSS "
                   "before each download")
            with Gunicorn("run:app", self.real_env, 1, self.log) as server:
                cookie = self.manager_cookie(server.port, self.dsn)
                worker = server.worker_pids()[0]
                export_bench.over_http(server.port, worker, cookie, "q=warm-up-nothing")
                small = export_bench.over_http(server.port, worker, cookie, f"date_from={recent}")
                turns = export_bench.taking_turns(
                    self.dsn, statement, lambda: export_bench.over_http(server.port, worker, cookie), out, rounds)
        else:
            how = "export_csv() in a fresh process; memory is VmHWM above the RSS before the export"
            small = export_bench.in_process(self.real_env, recent)
            turns = export_bench.taking_turns(self.dsn, statement, lambda: export_bench.in_process(self.real_env),
                                              out, rounds)
        unordered = export_bench.psql_copy(self.dsn, f"\\copy ({export_bench.raw_select(False)}) to stdout with csv",
                                           out)
        rows, base = turns["rows"], turns["rows"] / turns["psql"]
        ratio = (rows / turns["ours"]) / base
        table = report.table(["what", "rows", "seconds (median)", "rows/s", "vs psql (same columns, same order)",
                              "peak memory above baseline"], [
            ["our export, everything", rows, turns["ours"], rows / turns["ours"], f"{ratio:.2f}×",
             f"{turns['peak_above_mib']:.1f} MiB"],
            [f"our export, since {recent} (once)", small["rows"], small["seconds"], small["rows"] / small["seconds"],
             "", f"{small['peak_above_mib']:.1f} MiB"],
            ["psql \\copy, same columns, newest first", rows, turns["psql"], base, "1.00×", ""],
            ["psql, our exact COPY statement (IST + neutralising in SQL)", rows, turns["psql_ours"],
             rows / turns["psql_ours"], f"{(rows / turns['psql_ours']) / base:.2f}×", ""],
            ["psql \\copy, same columns, table order (once)", rows, unordered, rows / unordered,
             f"{(rows / unordered) / base:.2f}×", ""]])
        self.sections.append(f"## 3. Export of every lead\n\nMeasured: {how}; the first three rows took turns, "
                             f"{rounds} times, medians.\n\n{table}\n")
        self.targets.append(["export rows/s ≥ 0.8× psql \\copy (same columns, same order)", f"{ratio:.2f}×",
                             report.verdict(ratio >= 0.8)])
        flat = abs(turns["peak_above_mib"] - small["peak_above_mib"]) <= 8
        peak = max(turns["peak_above_mib"], small["peak_above_mib"])
        self.targets.append(["export peak memory ≤ 64 MiB, the same for 100k as for all",
                             f"{small['peak_above_mib']:.1f} / {turns['peak_above_mib']:.1f} MiB",
                             report.verdict(peak <= 64 and flat)])

    def recent_day(self, rows: int) -> date:
        """The IST day from which on about `rows` leads were received."""
        app = bench_app(self.url)
        with app.app_context():
            from webapp.leads.timezones import to_ist

            moment = db.session.scalar(sa.select(Lead.created_at).order_by(Lead.created_at.desc())
                                       .offset(rows).limit(1))
            dispose_engines()
        return to_ist(moment).date()
