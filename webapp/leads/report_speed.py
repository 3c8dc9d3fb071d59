"""Speed to lead: business minutes from arrival to first contact — median, 90th percentile, share within the SLA.

Overall, per IST day and per owner. A lead counts towards the share once it is
due: contacted (in time or late), or not contacted and already past the SLA
(report_sql.contact_condition, which the lead list's `contact` filter uses too).
Percentiles interpolate like PostgreSQL's percentile_cont: a day's are kept in
its summary; for the range, PostgreSQL computes them over report_leads
in one pass (grouping sets); SQLite has no percentile function, so there the
contact times come to Python (SQLite serves small desks).
"""
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa

from webapp.auth.models import User
from webapp.extensions import db
from webapp.leads.report_days import ReportLead
from webapp.leads.report_facts import DayFacts, percentile
from webapp.leads.report_range import ReportRange
from webapp.leads.report_sql import ReportSettings

ALL = "all"  # the percentiles of every owner's leads together


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


def speed_to_lead(period: ReportRange, days: dict[date, DayFacts], settings: ReportSettings,
                  now: datetime) -> SpeedReport:
    """Counts and percentiles for the leads received in `period` (its days' summaries), as of `now`."""
    sla_seconds, clock_now = settings.sla_minutes * 60, settings.hours.clock(now)
    overall, owners, per_day = Speed(), defaultdict(Speed), {}
    for day, facts in days.items():
        per_day[day] = Speed(median_minutes=_minutes(facts.median), p90_minutes=_minutes(facts.p90))
        for key, owner in facts.owners.items():
            # Late without a contact yet: the same test as report_sql.contact_condition("late"), at `now`.
            overdue = sum(1 for arrived in owner.waiting if clock_now - arrived > sla_seconds)
            for speed in (overall, owners[int(key) if key else None], per_day[day]):
                speed.leads += owner.leads
                speed.contacted += owner.contacted
                speed.in_time += owner.in_time
                speed.late += owner.contacted - owner.in_time + overdue
    percentiles = _postgresql_percentiles if db.session.get_bind().dialect.name == "postgresql" else \
        _python_percentiles
    for owner_id, median, p90 in percentiles(period):
        speed = overall if owner_id is ALL else owners[owner_id]
        speed.median_minutes, speed.p90_minutes = _minutes(median), _minutes(p90)
    names = _names(owners)
    ranked = [(owner_id, names.get(owner_id, "Unassigned"), speed)
              for owner_id, speed in sorted(owners.items(), key=_slowest_first)]
    return SpeedReport(overall=overall, days=per_day, owners=ranked)


def _minutes(seconds: float | None) -> float | None:
    return seconds / 60 if seconds is not None else None


def _names(owner_ids) -> dict[int, str]:
    ids = [owner_id for owner_id in owner_ids if owner_id is not None]
    rows = db.session.execute(sa.select(User.id, User.name).where(User.id.in_(ids))) if ids else []
    return {row.id: row.name for row in rows}


def _slowest_first(item: tuple[int | None, Speed]):
    owner_id, speed = item
    median = speed.median_minutes if speed.median_minutes is not None else math.inf  # nobody contacted: slowest
    return -median, -speed.not_contacted, owner_id or 0


def _in_period(period: ReportRange):
    return ReportLead.day.between(period.first, period.last)


def _postgresql_percentiles(period: ReportRange):
    """(owner id, or ALL for everyone; median; p90) in business seconds, in one pass (grouping sets)."""
    db.session.execute(sa.text("SET LOCAL work_mem = '64MB'"))  # a million contact times sort in memory
    times = ReportLead
    rows = db.session.execute(sa.select(
        sa.func.grouping(times.owner_id), times.owner_id,
        sa.func.percentile_cont(0.5).within_group(times.seconds),
        sa.func.percentile_cont(0.9).within_group(times.seconds),
    ).where(_in_period(period), times.seconds.is_not(None)).group_by(sa.func.grouping_sets(sa.tuple_(), sa.tuple_(times.owner_id))))
    for everyone, owner_id, median, p90 in rows:
        yield (ALL if everyone else owner_id), median, p90


def _python_percentiles(period: ReportRange):
    """The same as _postgresql_percentiles (SQLite has no percentile function)."""
    groups: dict = defaultdict(list)
    for owner_id, seconds in db.session.execute(
            sa.select(ReportLead.owner_id, ReportLead.seconds).where(_in_period(period),
                                                                 ReportLead.seconds.is_not(None))):
        groups[ALL].append(seconds)
        groups[owner_id].append(seconds)
    for owner_id, values in groups.items():
        values.sort()
        yield owner_id, percentile(values, 0.5), percentile(values, 0.9)
