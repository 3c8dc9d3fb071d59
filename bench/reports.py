"""Benchmark 5: the whole reports page (/admin/reports) for the last 30 days and for two years, over HTTP.

Mixed into bench.phases.Phases. The per-day summaries are built first with
`flask reports rebuild` (timed: what a deploy or a change of SLA costs once),
then each scenario is timed as signed-in GETs; one scenario posts a new lead
through the webhook before each GET, so the summary of today is rebuilt each
time, as on a working day.
"""
import os
from datetime import date, datetime, timedelta

from bench import report
from bench.commands import flask_cli, psql
from bench.load import fetch, http_request, percentile
from bench.servers import Gunicorn
from webapp.leads.timezones import IST

PAGE = "/admin/reports"
WEBHOOK = "/admin/mg-digital-leads/source/cardekho"
WARM_UP = 8  # untimed requests: each worker compiles its templates and opens its connection
BUDGETS_MS = {"last 30 days": 300.0, "two years": 1500.0}


class ReportPhases:
    """The reports page on PostgreSQL at the seeded size and on SQLite at the smaller one."""

    def reports_postgresql(self) -> None:
        """After the PostgreSQL dashboard phase."""
        self.reports_section("postgresql", self.real_env, self.settings.leads)

    def reports_sqlite(self) -> None:
        """After the SQLite dashboard phase, on its database."""
        url = "sqlite:///" + os.path.join(self.settings.work, "bench-sqlite.db")
        self.reports_section("sqlite", {**self.real_env, "DATABASE_URL": url}, self.settings.sqlite_leads)

    def reports_section(self, backend: str, server_env: dict, leads: int) -> None:
        """Rebuild the summaries, then time each scenario; add the section and its targets."""
        database_url = server_env["DATABASE_URL"]
        rebuild_seconds = flask_cli({**self.cli_env, "DATABASE_URL": database_url}, "reports", "rebuild")
        if backend == "postgresql":
            psql(self.dsn, "VACUUM ANALYZE report_repeats")  # as autovacuum would after the first build

        today = datetime.now(IST).date()
        scenarios = [("last 30 days", today - timedelta(days=29), False),
                     ("two years", today - timedelta(days=729), False),
                     ("last 30 days, a new lead before each request", today - timedelta(days=29), True)]
        rows = []
        with Gunicorn("run:app", server_env, 4, self.log) as server:
            cookie = self.manager_cookie(server.port, database_url)
            for name, first, with_leads in scenarios:
                repeats = max(3, self.settings.repeats // 2) if name == "two years" else self.settings.repeats
                timings = self.time_reports(server.port, cookie, first, today, repeats, with_leads)
                p50, p95 = percentile(timings, 50) * 1000, percentile(timings, 95) * 1000
                rows.append([name, p50, p95, len(timings)])
                if name in BUDGETS_MS:
                    budget = BUDGETS_MS[name]
                    self.targets.append([f"{backend}: reports page, {name}, p95 < {budget:,.0f} ms", f"{p95:,.0f} ms",
                                         report.verdict(p95 < budget)])
        self.sections.append(
            f"## 5. Reports page at {leads:,} leads ({backend})\n\nMeasured: signed-in HTTP GETs of the whole page "
            f"(every chart, table and the chart data; gunicorn, 4 workers), client-measured on loopback, after "
            f"{WARM_UP} untimed ones. `flask reports rebuild` built every day's summary first in "
            f"{rebuild_seconds:.1f} s.\n\n" + report.table(["scenario", "p50 ms", "p95 ms", "requests"], rows) + "\n")

    def time_reports(self, port: int, cookie: str, first: date, last: date, repeats: int,
                     with_leads: bool) -> list[float]:
        """Seconds per GET of the page for [first, last]; a webhook lead before each one when `with_leads`."""
        page = http_request("GET", f"{PAGE}?date_from={first}&date_to={last}", port, headers={"Cookie": cookie})
        lead = http_request("POST", WEBHOOK, port, body=b'{"name": "Bench Lead", "phone_number": "9876543210", '
                            b'"utm_source": "bench_reports"}', headers={"Content-Type": "application/json",
                                                                         "X-API-Key": self.key})
        timings = []
        for attempt in range(WARM_UP + repeats):
            if with_leads:
                status, _, answer = fetch(port, lead)
                if status != 201:
                    raise RuntimeError(f"webhook: HTTP {status}\n{answer[:300]!r}")
            status, seconds, response = fetch(port, page)
            if status != 200:
                raise RuntimeError(f"reports {first}..{last}: HTTP {status}\n{response[:500]!r}")
            if attempt >= WARM_UP:
                timings.append(seconds)
        return timings
