"""What a day's summary holds (DayFacts), built lead by lead from the leads table and kept in report_days:
counts as JSON, and each owner's sorted business seconds to first contact as packed floats."""
import json
import math
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat

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


def select_percentile(runs: list[Sequence[float]], fraction: float) -> float | None:
    """percentile of the values of many sorted runs together, without merging them (the same as `percentile`)."""
    runs = [run for run in runs if len(run)]
    count = sum(len(run) for run in runs)
    if not count:
        return None
    position = (count - 1) * fraction
    low = math.floor(position)
    below = _kth_smallest(runs, low)
    above = below
    if low + 1 < count and _count_up_to(runs, below) <= low + 1:
        above = _next_above(runs, below)
    return below + (above - below) * (position - low)


def _next_above(runs: list[Sequence[float]], value: float) -> float:
    """The smallest value greater than `value` (there is one)."""
    candidates = []
    for run in runs:
        index = bisect_right(run, value)
        if index < len(run):
            candidates.append(run[index])
    return min(candidates)


FEW = 512  # values left to sort once the interval holding the k-th is this small


def _count_up_to(runs: list[Sequence[float]], value: float) -> int:
    return sum(map(bisect_right, runs, repeat(value)))


def _kth_smallest(runs: list[Sequence[float]], k: int) -> float:
    """The k-th smallest value (from 0): halve a value interval (low, high] holding it, counting with a binary
    search per run, until few values lie inside; then sort just those."""
    low, high = min(run[0] for run in runs), max(run[-1] for run in runs)
    below = _count_up_to(runs, low)  # values <= low
    if below > k:
        return low
    inside = _count_up_to(runs, high) - below
    while inside > FEW:
        middle = (low + high) / 2
        if not low < middle < high:  # no float left between them
            break
        up_to_middle = _count_up_to(runs, middle)
        if up_to_middle > k:
            high, inside = middle, up_to_middle - below
        else:
            low, below, inside = middle, up_to_middle, inside - (up_to_middle - below)
    between = sorted(value for run in runs for value in run[bisect_right(run, low):bisect_right(run, high)])
    return between[k - below]


@dataclass
class OwnerDay:
    """One owner's leads of the day ("" is nobody): counts, and when each not-yet-contacted lead arrived."""

    leads: int = 0
    contacted: int = 0
    in_time: int = 0
    waiting: list[float] = field(default_factory=list)  # business clocks of arrival (BusinessHours.clock)
    seconds: Sequence[float] = field(default_factory=list)  # to first contact, sorted


@dataclass
class DayFacts:
    """One IST day's leads, summed."""

    leads: int = 0
    groups: dict[str, dict[str, list[int]]] = field(default_factory=lambda: {name: {} for name in GROUPS})
    lost_reasons: dict[str, int] = field(default_factory=dict)
    owners: dict[str, OwnerDay] = field(default_factory=dict)

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
            owner.seconds.append(seconds)
        else:
            owner.waiting.append(clock)

    def to_json(self) -> str:
        """The stored counts (the owners' contact times go to packed_seconds)."""
        return json.dumps({
            "groups": self.groups, "lost_reasons": self.lost_reasons,
            "owners": {key: [owner.leads, owner.contacted, owner.in_time, owner.waiting]
                       for key, owner in self.owners.items()}}, separators=(",", ":"))

    def packed_seconds(self) -> bytes:
        """Each owner's contact times, sorted, as 4-byte floats, owners in the order of to_json's "owners"."""
        return b"".join(array("f", sorted(owner.seconds)).tobytes() for owner in self.owners.values())

    @classmethod
    def from_json(cls, text: str, packed: bytes = b"") -> "DayFacts":
        """A stored day read back."""
        data = json.loads(text)
        seconds, owners, start = array("f", packed), {}, 0
        for key, (leads, contacted, in_time, waiting) in data["owners"].items():
            owners[key] = OwnerDay(leads, contacted, in_time, waiting, seconds[start:start + contacted])
            start += contacted
        return cls(leads=sum(owner.leads for owner in owners.values()), groups=data["groups"],
                   lost_reasons=data["lost_reasons"], owners=owners)
