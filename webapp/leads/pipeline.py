"""Working a lead: its status, notes, owner, calls and WhatsApp presses — each a row in its timeline.

No HTTP here: the dashboard, the command line and the tests call these. Each
change checks who may make it, writes a `lead_activity` row and commits; a
refusal raises `NotAllowed` or `InvalidChange`, whose message is a sentence to
show the person. Who may change a lead: managers and admins any lead; a sales
person their own leads and unassigned ones. A call or WhatsApp press is
recorded for anyone signed in: the call happens whoever owns the lead, and the
timeline must say so.
"""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from webapp.auth.models import User
from webapp.extensions import db
from webapp.leads.contact_sla import first_contact_due  # noqa: F401  (part of this module's API)
from webapp.leads.locks import locked
from webapp.leads.manual import MANUAL_SOURCES, create_manual_lead  # noqa: F401  (part of this module's API)
from webapp.database import utcnow
from webapp.leads.models import ACTIVITY_KINDS, Lead, LeadActivity  # noqa: F401
from webapp.leads.repeats import enquiries_of, enquiry_number, enquiry_numbers  # noqa: F401
from webapp.leads.activity import (MAX_NOTE_CHARS, InvalidChange, LeadActionError, NotAllowed,  # noqa: F401
                                   give_lead, record_activity)

STATUSES = {"new": "New", "contacted": "Contacted", "test_drive": "Test drive booked", "booked": "Booked",
            "lost": "Lost"}
LOST_REASONS = {"bought_elsewhere": "Bought elsewhere", "not_interested": "Not interested", "budget": "Budget",
                "unreachable": "Unreachable", "duplicate": "Duplicate", "other": "Other"}
CONTACT_CHANNELS = ("call", "whatsapp")
MANAGER_ROLES = ("manager", "admin")
MAX_BULK = 500  # a page of the list is 50; more in one request is not a person pressing a button


def is_manager(user) -> bool:
    """Managers and admins may change and assign any lead."""
    return bool(user.active) and user.role in MANAGER_ROLES


def can_change(user, lead: Lead) -> bool:
    """Managers and admins: any lead; sales: their own leads and unassigned ones; inactive accounts: none."""
    if not user.active:
        return False
    return user.role in MANAGER_ROLES or lead.owner_id is None or lead.owner_id == user.id


def _lead_for_change(lead_id: int) -> Lead:
    lead = db.session.scalar(locked(sa.select(Lead).where(Lead.id == lead_id)))
    if lead is None:
        db.session.rollback()
        raise InvalidChange(f"There is no lead #{lead_id}.")
    return lead


def _refuse_unless_can_change(user, lead: Lead) -> None:
    if can_change(user, lead):
        return
    db.session.rollback()
    if not user.active:
        raise NotAllowed("This account is switched off.")
    owner = lead.owner.name if lead.owner else "someone else"
    raise NotAllowed(f"This lead belongs to {owner}; only they or a manager can change it.")


def _contacted(lead: Lead, now: datetime) -> None:
    if lead.first_contacted_at is None:
        lead.first_contacted_at = now


def _checked_status(status: str, lost_reason: str | None) -> str | None:
    """The lost reason to store with `status`; InvalidChange when the pair makes no sense."""
    if status not in STATUSES:
        raise InvalidChange("Choose a status from the list.")
    if status != "lost":
        return None
    if not lost_reason:
        raise InvalidChange("Choose why the lead was lost.")
    if lost_reason not in LOST_REASONS:
        raise InvalidChange("Choose a reason from the list.")
    return lost_reason


def _apply_status(lead: Lead, user, status: str, reason: str | None, now: datetime) -> bool:
    if (lead.status, lead.lost_reason) == (status, reason):
        return False
    record_activity(lead.id, user.id, "status", {"from": lead.status, "to": status, "lost_reason": reason}, now)
    lead.status, lead.lost_reason = status, reason
    _contacted(lead, now)
    return True


def set_status(lead_id: int, user, status: str, lost_reason: str | None = None) -> Lead:
    """Move a lead to `status` (`lost` needs a reason); the first change by a person is its first contact."""
    reason = _checked_status(status, lost_reason)
    lead = _lead_for_change(lead_id)
    _refuse_unless_can_change(user, lead)
    _apply_status(lead, user, status, reason, utcnow())
    db.session.commit()
    return lead


