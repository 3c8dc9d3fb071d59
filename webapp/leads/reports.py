"""The numbers managers ask for, for a range of IST days: one query layer for the reports page, its CSVs and mails.

No HTTP here. `build_reports` answers with plain dataclasses; report_tables.py
turns them into the tables (and CSVs, and chart data) people see. Each count
is defined exactly as a lead-list filter, so a report and the list agree:
a lead's source is `source`, its funnel stage `stage`, a speed count `contact`.
"""
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.leads.models import Lead
from webapp.leads.report_range import ReportRange
from webapp.leads.report_speed import ReportSettings, SpeedReport, speed_to_lead
from webapp.leads.report_sql import ist_day_number, lead_source
from webapp.leads.timezones import to_ist

TOP = 15  # models and campaigns shown by name; the rest are summed as "Other"
TOP_ASKERS = 10
EPOCH_DAY = date(1970, 1, 1)


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
class DailyLeads:
    """Leads per IST day, by source, and the previous period's totals day by day."""

    days: list[date]
    sources: list[str]  # most leads first
    counts: dict[str, list[int]]  # source -> count per day
    previous: list[int]


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
    daily: DailyLeads
    speed: SpeedReport
    total: Funnel
    by_source: list[Funnel]
    by_campaign: list[Funnel]
    by_model: list[Funnel]
    lost_reasons: dict[str, int]
    repeats: int
    askers: list[Asker] = field(default_factory=list)


def in_period(period: ReportRange):
    """The SQL condition for leads received within the range."""
    return sa.and_(Lead.created_at >= period.starts_at, Lead.created_at < period.ends_at)


def build_reports(period: ReportRange, settings: ReportSettings, now: datetime) -> Reports:
    """Every report for `period`, as of `now`."""
    rows = _stage_counts(period)
    total = Funnel(key=None)
    by = {"source": {}, "campaign": {}, "car_model": {}}
    lost_reasons: Counter = Counter()
    repeats = 0
    for row in rows:
        funnel = Funnel(None, row.leads, row.contacted, row.test_drive, row.booked, row.lost)
        total.add(funnel)
        for name, groups in by.items():
            key = getattr(row, name) or None
            groups.setdefault(key, Funnel(key=key)).add(funnel)
        if row.lost_reason:
            lost_reasons[row.lost_reason] += row.lost
        repeats += row.repeats
    return Reports(period=period, daily=leads_per_day(period), speed=speed_to_lead(period, settings, now),
                   total=total, by_source=_ranked(by["source"]), by_campaign=_ranked(by["campaign"]),
                   by_model=_ranked(by["car_model"]), lost_reasons=dict(lost_reasons.most_common()),
                   repeats=repeats, askers=top_askers(period))


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


def _stage_counts(period: ReportRange) -> list:
    """One pass over the range: lead counts by source, campaign, model and lost reason, per funnel stage."""
    reached = {"contacted": Lead.first_contacted_at.is_not(None), "test_drive": Lead.status.in_(("test_drive",
               "booked")), "booked": Lead.status == "booked", "lost": Lead.status == "lost",
               "repeats": Lead.repeat_of.is_not(None)}
    leads = sa.select(lead_source().label("source"), Lead.campaign, Lead.car_model, Lead.lost_reason,
                      *(sa.case((condition, 1), else_=0).label(name) for name, condition in reached.items())
                      ).where(in_period(period)).subquery()
    keys = (leads.c.source, leads.c.campaign, leads.c.car_model, leads.c.lost_reason)
    return list(db.session.execute(
        sa.select(*keys, sa.func.count().label("leads"), *(sa.func.sum(leads.c[name]).label(name)
                                                          for name in reached)).group_by(*keys)))


def leads_per_day(period: ReportRange) -> DailyLeads:
    """Leads per IST day and source in `period`, with the previous period's daily totals."""
    previous = period.previous()
    dialect = db.session.get_bind().dialect.name
    leads = sa.select(ist_day_number(Lead.created_at, dialect).label("day"), lead_source().label("source")).where(
        Lead.created_at >= previous.starts_at, Lead.created_at < period.ends_at).subquery()
    rows = db.session.execute(sa.select(leads.c.day, leads.c.source, sa.func.count().label("leads"))
                              .group_by(leads.c.day, leads.c.source))
    days = period.each_day()
    index = {day: position for position, day in enumerate(days)}
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    earlier = [0] * len(days)
    for row in rows:
        day = EPOCH_DAY + timedelta(days=int(row.day))
        if day in index:
            counts[row.source][index[day]] += row.leads
        elif previous.first <= day <= previous.last:
            earlier[(day - previous.first).days] += row.leads
    sources = sorted(counts, key=lambda source: (-sum(counts[source]), source))
    return DailyLeads(days=days, sources=sources, counts={source: counts[source] for source in sources},
                      previous=earlier)


def top_askers(period: ReportRange, limit: int = TOP_ASKERS) -> list[Asker]:
    """The people with the most repeat enquiries in the range (their first may be earlier), most first."""
    rows = db.session.execute(
        sa.select(Lead.repeat_of, sa.func.count().label("repeats")).where(Lead.repeat_of.is_not(None),
                                                                          in_period(period))
        .group_by(Lead.repeat_of).order_by(sa.func.count().desc(), Lead.repeat_of).limit(limit)).all()
    firsts = {lead.id: lead for lead in db.session.scalars(sa.select(Lead).where(Lead.id.in_([r[0] for r in rows])))}
    return [Asker(first_lead_id=lead_id, name=firsts[lead_id].name, first_asked=to_ist(firsts[lead_id].created_at),
                  repeats=repeats) for lead_id, repeats in rows]

