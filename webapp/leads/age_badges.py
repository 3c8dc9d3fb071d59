"""The list's age badges: how long each uncontacted lead has waited, and what the page's script needs to keep counting.

The state (ok, amber, late) comes from `contact_sla.first_contact_due`; this adds
whether business hours are open now, so the script counts only while they are.
"""
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from webapp.leads.contact_sla import first_contact_due
from webapp.leads.models import Lead
from webapp.leads.silence import BusinessHours
from webapp.leads.timezones import to_ist


@dataclass(frozen=True)
class AgeBadge:
    """What one lead's badge shows and the thresholds (in seconds of waiting) at which it turns amber and red."""

    minutes: int
    state: str
    amber_after: int
    late_after: int
    counting: bool  # inside business hours now
    stops_in: int  # seconds until business hours close (0 when not counting)

    @property
    def label(self) -> str:
        """ "4 min", "2 h 5 min": business time waited."""
        hours, minutes = divmod(self.minutes, 60)
        return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def seconds_until_closing(hours: BusinessHours, now: datetime) -> int:
    """Seconds until business hours close today; 0 when they are not open now."""
    local = to_ist(now)
    if not hours.opens <= local.time() < hours.closes:
        return 0
    closing = local.replace(hour=hours.closes.hour, minute=hours.closes.minute, second=hours.closes.second,
                            microsecond=0)
    return max(int((closing - local).total_seconds()), 0)


def age_badges(leads: list[Lead], now: datetime) -> dict[int, AgeBadge]:
    """{lead id: its badge} for the leads nobody has contacted yet."""
    sla_minutes = float(current_app.config["FIRST_CONTACT_SLA_MINUTES"])
    hours = BusinessHours.parse(current_app.config["BUSINESS_HOURS"])
    stops_in = seconds_until_closing(hours, now)
    badges = {}
    for lead in leads:
        due = first_contact_due(lead, now, sla_minutes, hours)
        if due is not None:
            badges[lead.id] = AgeBadge(minutes=due.minutes, state=due.state, amber_after=int(sla_minutes * 30),
                                       late_after=int(sla_minutes * 60), counting=stops_in > 0, stops_in=stops_in)
    return badges
