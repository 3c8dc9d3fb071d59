"""The numbers managers ask for, for a range of IST days: one query layer for the reports page, its CSVs and mails.

No HTTP here. `build_reports` answers with plain dataclasses; report_tables.py
turns them into the tables (and CSVs, and chart data) people see. The numbers
come from per-day summaries (report_days.py, which says how they stay correct).
Each count is defined exactly as a lead-list filter, so a report and the list
agree: a lead's source is `source`, its funnel stage `stage`, a speed count `contact`.
"""
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.leads.models import Lead
from webapp.leads.report_days import ReportDay, ReportRepeat, refresh
from webapp.leads.report_facts import GROUPS, DayFacts
from webapp.leads.report_range import Bucket, ReportRange
from webapp.leads.report_speed import SpeedReport, speed_to_lead
from webapp.leads.report_sql import ReportSettings
from webapp.leads.timezones import to_ist

TOP = 15  # models and campaigns shown by name; the rest are summed as "Other"
TOP_ASKERS = 10


@dataclass
class Funnel:
    """How far the leads of one source, campaign or model got."""

    key: str | None  # None: the leads without a value (no campaign given)
    leads: int = 0
    contacted: int = 0
    test_drive: int = 0
    booked: int = 0
    lost: int = 0

    def add(self, other: "Funnel") -> None:
        """Count `other`'s leads in this one too."""
        self.leads += other.leads
        self.contacted += other.contacted
        self.test_drive += other.test_drive
        self.booked += other.booked
        self.lost += other.lost


@dataclass
class LeadsOverTime:
    """Leads per day (week, month: see ReportRange.unit), by source, and the previous period's totals."""

    buckets: list[Bucket]
    sources: list[str]  # most leads first
    counts: dict[str, list[int]]  # source -> count per bucket
    previous: list[int]  # the same buckets one period earlier


@dataclass
class Asker:
    """A person who asked again and again: their first enquiry and how many repeats came in the range."""

    first_lead_id: int
    name: str
    first_asked: datetime
    repeats: int


@dataclass
class Reports:
    """Everything on the reports page for one range."""

    period: ReportRange
    over_time: LeadsOverTime
    speed: SpeedReport
    total: Funnel
    by_source: list[Funnel]
    by_campaign: list[Funnel]
    by_model: list[Funnel]
    lost_reasons: dict[str, int]
    repeats: int
    askers: list[Asker] = field(default_factory=list)


def build_reports(period: ReportRange, settings: ReportSettings, now: datetime) -> Reports:
    """Every report for `period`, as of `now`, from the per-day summaries (brought up to date first)."""
    previous = period.previous()
    refresh(ReportRange(previous.first, period.last), settings, now)
    days = read_days(period)
    total = Funnel(key=None)
    by = {name: {} for name in GROUPS}
    lost_reasons: Counter = Counter()
    for facts in days.values():
        for name, groups in by.items():
            for key, counts in facts.groups[name].items():
                funnel = groups.setdefault(key or None, Funnel(key=key or None))
                funnel.add(Funnel(None, *counts[:5]))
                if name == "source":
                    total.add(Funnel(None, *counts[:5]))
        lost_reasons.update(facts.lost_reasons)
    repeats = sum(counts[5] for facts in days.values() for counts in facts.groups["source"].values())
    return Reports(period=period, over_time=leads_over_time(period, days), speed=speed_to_lead(period, days, settings, now),
                   total=total, by_source=_ranked(by["source"]), by_campaign=_ranked(by["campaign"]),
                   by_model=_ranked(by["car_model"]), lost_reasons=dict(lost_reasons.most_common()),
                   repeats=repeats, askers=top_askers(period))


def read_days(period: ReportRange) -> dict[date, DayFacts]:
    """The stored summary of each day of `period` (an empty one for days still to come)."""
    stored = {day: DayFacts.from_json(facts, packed) for day, facts, packed in db.session.execute(
        sa.select(ReportDay.day, ReportDay.facts, ReportDay.contact_seconds)
        .where(ReportDay.day.between(period.first, period.last)))}
    return {day: stored.get(day) or DayFacts() for day in period.each_day()}


def _ranked(groups: dict) -> list[Funnel]:
    return sorted(groups.values(), key=lambda funnel: (-funnel.leads, funnel.key is None, funnel.key or ""))


def top_and_other(funnels: list[Funnel], top: int = TOP) -> tuple[list[Funnel], Funnel | None]:
    """The `top` largest by name, and the rest summed (None when there is no rest)."""
    if len(funnels) <= top:
        return funnels, None
    other = Funnel(key=None)
    for funnel in funnels[top:]:
        other.add(funnel)
    return funnels[:top], other


def leads_over_time(period: ReportRange, days: dict[date, DayFacts]) -> LeadsOverTime:
    """Leads per bucket and source in `period`, with the previous period's totals per bucket."""
    previous = period.previous()
    earlier = {day: leads for day, leads in db.session.execute(sa.select(ReportDay.day, ReportDay.leads).where(
        ReportDay.day.between(previous.first, previous.last)))}
    buckets = period.buckets()
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(buckets))
    before = []
    for position, bucket in enumerate(buckets):
        for day in ReportRange(bucket.first, bucket.last).each_day():
            for source, source_counts in days[day].groups["source"].items():
                counts[source][position] += source_counts[0]
        shifted = ReportRange(bucket.first - timedelta(days=period.days), bucket.last - timedelta(days=period.days))
        before.append(sum(earlier.get(day, 0) for day in shifted.each_day()))
    sources = sorted(counts, key=lambda source: (-sum(counts[source]), source))
    return LeadsOverTime(buckets=buckets, sources=sources, counts={source: counts[source] for source in sources},
                         previous=before)


def top_askers(period: ReportRange, limit: int = TOP_ASKERS) -> list[Asker]:
    """The people with the most repeat enquiries in the range (their first may be earlier), most first."""
    count = sa.func.count().label("repeats")
    top = db.session.execute(
        sa.select(ReportRepeat.repeat_of, count).where(ReportRepeat.day.between(period.first, period.last))
        .group_by(ReportRepeat.repeat_of).order_by(count.desc(), ReportRepeat.repeat_of).limit(limit)).all()
    ids = [lead_id for lead_id, _ in top]
    firsts = {lead.id: lead for lead in db.session.scalars(sa.select(Lead).where(Lead.id.in_(ids)))} if ids else {}
    return [Asker(first_lead_id=lead_id, name=firsts[lead_id].name, first_asked=to_ist(firsts[lead_id].created_at),
                  repeats=repeats) for lead_id, repeats in top if lead_id in firsts]
