"""What a day's summary holds (DayFacts), built lead by lead from the leads table and kept as JSON in report_days."""
import json
import math
from dataclasses import dataclass, field

GROUPS = ("source", "campaign", "car_model")
# Per group key: how many leads, and how many of them reached each step (report_sql.stage_condition) or were repeats.
COUNTS = ("leads", "contacted", "test_drive", "booked", "lost", "repeats")


def percentile(ordered: list[float], fraction: float) -> float | None:
    """percentile_cont of already sorted values (PostgreSQL's interpolation)."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class OwnerDay:
    """One owner's leads of the day ("" is nobody): counts, and when each not-yet-contacted lead arrived."""

    leads: int = 0
    contacted: int = 0
    in_time: int = 0
    waiting: list[float] = field(default_factory=list)  # business clocks of arrival (BusinessHours.clock)


@dataclass
class DayFacts:
    """One IST day's leads, summed."""

    leads: int = 0
    groups: dict[str, dict[str, list[int]]] = field(default_factory=lambda: {name: {} for name in GROUPS})
    lost_reasons: dict[str, int] = field(default_factory=dict)
    owners: dict[str, OwnerDay] = field(default_factory=dict)
    median: float | None = None  # business seconds to first contact, the day's contacted leads
    p90: float | None = None
    seconds: list[float] = field(default_factory=list)  # only while building

    def add(self, source: str, campaign: str | None, car_model: str | None, owner_id: int | None, status: str,
            lost_reason: str | None, repeat_of: int | None, seconds: float | None, in_time: bool,
            clock: float) -> None:
        """Count one lead: `seconds` to first contact (None: not yet), `in_time` within the SLA, `clock` its arrival."""
        contacted = seconds is not None
        steps = (1, contacted, status in ("test_drive", "booked"), status == "booked", status == "lost",
                 repeat_of is not None)
        self.leads += 1
        for name, key in zip(GROUPS, (source, campaign or "", car_model or "")):
            counts = self.groups[name].setdefault(key, [0] * len(COUNTS))
            for position, reached in enumerate(steps):
                counts[position] += int(reached)
        if status == "lost" and lost_reason:
            self.lost_reasons[lost_reason] = self.lost_reasons.get(lost_reason, 0) + 1
        owner = self.owners.setdefault(str(owner_id) if owner_id is not None else "", OwnerDay())
        owner.leads += 1
        if contacted:
            owner.contacted += 1
            owner.in_time += int(bool(in_time))
            self.seconds.append(seconds)
        else:
            owner.waiting.append(clock)

    def to_json(self) -> str:
        """The stored form (the day's percentiles computed; each lead's contact time is in report_leads)."""
        ordered = sorted(self.seconds)
        return json.dumps({
            "groups": self.groups, "lost_reasons": self.lost_reasons,
            "owners": {key: [owner.leads, owner.contacted, owner.in_time, owner.waiting]
                       for key, owner in self.owners.items()},
            "median": percentile(ordered, 0.5), "p90": percentile(ordered, 0.9)}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "DayFacts":
        """A stored day read back."""
        data = json.loads(text)
        owners = {key: OwnerDay(leads, contacted, in_time, waiting)
                  for key, (leads, contacted, in_time, waiting) in data["owners"].items()}
        return cls(leads=sum(owner.leads for owner in owners.values()), groups=data["groups"],
                   lost_reasons=data["lost_reasons"], owners=owners,
                   median=data["median"], p90=data["p90"])
