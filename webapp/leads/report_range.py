"""The dates a report covers: IST days, chosen by a preset or by `date_from`/`date_to` in the URL."""
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from webapp.leads.search import LeadFilters
from webapp.leads.timezones import IST, ist_day_start

DAILY_UP_TO = 92  # longer ranges are shown by week, and beyond a year by month: 730 bars help nobody
WEEKLY_UP_TO = 366
MAX_DAYS = 1100  # three years: a longer range is cut to its last MAX_DAYS days rather than refused
DEFAULT_PRESET = "last_7_days"
PRESETS = {"today": "Today", "yesterday": "Yesterday", "last_7_days": "Last 7 days", "last_30_days": "Last 30 days",
           "this_month": "This month", "last_month": "Last month"}


@dataclass(frozen=True)
class Bucket:
    """Some consecutive days of a range shown as one bar or row: a day, a week (Monday on) or a month."""

    first: date
    last: date
    label: str  # "2026-11-28" (a day, or the first day of a week) or "2026-11" (a month)


@dataclass(frozen=True)
class ReportRange:
    """Inclusive IST days [first, last]."""

    first: date
    last: date

    @classmethod
    def preset(cls, name: str, today: date) -> "ReportRange":
        """The range a preset names, as seen on `today` (an IST date)."""
        if name == "today":
            return cls(today, today)
        if name == "yesterday":
            return cls(today - timedelta(days=1), today - timedelta(days=1))
        if name == "last_30_days":
            return cls(today - timedelta(days=29), today)
        if name == "this_month":
            return cls(today.replace(day=1), today)
        if name == "last_month":
            last = today.replace(day=1) - timedelta(days=1)
            return cls(last.replace(day=1), last)
        return cls(today - timedelta(days=6), today)

    @classmethod
    def from_args(cls, args, now: datetime) -> "ReportRange":
        """`date_from`/`date_to` from a query string (either may be missing); the default preset otherwise."""
        today = now.astimezone(IST).date()
        dates = LeadFilters.from_args(args)  # the list's reading of dates: a malformed one is ignored
        first, last = dates.date_from, dates.date_to
        if first is None and last is None:
            return cls.preset(DEFAULT_PRESET, today)
        first = first or last
        last = last or max(first, today)
        if first > last:
            first, last = last, first
        return cls(max(first, last - timedelta(days=MAX_DAYS - 1)), last)

    @property
    def days(self) -> int:
        """How many days the range covers."""
        return (self.last - self.first).days + 1

    def previous(self) -> "ReportRange":
        """The same number of days just before this range (the faint line on the leads-per-day chart)."""
        return ReportRange(self.first - timedelta(days=self.days), self.first - timedelta(days=1))

    @property
    def unit(self) -> str:
        """What one bar of the per-period charts covers: "day", "week" or "month"."""
        if self.days <= DAILY_UP_TO:
            return "day"
        return "week" if self.days <= WEEKLY_UP_TO else "month"

    def buckets(self) -> list[Bucket]:
        """The range cut into days, weeks or months (see `unit`), the first and last clipped to the range."""
        buckets, start = [], self.first
        while start <= self.last:
            if self.unit == "day":
                end = start
            elif self.unit == "week":
                end = start + timedelta(days=6 - start.weekday())
            else:
                end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
            end = min(end, self.last)
            label = f"{start:%Y-%m}" if self.unit == "month" else start.isoformat()
            buckets.append(Bucket(start, end, label))
            start = end + timedelta(days=1)
        return buckets

    def each_day(self) -> list[date]:
        """Every day of the range, in order."""
        return [self.first + timedelta(days=offset) for offset in range(self.days)]

    @property
    def starts_at(self) -> datetime:
        """The UTC instant the first day begins."""
        return ist_day_start(self.first)

    @property
    def ends_at(self) -> datetime:
        """The UTC instant after the last day ends."""
        return ist_day_start(self.last + timedelta(days=1))

    def to_args(self) -> dict[str, str]:
        """The range as the list's and this page's query-string arguments."""
        return {"date_from": self.first.isoformat(), "date_to": self.last.isoformat()}

    def preset_name(self, today: date) -> str | None:
        """The preset this range equals on `today`, if any (to mark it as chosen)."""
        return next((name for name in PRESETS if ReportRange.preset(name, today) == self), None)
