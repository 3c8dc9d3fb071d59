"""Speed to lead: business minutes from arrival to first contact — median, 90th percentile, share within the SLA.

Overall, per IST day and per owner. A lead counts towards the share once it is
due: contacted (in time or late), or not contacted and already past the SLA
(report_sql.contact_condition, which the lead list's `contact` filter uses too).
Percentiles interpolate like PostgreSQL's percentile_cont. PostgreSQL computes
them itself in one pass (grouping sets); SQLite has no percentile function, so
the contacted leads' times come to Python (SQLite serves small desks).
"""
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from webapp.auth.models import User
from webapp.extensions import db
from webapp.leads.models import Lead
from webapp.leads.report_range import ReportRange
from webapp.leads.report_sql import ReportSettings, contact_condition, first_contact_seconds, ist_day_number

EPOCH_DAY = date(1970, 1, 1)
OVERALL, PER_DAY, PER_OWNER = "overall", "day", "owner"


@dataclass
class Speed:
    """Speed to lead of one group of leads (all of them, one day's, one person's)."""

    leads: int = 0
    contacted: int = 0
    in_time: int = 0  # contacted within the SLA
    late: int = 0  # contacted after the SLA, or not contacted and already past it
    median_minutes: float | None = None
    p90_minutes: float | None = None

    @property
    def not_contacted(self) -> int:
        """Leads nobody has called, messaged or written about yet."""
        return self.leads - self.contacted

    @property
    def in_time_share(self) -> float | None:
        """Share of the due leads contacted within the SLA (None when none is due yet)."""
        due = self.in_time + self.late
        return self.in_time / due if due else None


@dataclass
class SpeedReport:
    """Speed to lead overall, per IST day (every day of the range) and per owner (slowest first)."""

    overall: Speed
    days: dict[date, Speed]
    owners: list[tuple[int | None, str, Speed]] = field(default_factory=list)  # owner id (None: unassigned), name


def percentile(ordered: list[float], fraction: float) -> float | None:
    """percentile_cont of already sorted values."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def speed_to_lead(period: ReportRange, settings: ReportSettings, now: datetime) -> SpeedReport:
    """Counts and percentiles for the leads received in `period`, as of `now`."""
    dialect = db.session.get_bind().dialect.name
    seconds = first_contact_seconds(settings.hours, dialect)
    leads = sa.select(
        ist_day_number(Lead.created_at, dialect).label("day"), Lead.owner_id,
        sa.case((Lead.first_contacted_at.is_not(None), 1), else_=0).label("contacted"),
        *(sa.case((contact_condition(state, settings, now, dialect), 1), else_=0).label(state)
          for state in ("in_time", "late")),
    ).where(Lead.created_at >= period.starts_at, Lead.created_at < period.ends_at).subquery()
    groups = {OVERALL: defaultdict(Speed), PER_DAY: defaultdict(Speed), PER_OWNER: defaultdict(Speed)}
    for row in db.session.execute(sa.select(
            leads.c.day, leads.c.owner_id, sa.func.count().label("leads"), sa.func.sum(leads.c.contacted),
            sa.func.sum(leads.c.in_time), sa.func.sum(leads.c.late)).group_by(leads.c.day, leads.c.owner_id)):
        day = EPOCH_DAY + timedelta(days=int(row.day))
        for kind, key in ((OVERALL, None), (PER_DAY, day), (PER_OWNER, row.owner_id)):
            speed = groups[kind][key]
            speed.leads += row[2]
            speed.contacted += row[3] or 0
            speed.in_time += row[4] or 0
            speed.late += row[5] or 0
    percentiles = _postgresql_percentiles if dialect == "postgresql" else _python_percentiles
    for kind, key, median, p90 in percentiles(period, seconds):
        speed = groups[kind][key]
        speed.median_minutes, speed.p90_minutes = median / 60, p90 / 60
    days = {day: groups[PER_DAY].get(day, Speed()) for day in period.each_day()}
    names = _names(groups[PER_OWNER])
    owners = [(owner_id, names.get(owner_id, "Unassigned"), speed)
              for owner_id, speed in sorted(groups[PER_OWNER].items(), key=_slowest_first)]
    return SpeedReport(overall=groups[OVERALL][None], days=days, owners=owners)


def _names(owner_ids) -> dict[int, str]:
    ids = [owner_id for owner_id in owner_ids if owner_id is not None]
    rows = db.session.execute(sa.select(User.id, User.name).where(User.id.in_(ids))) if ids else []
    return {row.id: row.name for row in rows}


def _slowest_first(item: tuple[int | None, Speed]):
    owner_id, speed = item
    median = speed.median_minutes if speed.median_minutes is not None else math.inf  # nobody contacted: slowest
    return -median, -speed.not_contacted, owner_id or 0


def _contact_times(period: ReportRange, seconds, dialect: str):
    return sa.select(ist_day_number(Lead.created_at, dialect).label("day"), Lead.owner_id,
                     seconds.label("seconds")).where(
        Lead.created_at >= period.starts_at, Lead.created_at < period.ends_at, Lead.first_contacted_at.is_not(None))


def _postgresql_percentiles(period: ReportRange, seconds):
    """(group kind, key, median, p90) in business seconds, for the whole range, each day and each owner."""
    times = _contact_times(period, seconds, "postgresql").subquery()
    level = sa.func.grouping(times.c.day, times.c.owner_id)  # which grouping set a row belongs to
    rows = db.session.execute(sa.select(
        level, times.c.day, times.c.owner_id,
        sa.func.percentile_cont(0.5).within_group(times.c.seconds),
        sa.func.percentile_cont(0.9).within_group(times.c.seconds),
    ).group_by(sa.func.grouping_sets(sa.tuple_(), sa.tuple_(times.c.day), sa.tuple_(times.c.owner_id))))
    for level_bits, day, owner_id, median, p90 in rows:
        if level_bits == 3:
            yield OVERALL, None, median, p90
        elif level_bits == 1:
            yield PER_DAY, EPOCH_DAY + timedelta(days=int(day)), median, p90
        else:
            yield PER_OWNER, owner_id, median, p90


def _python_percentiles(period: ReportRange, seconds):
    """The same as _postgresql_percentiles, from the contacted leads' times."""
    query = _contact_times(period, seconds, db.session.get_bind().dialect.name)
    groups: dict[tuple, list[float]] = defaultdict(list)
    for day, owner_id, value in db.session.execute(query):
        groups[(OVERALL, None)].append(value)
        groups[(PER_DAY, EPOCH_DAY + timedelta(days=int(day)))].append(value)
        groups[(PER_OWNER, owner_id)].append(value)
    for (kind, key), values in groups.items():
        values.sort()
        yield kind, key, percentile(values, 0.5), percentile(values, 0.9)
