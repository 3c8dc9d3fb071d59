"""India Standard Time: leads are stored in UTC and shown, filtered and exported in IST."""
from datetime import UTC, date, datetime, time, timedelta, timezone

IST = timezone(timedelta(hours=5, minutes=30), "IST")  # India keeps no daylight saving time


def ist_day_start(day: date) -> datetime:
    """The UTC instant at which `day` begins in India."""
    return datetime.combine(day, time.min, tzinfo=IST).astimezone(UTC)


def to_ist(moment: datetime) -> datetime:
    """`moment` (aware) as Indian time."""
    return moment.astimezone(IST)
