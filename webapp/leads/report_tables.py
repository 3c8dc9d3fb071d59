"""The reports as tables: what the page shows under each chart, what each CSV holds, what each chart draws.

A cell that counts leads carries the lead-list filters that select exactly
those leads, so a click opens them and a test can check the two agree.
"""
import csv
import io
from dataclasses import dataclass, field
from datetime import date, timedelta

from webapp.leads.export import neutralize_cell
from webapp.leads.pipeline import LOST_REASONS
from webapp.leads.report_speed import Speed
from webapp.leads.reports import Funnel, Reports, top_and_other

NO_VALUE = "(not given)"
OTHER = "Other"


@dataclass(frozen=True)
class Cell:
    """One value; `filters` are the list's query for the leads it counts, `lead_id` a lead it names."""

    value: int | float | str | None
    filters: dict[str, str] | None = None
    lead_id: int | None = None


@dataclass
class Table:
    """A titled table; `chart` says how to draw it (None: a table only)."""

    key: str  # the CSV's name, and the anchor on the page
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    chart: dict | None = None


def _share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _minutes(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def report_tables(reports: Reports) -> list[Table]:
    """Every table of the page, in page order."""
    dates = reports.period.to_args()
    return [leads_over_time(reports), speed_overall(reports, dates), speed_by_day(reports),
            speed_by_person(reports, dates), funnel(reports, dates),
            funnel_by(reports.by_source, "funnel-by-source", "Funnel by source", "Source", "source", dates),
            funnel_by(reports.by_campaign, "funnel-by-campaign", "Funnel by campaign", "Campaign", "campaign", dates),
            lost_reasons(reports, dates), top_table(reports.by_model, "models", "Car models", "Model", "car_model",
                                                    dates),
            top_table(reports.by_campaign, "campaigns", "Campaigns", "Campaign", "campaign", dates),
            repeats(reports, dates), askers(reports)]


def _dates(first: date, last: date, **filters) -> dict[str, str]:
    return {"date_from": first.isoformat(), "date_to": last.isoformat(), **filters}


UNIT_COLUMNS = {"day": "Day", "week": "Week from", "month": "Month"}


def leads_over_time(reports: Reports) -> Table:
    """Leads per day (or week, or month) stacked by source, with the previous period's total."""
    over_time, unit = reports.over_time, reports.period.unit
    sources = over_time.sources
    table = Table("leads-per-day", f"Leads per {unit}", [UNIT_COLUMNS[unit], *sources, "Total", "Previous period"],
                  chart={"type": "bar", "stacked": True, "series": list(range(1, len(sources) + 1)),
                         "line": len(sources) + 2})
    shift = timedelta(days=reports.period.days)
    for position, bucket in enumerate(over_time.buckets):
        counts = [Cell(over_time.counts[source][position], _dates(bucket.first, bucket.last, source=source))
                  for source in sources]
        table.rows.append([Cell(bucket.label), *counts,
                           Cell(sum(cell.value for cell in counts), _dates(bucket.first, bucket.last)),
                           Cell(over_time.previous[position], _dates(bucket.first - shift, bucket.last - shift))])
    return table


SPEED_COLUMNS = ["Leads", "Contacted", "Median (business min)", "90th percentile (business min)",
                 "Within SLA %", "Late", "Not contacted yet"]


def _speed_cells(speed: Speed, filters: dict[str, str]) -> list[Cell]:
    return [Cell(speed.leads, filters), Cell(speed.contacted, {**filters, "stage": "contacted"}),
            Cell(_minutes(speed.median_minutes)), Cell(_minutes(speed.p90_minutes)),
            Cell(_share(speed.in_time, speed.in_time + speed.late)), Cell(speed.late, {**filters, "contact": "late"}),
            Cell(speed.not_contacted, {**filters, "contact": "none"})]


def speed_overall(reports: Reports, dates: dict) -> Table:
    """Speed to lead over the whole range."""
    return Table("speed", "Speed to lead", ["Leads of", *SPEED_COLUMNS],
                 [[Cell("All days"), *_speed_cells(reports.speed.overall, dates)]])


def speed_by_day(reports: Reports) -> Table:
    """Speed to lead per day (or week, or month): the median as bars, the 90th percentile as a line."""
    unit = reports.period.unit
    table = Table("speed-by-day", f"Speed to lead per {unit}", [UNIT_COLUMNS[unit], *SPEED_COLUMNS],
                  chart={"type": "bar", "series": [3], "line": 4})
    for bucket, speed in reports.speed.buckets:
        table.rows.append([Cell(bucket.label), *_speed_cells(speed, _dates(bucket.first, bucket.last))])
    return table


def speed_by_person(reports: Reports, dates: dict) -> Table:
    """Speed to lead per owner, slowest first."""
    table = Table("speed-by-person", "Speed to lead per sales person (slowest first)", ["Person", *SPEED_COLUMNS],
                  chart={"type": "bar", "horizontal": True, "series": [3]})
    for owner_id, name, speed in reports.speed.owners:
        owner = {**dates, "owner": str(owner_id) if owner_id is not None else "none"}
        table.rows.append([Cell(name, owner), *_speed_cells(speed, owner)])
    return table


def funnel(reports: Reports, dates: dict) -> Table:
    """Every lead → contacted → test drive → booked, with each step's conversion from the one before."""
    total = reports.total
    steps = [("All leads", total.leads, {}), ("Contacted", total.contacted, {"stage": "contacted"}),
             ("Test drive", total.test_drive, {"stage": "test_drive"}), ("Booked", total.booked, {"stage": "booked"})]
    table = Table("funnel", "The funnel", ["Stage", "Leads", "Conversion from the step before %"],
                  chart={"type": "bar", "series": [1]})
    before = None
    for label, count, filters in steps:
        table.rows.append([Cell(label), Cell(count, {**dates, **filters}),
                           Cell(_share(count, before) if before is not None else None)])
        before = count
    return table


def funnel_by(funnels: list[Funnel], key: str, title: str, label: str, name: str, dates: dict) -> Table:
    """The funnel per source or per campaign."""
    table = Table(key, title, [label, "Leads", "Contacted", "Contacted %", "Test drive", "Test drive % of contacted",
                               "Booked", "Booked % of test drives", "Booked % of leads", "Lost"])
    for item in funnels:
        filters = {**dates, name: item.key} if item.key is not None else None
        table.rows.append([Cell(item.key or NO_VALUE, filters), Cell(item.leads, filters),
                           *_stage(item, filters)])
    return table


def _stage(item: Funnel, filters: dict | None) -> list[Cell]:
    def reached(stage: str) -> dict | None:
        return {**filters, "stage": stage} if filters else None

    return [Cell(item.contacted, reached("contacted")), Cell(_share(item.contacted, item.leads)),
            Cell(item.test_drive, reached("test_drive")), Cell(_share(item.test_drive, item.contacted)),
            Cell(item.booked, reached("booked")), Cell(_share(item.booked, item.test_drive)),
            Cell(_share(item.booked, item.leads)), Cell(item.lost, {**filters, "status": "lost"} if filters else None)]


def lost_reasons(reports: Reports, dates: dict) -> Table:
    """Lost leads by reason, most first."""
    table = Table("lost-reasons", "Lost leads by reason", ["Reason", "Leads"], chart={"type": "bar", "series": [1]})
    for reason, count in reports.lost_reasons.items():
        table.rows.append([Cell(LOST_REASONS.get(reason, reason)),
                           Cell(count, {**dates, "status": "lost", "lost_reason": reason})])
    return table


def top_table(funnels: list[Funnel], key: str, title: str, label: str, name: str, dates: dict) -> Table:
    """Leads, contacted % and booked % per model or campaign: the top 15, then the rest as Other."""
    table = Table(key, f"{title} (top 15)", [label, "Leads", "Contacted %", "Booked %"],
                  chart={"type": "bar", "horizontal": True, "series": [1]})
    top, other = top_and_other(funnels)
    for item in top + ([other] if other else []):
        filters = {**dates, name: item.key} if item.key is not None and item is not other else None
        shown = OTHER if item is other else (item.key or NO_VALUE)
        table.rows.append([Cell(shown, filters), Cell(item.leads, filters), Cell(_share(item.contacted, item.leads)),
                           Cell(_share(item.booked, item.leads))])
    return table


def repeats(reports: Reports, dates: dict) -> Table:
    """First enquiries and repeats, and each one's share of the leads."""
    leads, repeat_count = reports.total.leads, reports.repeats
    return Table("repeats", "Repeat enquiries", ["Enquiry", "Leads", "Share %"], [
        [Cell("First enquiries"), Cell(leads - repeat_count, {**dates, "repeats": "hide"}),
         Cell(_share(leads - repeat_count, leads))],
        [Cell("Repeats"), Cell(repeat_count, {**dates, "repeats": "only"}), Cell(_share(repeat_count, leads))],
    ], chart={"type": "bar", "series": [1]})


def askers(reports: Reports) -> Table:
    """The people who asked most: repeats in the range, with a link to their first enquiry."""
    table = Table("asked-most", "The people who asked most", ["Person", "First asked (IST)", "Repeats in range"])
    for asker in reports.askers:
        table.rows.append([Cell(asker.name, lead_id=asker.first_lead_id),
                           Cell(asker.first_asked.strftime("%Y-%m-%d %H:%M")), Cell(asker.repeats)])
    return table


def table_csv(table: Table) -> str:
    """The table as CSV for Excel (UTF-8 with a BOM), cells a spreadsheet would run as formulas neutralised."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow([neutralize_cell(column) for column in table.columns])
    for row in table.rows:
        writer.writerow(["" if cell.value is None else neutralize_cell(cell.value) for cell in row])
    return buffer.getvalue()
