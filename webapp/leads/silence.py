"""The silence alarm: no lead for too many business hours usually means the sender's side broke."""
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from webapp.leads.timezones import IST

MAX_DAYS_COUNTED = 62  # beyond two months of silence the exact number no longer matters
DAY_SECONDS = 86_400
IST_OFFSET_SECONDS = 19_800  # India is UTC+5:30 all year


@dataclass(frozen=True)
class BusinessHours:
    """Daily opening hours in India time, e.g. 09:00–20:00."""

    opens: time
    closes: time

    @classmethod
    def parse(cls, text: str) -> "BusinessHours":
        """'09:00-20:00' → BusinessHours; ValueError when it is not such a range."""
        opens, closes = (time.fromisoformat(part.strip()) for part in text.split("-"))
        if opens >= closes:
            raise ValueError("business hours must open before they close")
        return cls(opens, closes)

    def seconds_between(self, start: datetime, end: datetime) -> float:
        """Business seconds in [start, end), counting at most MAX_DAYS_COUNTED days back from `end`."""
        start = max(start, end - timedelta(days=MAX_DAYS_COUNTED))
        total, day = 0.0, start.astimezone(IST).date()
        while day <= end.astimezone(IST).date():
            window_start = datetime.combine(day, self.opens, tzinfo=IST)
            window_end = datetime.combine(day, self.closes, tzinfo=IST)
            overlap = min(end, window_end) - max(start, window_start)
            total += max(overlap.total_seconds(), 0.0)
            day += timedelta(days=1)
        return total

    def opening_seconds(self) -> tuple[int, int]:
        """(seconds after midnight the day's hours open, how many seconds they last)."""
        opens = self.opens.hour * 3600 + self.opens.minute * 60 + self.opens.second
        closes = self.closes.hour * 3600 + self.closes.minute * 60 + self.closes.second
        return opens, closes - opens

    def clock(self, moment: datetime) -> float:
        """Business seconds from 1970-01-01 (IST) to `moment`: the difference of two clocks is the time between them.

        Unlike seconds_between it has no cap, and the reports compute the same in SQL (report_sql.business_clock).
        """
        local = moment.timestamp() + IST_OFFSET_SECONDS
        day = local // DAY_SECONDS
        opens, length = self.opening_seconds()
        return day * length + min(max(local - day * DAY_SECONDS - opens, 0), length)


@dataclass(frozen=True)
class Silence:
    """How long no lead has come in, in business hours, and whether that is too long."""

    alarm: bool
    quiet_business_hours: float | None
    threshold_hours: float


def check_silence(last_lead_at: datetime | None, hours: BusinessHours, threshold_hours: float,
                  now: datetime | None = None) -> Silence:
    """The alarm is on when more than `threshold_hours` business hours passed since the last lead."""
    if last_lead_at is None or threshold_hours <= 0:
        return Silence(alarm=False, quiet_business_hours=None, threshold_hours=threshold_hours)
    quiet = hours.seconds_between(last_lead_at, now or datetime.now(UTC)) / 3600
    return Silence(alarm=quiet > threshold_hours, quiet_business_hours=round(quiet, 2),
                   threshold_hours=threshold_hours)
