"""Speed to lead: business minutes from arrival to first contact — median, 90th percentile, share within the SLA.

Overall, per IST day and per owner. A lead counts towards the share once it is
due: contacted (in time or late), or not contacted and already past the SLA
(report_sql.contact_condition, which the lead list's `contact` filter uses too).
Percentiles interpolate like PostgreSQL's percentile_cont: a day's are kept in
its summary; the range's are selected from the days' sorted contact times
(report_facts.select_percentile), on SQLite and PostgreSQL alike.
"""
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa

from webapp.auth.models import User
from webapp.extensions import db
from webapp.leads.report_facts import DayFacts, select_percentile
from webapp.leads.report_range import Bucket, ReportRange
from webapp.leads.report_sql import ReportSettings

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
    """Speed to lead overall, per bucket of the range (days, weeks or months) and per owner (slowest first)."""

    overall: Speed
    buckets: list[tuple[Bucket, Speed]]
    owners: list[tuple[int | None, str, Speed]] = field(default_factory=list)  # owner id (None: unassigned), name


def speed_to_lead(period: ReportRange, days: dict[date, DayFacts], settings: ReportSettings,
                  now: datetime) -> SpeedReport:
    """Counts and percentiles for the leads received in `period` (its days' summaries), as of `now`."""
    sla_seconds, clock_now = settings.sla_minutes * 60, settings.hours.clock(now)
    overall, owners, per_day = Speed(), defaultdict(Speed), defaultdict(Speed)
    runs: dict = defaultdict(list)  # owner id -> that owner's sorted contact times, one run per day
    for day, facts in days.items():
        for key, owner in facts.owners.items():
            owner_id = int(key) if key else None
            # Late without a contact yet: the same test as report_sql.contact_condition("late"), at `now`.
            overdue = sum(1 for arrived in owner.waiting if clock_now - arrived > sla_seconds)
            for speed in (overall, owners[owner_id], per_day[day]):
                speed.leads += owner.leads
                speed.contacted += owner.contacted
                speed.in_time += owner.in_time
                speed.late += owner.contacted - owner.in_time + overdue
            runs[owner_id].append(owner.seconds)
    everyone = [run for owner_runs in runs.values() for run in owner_runs]
    overall.median_minutes, overall.p90_minutes = (_minutes(select_percentile(everyone, fraction))
                                                   for fraction in (0.5, 0.9))
    for owner_id, owner_runs in runs.items():
        owners[owner_id].median_minutes, owners[owner_id].p90_minutes = (
            _minutes(select_percentile(owner_runs, fraction)) for fraction in (0.5, 0.9))
    buckets = []
    for bucket in period.buckets():
        bucket_days = ReportRange(bucket.first, bucket.last).each_day()
        speed = Speed()
        for day in bucket_days:
            _add(speed, per_day[day])
        bucket_runs = [owner.seconds for day in bucket_days for owner in days[day].owners.values()]
        speed.median_minutes, speed.p90_minutes = (_minutes(select_percentile(bucket_runs, fraction))
                                                   for fraction in (0.5, 0.9))
        buckets.append((bucket, speed))
    names = _names(owners)
    ranked = [(owner_id, names.get(owner_id, "Unassigned"), speed)
              for owner_id, speed in sorted(owners.items(), key=_slowest_first)]
    return SpeedReport(overall=overall, buckets=buckets, owners=ranked)


def _add(total: Speed, part: Speed) -> None:
    total.leads += part.leads
    total.contacted += part.contacted
    total.in_time += part.in_time
    total.late += part.late


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
