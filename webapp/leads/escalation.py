"""Escalation: a lead nobody contacted within ESCALATE_AFTER_MINUTES of business time is reported to the managers.

Once per lead, however many workers and hosts look: a lead is claimed by a
conditional UPDATE (still not contacted, not yet escalated), and only the
transaction whose UPDATE changed the row writes the `escalated` timeline entry
and queues the managers' mail, in that same transaction.
"""
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from webapp.auth.models import User
from webapp.extensions import db
from webapp.leads.activity import record_activity
from webapp.leads.mails import escalation_mail
from webapp.database import utcnow
from webapp.leads.models import Lead
from webapp.leads.outbox import queue_mail
from webapp.leads.silence import BusinessHours

BATCH = 100
# Business minutes can span a night: a lead older than this is history, not something to escalate now.
LOOKBACK = timedelta(days=7)
# Leads stored before working the leads existed read as routed on 2000-01-01: nobody was meant to contact them.
WORKED_SINCE = datetime(2000, 1, 2, tzinfo=UTC)


def _candidates(now: datetime, minutes: float) -> list[tuple[int, datetime]]:
    # Wall-clock time is at least business time: only leads this old can be late (the created_at index bounds it).
    query = (sa.select(Lead.id, Lead.created_at)
             .where(Lead.first_contacted_at.is_(None), Lead.escalated_at.is_(None),
                    Lead.created_at > now - LOOKBACK, Lead.created_at <= now - timedelta(minutes=minutes),
                    sa.or_(Lead.routed_at.is_(None), Lead.routed_at > WORKED_SINCE))
             .order_by(Lead.created_at, Lead.id).limit(BATCH))
    return [(lead_id, created_at) for lead_id, created_at in db.session.execute(query)]


def _claim(lead_id: int, now: datetime) -> bool:
    claimed = db.session.execute(
        sa.update(Lead).where(Lead.id == lead_id, Lead.escalated_at.is_(None), Lead.first_contacted_at.is_(None))
        .values(escalated_at=now).execution_options(synchronize_session=False))
    return claimed.rowcount == 1


def escalate_late_leads(config, now: datetime | None = None) -> int:
    """Escalate every lead now late for its first contact; how many this call escalated."""
    minutes = float(config["ESCALATE_AFTER_MINUTES"])
    if minutes <= 0:
        return 0
    now = now or utcnow()
    hours = BusinessHours.parse(config["BUSINESS_HOURS"])
    late = [lead_id for lead_id, created_at in _candidates(now, minutes)
            if hours.seconds_between(created_at, now) >= minutes * 60]
    db.session.rollback()
    escalated = 0
    for lead_id in late:
        if not _claim(lead_id, now):
            db.session.rollback()  # another worker got there first, or someone called meanwhile
            continue
        lead = db.session.get(Lead, lead_id)
        managers = list(db.session.scalars(sa.select(User).where(User.active, User.role == "manager")
                                           .order_by(User.id)))
        record_activity(lead_id, None, "escalated", {"after_minutes": minutes, "owner_id": lead.owner_id}, now)
        queue_mail(escalation_mail(lead, lead.owner, managers, minutes))
        db.session.commit()
        escalated += 1
    return escalated
