"""Store leads."""
from datetime import datetime

from webapp.extensions import db
from webapp.leads.models import Lead, utcnow
from webapp.leads.phones import normalize_phone
from webapp.leads.submission import LeadSubmission


def build_lead(submission: LeadSubmission, platform: str, received_at: datetime | None = None) -> Lead:
    """A new, unsaved Lead row; `platform` comes from the route, never the payload."""
    return Lead(
        platform=platform,
        name=submission.name,
        phone_number=submission.phone_number,
        phone_normalized=normalize_phone(submission.phone_number),
        payload=submission.payload,
        created_at=received_at or utcnow(),
        **submission.columns,
    )


def store_lead(submission: LeadSubmission, platform: str) -> Lead:
    """Insert one lead and commit; the returned row has its id."""
    lead = build_lead(submission, platform)
    db.session.add(lead)
    db.session.commit()
    return lead
