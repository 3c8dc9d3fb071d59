"""Benchmarks 2 and 4: the dashboard's list scenarios, timed, with the query plans saved beside the results."""
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import sqlalchemy as sa

from bench.load import fetch, http_request, percentile
from webapp.extensions import db
from webapp.leads.models import Lead
from webapp.leads.search import LeadFilters, count_leads, encode_cursor, filter_choices, search_leads
from webapp.leads.timezones import to_ist

LIST_PATH = "/admin/mg-digital-leads"
WARM_UP = 8  # requests before timing: each of the 4 workers compiles its templates and opens its connection


@dataclass
class Scenario:
    """One thing a person does on the list page."""

    name: str
    filters: LeadFilters
    cursor: str | None = None
    extra: bool = False  # reported, not held to the target

    def query_string(self) -> str:
        """The list URL's query string for this scenario."""
        args = self.filters.to_args()
        if self.cursor:
            args["page"] = self.cursor
        return urlencode(args)


def scenarios() -> list[Scenario]:
    """The list scenarios (and a two-letter search), with values taken from the data (app context)."""
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Lead))
    ordered = sa.select(Lead).order_by(Lead.created_at.desc(), Lead.id.desc())
    deep = db.session.scalars(ordered.offset(total // 2).limit(1)).one()
    newest = to_ist(db.session.scalars(ordered.limit(1)).one().created_at).date()
    phones = sa.select(Lead.phone_normalized).where(Lead.phone_normalized.is_not(None))
    phone = db.session.scalars(phones.order_by(Lead.id).offset(total // 3).limit(1)).one()
    # A sales person of the demo team: their "My new leads" (owner=me) is this list for them.
    owner = db.session.scalar(sa.select(sa.func.min(Lead.owner_id)))
    return [
        Scenario("first page", LeadFilters()),
        Scenario(f"deep page (lead {total // 2:,} of {total:,})", LeadFilters(), encode_cursor(deep)),
        Scenario("name fragment 'sharma'", LeadFilters(q="sharma")),
        Scenario(f"phone fragment '{phone[5:10]}'", LeadFilters(q=phone[5:10])),
        Scenario("model + 30-day range", LeadFilters(car_model="MG Hector", date_from=newest - timedelta(days=60),
                                                     date_to=newest - timedelta(days=30))),
        Scenario("no match 'qzxv'", LeadFilters(q="qzxv")),
        Scenario("a sales person's new leads (owner=ID&status=new: their \"My new leads\")",
                 LeadFilters(owner=str(owner), status="new")),
        Scenario("repeats hidden (repeats=hide)", LeadFilters(repeats="hide")),
        Scenario("extra: two letters 'zo' (word start)", LeadFilters(q="zo"), extra=True),
    ]


def list_page(scenario: Scenario) -> None:
    """What the list view asks of the domain layer for a full page."""
    search_leads(scenario.filters, cursor=scenario.cursor)
    count_leads(scenario.filters)
    filter_choices()


def time_in_process(scenario: Scenario, repeats: int) -> list[float]:
    """Seconds per list_page call (app context), after one warm-up."""
    list_page(scenario)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        list_page(scenario)
        timings.append(time.perf_counter() - started)
        db.session.remove()
    return timings


def time_count(repeats: int) -> float:
    """Best-of-`repeats` milliseconds of the capped count of every lead."""
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        count_leads(LeadFilters())
        timings.append(time.perf_counter() - started)
    return min(timings) * 1000


def time_over_http(port: int, cookie: str, scenario: Scenario, repeats: int) -> list[float]:
    """Seconds per signed-in GET of the list page, after WARM_UP untimed ones; fails loudly on anything but 200."""
    request = http_request("GET", f"{LIST_PATH}?{scenario.query_string()}", port, headers={"Cookie": cookie})
    timings = []
    for attempt in range(WARM_UP + repeats):
        status, seconds, response = fetch(port, request)
        if status != 200:
            raise RuntimeError(f"{scenario.name}: HTTP {status}\n{response[:500]!r}")
        if attempt >= WARM_UP:
            timings.append(seconds)
    return timings


def summary(timings: list[float]) -> dict:
    """p50 and p95 in milliseconds."""
    return {"p50": percentile(timings, 50) * 1000, "p95": percentile(timings, 95) * 1000, "n": len(timings)}


def save_plans(scenario: Scenario, path: str) -> None:
    """Run the scenario once, capturing its SQL, and write each statement's plan to `path`."""
    engine = db.engine
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        list_page(scenario)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    postgresql = engine.dialect.name == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgresql else "EXPLAIN QUERY PLAN "
    lines = [f"# {scenario.name}: {scenario.query_string() or '(no filters)'}", ""]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in statements:
            cursor.execute(prefix + statement, parameters)
            plan = cursor.fetchall()
            text = "\n".join(row[0] for row in plan) if postgresql else "\n".join(
                f"{'  ' * _depth(row, plan)}{row[-1]}" for row in plan)
            lines += ["```sql", _readable(statement, parameters), "```", "```", text, "```", ""]
        raw.rollback()
    finally:
        raw.close()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as out:
        out.write("\n".join(lines))


def _depth(row, plan) -> int:
    parents = {entry[0]: entry[1] for entry in plan}
    depth, parent = 0, row[1]
    while parent in parents:
        depth, parent = depth + 1, parents[parent]
    return depth


def _readable(statement: str, parameters) -> str:
    return f"{statement}\n-- parameters: {parameters!r}"
