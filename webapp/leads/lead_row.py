"""A new lead's row from a validated submission, however it arrived (webhook, spool, recovery, tests)."""
import uuid
from datetime import datetime

from webapp.database import utcnow
from webapp.leads.models import Lead
from webapp.leads.phones import normalize_phone
from webapp.leads.submission import LeadSubmission


def new_intake_id() -> str:
    """A random, unique id for one received lead."""
    return uuid.uuid4().hex


def lead_columns(submission: LeadSubmission, platform: str, received_at: datetime | None = None,
                 intake_id: str | None = None) -> dict:
    """The column values of a lead; `platform` comes from the caller, never the payload."""
    return dict(
        platform=platform,
        name=submission.name,
        phone_number=submission.phone_number,
        phone_normalized=normalize_phone(submission.phone_number),
        payload=submission.payload,
        created_at=received_at or utcnow(),
        intake_id=intake_id,
        **submission.columns,
    )


def build_lead(submission: LeadSubmission, platform: str, received_at: datetime | None = None,
               intake_id: str | None = None) -> Lead:
    """A new, unsaved Lead row."""
    return Lead(**lead_columns(submission, platform, received_at, intake_id))
