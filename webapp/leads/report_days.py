"""Per-day summaries of the leads: a report over two years reads 730 small rows, not a million leads.

`report_days` holds one row per IST day: that day's leads counted by source,
campaign, model, lost reason, owner and funnel stage, the day's own speed
percentiles, and the arrival clocks of its leads nobody has contacted yet (so
"late" can be judged at any later moment) and, as packed floats, each owner's
sorted business seconds to first contact, from which the range's exact
percentiles are selected without sorting (report_facts.select_percentile).
`report_repeats` holds one row per repeat enquiry (day, lead, first enquiry)
for the people who asked most.

How they stay correct as leads arrive and change (`refresh`, run by every
report before it reads):
- Every new lead has an id above the lead mark, and every change to a lead
  (status, first contact, owner, repeat link) writes a `lead_activity` row with
  an id above the activity mark: the days of those leads are rebuilt from the
  leads table when next asked for.
- The marks move only to ids seen at least SETTLE_SECONDS earlier, so a lead
  whose transaction took its id before a refresh but committed after it is
  still caught by the next refresh.
- A day built under other FIRST_CONTACT_SLA_MINUTES or BUSINESS_HOURS is rebuilt.
- Leads deleted or edited with SQL by hand write no activity: run `flask reports
  rebuild` afterwards (it also builds every day at once, e.g. after a deploy).
"""
from collections import defaultdict
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.leads.locks import locked
from webapp.database import BigId, UTCDateTime
from webapp.leads.models import Lead, LeadActivity
from webapp.leads.report_facts import DayFacts
from webapp.leads.report_range import ReportRange
from webapp.leads.report_sql import (ReportSettings, business_clock, first_contact_seconds, ist_date,
                                     ist_day_number, lead_source, number)
from webapp.leads.timezones import IST, ist_day_start

SETTLE_SECONDS = 60  # longer than any transaction that inserts a lead or an activity may stay open
IN_FLIGHT = 100  # more ids than can be handed out and not yet committed at once (threads × workers × hosts)
BUILD_DAYS_AT_ONCE = 31  # one query per month of leads: well inside the statement timeout
EPOCH_DAY = date(1970, 1, 1)
GROUPS = ("source", "campaign", "car_model")


class ReportDay(db.Model):
    """One IST day's leads, summed (the facts as JSON: see DayBuilder)."""

    __tablename__ = "report_days"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    settings: Mapped[str]  # the SLA and business hours it was built with
    leads: Mapped[int]
    facts: Mapped[str] = mapped_column(sa.Text)
    contact_seconds: Mapped[bytes] = mapped_column(sa.LargeBinary)  # see DayFacts.packed_seconds
    built_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReportRepeat(db.Model):
    """One repeat enquiry: its day and the person's first enquiry (for the people who asked most)."""

    __tablename__ = "report_repeats"
    # The range's repeats per person, counted from an index alone (the planner picks it for long ranges).
    __table_args__ = (sa.Index("ix_report_repeats_repeat_of_day", "repeat_of", "day"),)

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    lead_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    repeat_of: Mapped[int] = mapped_column(BigId)


class ReportMarks(db.Model):
    """How far the summaries have looked: ids up to the marks are in them; the next marks wait to settle."""

    __tablename__ = "report_marks"

    id: Mapped[int] = mapped_column(primary_key=True)  # one row, id 1
    lead_mark: Mapped[int] = mapped_column(BigId, default=0)
    activity_mark: Mapped[int] = mapped_column(BigId, default=0)
    next_lead_mark: Mapped[int] = mapped_column(BigId, default=0)
    next_activity_mark: Mapped[int] = mapped_column(BigId, default=0)
    next_marks_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def fingerprint(settings: ReportSettings) -> str:
    """The settings a day's summary depends on."""
    return f"{settings.sla_minutes:g} min; {settings.hours.opens:%H:%M}-{settings.hours.closes:%H:%M}"


def refresh(period: ReportRange, settings: ReportSettings, now: datetime) -> None:
    """Forget the days whose leads arrived or changed, then build every missing day of `period` up to today."""
    marks = db.session.scalar(locked(sa.select(ReportMarks).where(ReportMarks.id == 1))) or _first_marks()
    _forget(_changed_days(marks))
    if marks.next_marks_at is None or now - marks.next_marks_at >= timedelta(seconds=SETTLE_SECONDS):
        marks.lead_mark, marks.activity_mark = marks.next_lead_mark, marks.next_activity_mark
        marks.next_lead_mark = db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(Lead.id), 0)))
        marks.next_activity_mark = db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(LeadActivity.id), 0)))
        marks.next_marks_at = now
    last = min(period.last, now.astimezone(IST).date())
    if period.first <= last:
        _build_missing(ReportRange(period.first, last), settings)
    db.session.commit()


