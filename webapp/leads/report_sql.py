"""SQL expressions the reports and the lead list share: a lead's source, its funnel stage, business time.

Business time is computed in the database so a report over a million leads
never brings a million rows into Python. `business_clock` is BusinessHours.clock
written in SQL: business seconds since 1970 in India, so the business seconds
between two moments are the difference of their clocks.
"""
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from webapp.leads.models import Lead
from webapp.leads.silence import DAY_SECONDS, IST_OFFSET_SECONDS, BusinessHours

CONTACT_STATES = ("none", "in_time", "late")  # not contacted yet; contacted within the SLA; late (or overdue)
STAGES = ("contacted", "test_drive", "booked")  # the funnel after "new": each includes the ones after it
UNIX_EPOCH_JULIAN_DAY = 2440587.5


@dataclass(frozen=True)
class ReportSettings:
    """What "late" means: FIRST_CONTACT_SLA_MINUTES of BUSINESS_HOURS."""

    sla_minutes: float
    hours: BusinessHours

    @classmethod
    def from_config(cls, config) -> "ReportSettings":
        """The app's settings."""
        return cls(float(config["FIRST_CONTACT_SLA_MINUTES"]), BusinessHours.parse(config["BUSINESS_HOURS"]))


def lead_source():
    """Where a lead came from: its utm_source, or its platform (CarDekho, Walk-in...) when it has none."""
    return sa.func.coalesce(sa.func.nullif(Lead.utm_source, ""), Lead.platform)


def stage_condition(stage: str):
    """Leads that reached `stage` of the funnel (contacted, test_drive or booked), whatever came later."""
    if stage == "contacted":
        return Lead.first_contacted_at.is_not(None)
    if stage == "test_drive":
        return Lead.status.in_(("test_drive", "booked"))
    return Lead.status == "booked"


def number(value: float):
    """A constant written into the SQL, not bound: the same expression in SELECT and GROUP BY stays the same."""
    return sa.literal_column(repr(value), sa.Float)


def _epoch_seconds(column, dialect: str):
    if dialect == "postgresql":
        return sa.func.date_part("epoch", column)
    # SQLite keeps UTC as text; julianday reads it to the millisecond.
    return (sa.func.julianday(column) - number(UNIX_EPOCH_JULIAN_DAY)) * number(DAY_SECONDS)


def _whole_days(seconds, dialect: str):
    if dialect == "postgresql":
        return sa.func.floor(seconds / number(DAY_SECONDS))
    return sa.cast(seconds / number(DAY_SECONDS), sa.Integer)  # truncation, which is floor after 1970


def _clamp(value, low, high, dialect: str):
    if dialect == "postgresql":
        return sa.func.least(sa.func.greatest(value, low), high)
    return sa.func.min(sa.func.max(value, low), high)  # SQLite's many-argument min and max


def ist_day_number(column, dialect: str):
    """The IST day of a moment, as days since 1970-01-01."""
    return _whole_days(_epoch_seconds(column, dialect) + number(IST_OFFSET_SECONDS), dialect)


def ist_date(column, dialect: str):
    """The IST date of a moment, as a date (the same day as ist_day_number)."""
    if dialect == "postgresql":
        return sa.cast(sa.func.timezone("Asia/Kolkata", column), sa.Date)
    return sa.func.date(column, "+330 minutes")  # SQLite keeps UTC as text


def business_clock(column, hours: BusinessHours, dialect: str):
    """BusinessHours.clock of a timestamp column, in SQL."""
    local = _epoch_seconds(column, dialect) + number(IST_OFFSET_SECONDS)
    day = _whole_days(local, dialect)
    opens, length = (number(value) for value in hours.opening_seconds())
    return day * length + _clamp(local - day * number(DAY_SECONDS) - opens, number(0), length, dialect)


def first_contact_seconds(hours: BusinessHours, dialect: str):
    """Business seconds from a lead's arrival to its first contact (NULL while not contacted)."""
    return business_clock(Lead.first_contacted_at, hours, dialect) - business_clock(Lead.created_at, hours, dialect)


def waited_seconds(hours: BusinessHours, now: datetime, dialect: str):
    """Business seconds from a lead's arrival to `now`."""
    return number(hours.clock(now)) - business_clock(Lead.created_at, hours, dialect)


def contact_condition(contact: str, settings: ReportSettings, now: datetime, dialect: str):
    """Leads not contacted yet ("none"), contacted within the SLA ("in_time"), or late: contacted after it, or
    not contacted and already past it ("late")."""
    sla = number(settings.sla_minutes * 60)
    if contact == "none":
        return Lead.first_contacted_at.is_(None)
    seconds = first_contact_seconds(settings.hours, dialect)
    if contact == "in_time":
        return sa.and_(Lead.first_contacted_at.is_not(None), seconds <= sla)
    return sa.or_(sa.and_(Lead.first_contacted_at.is_not(None), seconds > sla),
                  sa.and_(Lead.first_contacted_at.is_(None), waited_seconds(settings.hours, now, dialect) > sla))
