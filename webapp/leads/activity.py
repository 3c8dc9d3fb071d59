"""The timeline's rows, and the errors a refused action on a lead raises (shared by pipeline, routing, manual)."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import load_only

from webapp.auth.models import User
from webapp.extensions import db
from webapp.leads.mails import new_lead_mail
from webapp.leads.models import Lead, LeadActivity
from webapp.leads.outbox import queue_mail, queue_mails

MAX_NOTE_CHARS = 2000


class LeadActionError(Exception):
    """An action on a lead was refused; `str(error)` is a sentence to show the person."""


class NotAllowed(LeadActionError):
    """This person may not do this to this lead (a 403 on a page)."""


class InvalidChange(LeadActionError):
    """The change itself makes no sense, e.g. lost without a reason (a 400 on a page)."""


def record_activity(lead_id: int, user_id: int | None, kind: str, details: dict | None,
                    at: datetime) -> LeadActivity:
    """Add one timeline row to the session (the caller commits); `user_id` None means the system."""
    activity = LeadActivity(lead_id=lead_id, user_id=user_id, kind=kind, details=details, created_at=at)
    db.session.add(activity)
    return activity


def give_lead(lead: Lead, owner, actor_id: int | None, by: str, at: datetime) -> None:
    """Make `owner` (a User, or None for nobody) the lead's owner, with an `assigned` row saying how (`by`).

    The owner gets a mail in the same transaction, unless they took it themselves or asked for none.
    """
    lead.owner_id = owner.id if owner is not None else None
    lead.assigned_at = at if owner is not None else None
    record_activity(lead.id, actor_id, "assigned",
                    {"owner_id": lead.owner_id, "owner_name": owner.name if owner else None, "by": by}, at)
    if owner is not None and owner.id != actor_id and owner.mail_new_leads:
        queue_mail(new_lead_mail(lead, owner))


# What a new-lead mail says of a lead (webapp.leads.mails): its payload is never read for it.
MAILED_COLUMNS = (Lead.id, Lead.name, Lead.phone_number, Lead.phone_normalized, Lead.car_model, Lead.campaign,
                  Lead.utm_source, Lead.platform)


def mail_new_owners(owner_by_lead: dict[int, int]) -> None:
    """Queue the new-lead mail of each {lead id: owner id} the router just decided (the caller commits)."""
    if not owner_by_lead:
        return
    owners = {user.id: user for user in db.session.scalars(
        sa.select(User).where(User.id.in_(set(owner_by_lead.values())), User.mail_new_leads))}
    mailed = [lead_id for lead_id, owner_id in owner_by_lead.items() if owner_id in owners]
    if not mailed:
        return
    leads = db.session.scalars(sa.select(Lead).where(Lead.id.in_(mailed)).options(load_only(*MAILED_COLUMNS)))
    queue_mails(new_lead_mail(lead, owners[owner_by_lead[lead.id]]) for lead in leads)