def _first_marks() -> ReportMarks:
    # No day is summed yet, so nothing before now can have changed one; only leads in flight right now could be
    # missed, and they are among the last IN_FLIGHT ids.
    lead_mark = max(db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(Lead.id), 0))) - IN_FLIGHT, 0)
    activity_mark = max(db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(LeadActivity.id), 0))) - IN_FLIGHT, 0)
    marks = ReportMarks(id=1, lead_mark=lead_mark, activity_mark=activity_mark, next_lead_mark=lead_mark,
                        next_activity_mark=activity_mark)
    db.session.add(marks)
    return marks


def rebuild(settings: ReportSettings, now: datetime) -> int:
    """Forget every summary and build every day from the first lead to today; how many days were built."""
    db.session.execute(sa.delete(ReportDay))
    db.session.execute(sa.delete(ReportRepeat))
    db.session.execute(sa.delete(ReportMarks))  # nothing is summed: start the marks afresh
    first = db.session.scalar(sa.select(sa.func.min(Lead.created_at)))
    today = now.astimezone(IST).date()
    period = ReportRange(first.astimezone(IST).date() if first else today, today)
    refresh(period, settings, now)
    return period.days


def _changed_days(marks: ReportMarks) -> set[date]:
    dialect = db.session.get_bind().dialect.name
    day = ist_day_number(Lead.created_at, dialect)
    new = sa.select(day).where(Lead.id > marks.lead_mark)
    changed = sa.select(day).join(LeadActivity, LeadActivity.lead_id == Lead.id).where(
        LeadActivity.id > marks.activity_mark)
    numbers = db.session.scalars(sa.union(new, changed))
    return {EPOCH_DAY + timedelta(days=int(number)) for number in numbers}


def _forget(days: set[date]) -> None:
    if days:
        db.session.execute(sa.delete(ReportDay).where(ReportDay.day.in_(days)))
        db.session.execute(sa.delete(ReportRepeat).where(ReportRepeat.day.in_(days)))


def _build_missing(period: ReportRange, settings: ReportSettings) -> None:
    wanted = fingerprint(settings)
    built = set(db.session.scalars(sa.select(ReportDay.day).where(
        ReportDay.day.between(period.first, period.last), ReportDay.settings == wanted)))
    missing = [day for day in period.each_day() if day not in built]
    _forget(set(missing))
    while missing:
        # Contiguous runs of up to BUILD_DAYS_AT_ONCE days, one query each.
        run = [missing.pop(0)]
        while missing and missing[0] == run[-1] + timedelta(days=1) and len(run) < BUILD_DAYS_AT_ONCE:
            run.append(missing.pop(0))
        _build(run[0], run[-1], settings, wanted)


def _build(first: date, last: date, settings: ReportSettings, wanted: str) -> None:
    dialect = db.session.get_bind().dialect.name
    sla = number(settings.sla_minutes * 60)
    seconds = first_contact_seconds(settings.hours, dialect)
    received = sa.and_(Lead.created_at >= ist_day_start(first),
                       Lead.created_at < ist_day_start(last + timedelta(days=1)))
    query = sa.select(
        ist_day_number(Lead.created_at, dialect), lead_source(), Lead.campaign, Lead.car_model, Lead.owner_id,
        Lead.status, Lead.lost_reason, Lead.repeat_of, seconds, sa.case((seconds <= sla, True), else_=False),
        business_clock(Lead.created_at, settings.hours, dialect),
    ).where(received)
    facts: dict[date, DayFacts] = defaultdict(DayFacts)
    for row in db.session.execute(query):
        facts[EPOCH_DAY + timedelta(days=int(row[0]))].add(*row[1:])
    now = datetime.now(IST)
    db.session.execute(sa.insert(ReportDay), [
        {"day": day, "settings": wanted, "leads": facts[day].leads, "facts": facts[day].to_json(),
         "contact_seconds": facts[day].packed_seconds(), "built_at": now}
        for day in ReportRange(first, last).each_day()])
    # Written by the database itself, without a round trip through Python.
    db.session.execute(sa.insert(ReportRepeat).from_select(("day", "lead_id", "repeat_of"), sa.select(
        ist_date(Lead.created_at, dialect), Lead.id, Lead.repeat_of).where(received, Lead.repeat_of.is_not(None))))