def add_note(lead_id: int, user, body: str) -> LeadActivity:
    """Add a note (1 to 2,000 characters) by `user`; the first note is the lead's first contact too."""
    body = (body or "").strip()
    if not body:
        raise InvalidChange("Write something in the note first.")
    if len(body) > MAX_NOTE_CHARS:
        raise InvalidChange(f"A note can be at most {MAX_NOTE_CHARS:,} characters; this one has {len(body):,}.")
    if "\x00" in body:
        raise InvalidChange("A note cannot contain a NUL character.")
    lead = _lead_for_change(lead_id)
    _refuse_unless_can_change(user, lead)
    now = utcnow()
    activity = record_activity(lead.id, user.id, "note", {"body": body}, now)
    _contacted(lead, now)
    db.session.commit()
    return activity


def record_contact(lead_id: int, user, channel: str) -> LeadActivity:
    """Record that `user` pressed Call or WhatsApp on a lead (any active account: the call happens anyway)."""
    if channel not in CONTACT_CHANNELS:
        raise InvalidChange("Choose Call or WhatsApp.")
    lead = _lead_for_change(lead_id)
    if not user.active:
        db.session.rollback()
        raise NotAllowed("This account is switched off.")
    now = utcnow()
    activity = record_activity(lead.id, user.id, channel, None, now)
    _contacted(lead, now)
    db.session.commit()
    return activity


def _new_owner(owner_id: int | None) -> User | None:
    if owner_id is None:
        return None
    owner = db.session.get(User, owner_id)
    if owner is None or not owner.active:
        db.session.rollback()
        raise InvalidChange("Choose an active account as the owner.")
    return owner


def assign(lead_id: int, actor, owner_id: int | None) -> Lead:
    """Managers give a lead to anyone active (None: unassigned); a sales person may take an unassigned lead."""
    lead = _lead_for_change(lead_id)
    if not is_manager(actor):
        if not actor.active or owner_id != actor.id:
            db.session.rollback()
            raise NotAllowed("Only a manager can give a lead to someone else.")
        if lead.owner_id not in (None, actor.id):
            db.session.rollback()
            raise NotAllowed(f"{lead.owner.name} has already taken this lead.")
    owner = _new_owner(owner_id)
    if lead.owner_id != owner_id:
        give_lead(lead, owner, actor.id, "manual", utcnow())
    db.session.commit()
    return lead


def _leads_for_bulk_change(lead_ids: list[int]) -> list[Lead]:
    ids = sorted(set(lead_ids))
    if len(ids) > MAX_BULK:
        raise InvalidChange(f"Choose at most {MAX_BULK} leads at a time.")
    # In id order, so two bulk changes at once lock rows in the same order and never deadlock.
    return list(db.session.scalars(locked(sa.select(Lead).where(Lead.id.in_(ids)).order_by(Lead.id)
                                          .options(selectinload(Lead.owner)))))


def bulk_assign(lead_ids: list[int], actor, owner_id: int | None) -> int:
    """Managers give many leads to one person (or unassign them); how many changed hands."""
    if not is_manager(actor):
        raise NotAllowed("Only a manager can assign leads.")
    leads = _leads_for_bulk_change(lead_ids)
    owner, now, changed = _new_owner(owner_id), utcnow(), 0
    for lead in leads:
        if lead.owner_id != owner_id:
            give_lead(lead, owner, actor.id, "manual", now)
            changed += 1
    db.session.commit()
    return changed


def bulk_set_status(lead_ids: list[int], actor, status: str, lost_reason: str | None = None) -> int:
    """Set the status of each lead `actor` may change (the others are skipped); how many changed."""
    reason = _checked_status(status, lost_reason)
    if not actor.active:
        raise NotAllowed("This account is switched off.")
    now, changed = utcnow(), 0
    for lead in _leads_for_bulk_change(lead_ids):
        if can_change(actor, lead) and _apply_status(lead, actor, status, reason, now):
            changed += 1
    db.session.commit()
    return changed


def timeline(lead_id: int) -> list[LeadActivity]:
    """Everything that happened to a lead, newest first; `.user` None means the system did it."""
    return list(db.session.scalars(
        sa.select(LeadActivity).where(LeadActivity.lead_id == lead_id)
        .order_by(LeadActivity.created_at.desc(), LeadActivity.id.desc()).options(selectinload(LeadActivity.user))))
