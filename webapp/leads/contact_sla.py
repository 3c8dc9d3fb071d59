"""How long a new lead has waited for its first contact, in business minutes, against FIRST_CONTACT_SLA_MINUTES."""
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from webapp.leads.models import Lead
from webapp.leads.silence import BusinessHours


@dataclass(frozen=True)
class FirstContactDue:
    """The age badge of a lead nobody has contacted yet: "ok", "amber" past half the SLA, "late" past it."""

    minutes: int  # business minutes waited so far
    state: str
    sla_minutes: float


def first_contact_due(lead: Lead, now: datetime, sla_minutes: float | None = None,
                      hours: BusinessHours | None = None) -> FirstContactDue | None:
    """The lead's wait for a first contact; None once someone called, messaged, wrote a note or set a status.

    `sla_minutes` and `hours` default to the app's FIRST_CONTACT_SLA_MINUTES and BUSINESS_HOURS.
    """
    if lead.first_contacted_at is not None:
        return None
    if sla_minutes is None:
        sla_minutes = current_app.config["FIRST_CONTACT_SLA_MINUTES"]
    if hours is None:
        hours = BusinessHours.parse(current_app.config["BUSINESS_HOURS"])
    waited = hours.seconds_between(lead.created_at, now) / 60
    if waited > sla_minutes:
        state = "late"
    elif waited > sla_minutes / 2:
        state = "amber"
    else:
        state = "ok"
    return FirstContactDue(minutes=int(waited), state=state, sla_minutes=sla_minutes)
