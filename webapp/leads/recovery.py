"""Turn a rejected-but-recoverable webhook request (a 429, or a body fixed by hand) into a lead."""
from dataclasses import dataclass

import sqlalchemy as sa

from webapp.extensions import db
from webapp.intake.intake_log import IntakeEvent
from webapp.database import utcnow
from webapp.leads.models import Lead
from webapp.leads.lead_row import build_lead, new_intake_id
from webapp.leads.submission import parse_submission


class NotRecoverable(Exception):
    """This intake row cannot become a lead; the message says why, for people."""


@dataclass(frozen=True)
class Recovery:
    """The lead stored from an intake row, and whether its body was corrected by hand."""

    lead: Lead
    corrected: bool


def _same_text(a: bytes, b: bytes) -> bool:
    """Equal but for line endings (a browser's textarea sends CRLF)."""
    return a.replace(b"\r\n", b"\n") == b.replace(b"\r\n", b"\n")


def recover_lead(event_id: int, corrected_body: bytes | None = None, platform: str = "CarDekho") -> Recovery:
    """Store the lead a rejected request carried, received at the request's time; mark the row recovered.

    `corrected_body` replaces the kept body (an admin's fix of a 400). Raises
    `NotRecoverable`, or `InvalidSubmission` when the body still is not a lead.
    Two admins pressing at once store it once: the row is locked while it is read.
    """
    event = db.session.scalar(sa.select(IntakeEvent).where(IntakeEvent.id == event_id).with_for_update())
    if event is None:
        raise NotRecoverable(f"No intake log entry #{event_id}.")
    if event.recovered_lead_id is not None:
        raise NotRecoverable(f"Entry #{event_id} was already stored as lead #{event.recovered_lead_id}.")
    if not event.recoverable:
        raise NotRecoverable(f"Entry #{event_id} is not a rejected request from a valid key with a kept body.")
    if corrected_body is not None and _same_text(corrected_body, event.body):
        corrected_body = None  # the form sent the kept body back unchanged
    if event.body_truncated and corrected_body is None:
        raise NotRecoverable(f"Entry #{event_id} kept only the start of its body; paste the corrected lead.")
    submission = parse_submission(corrected_body if corrected_body is not None else event.body)
    lead = build_lead(submission, platform, received_at=event.received_at, intake_id=new_intake_id())
    db.session.add(lead)
    db.session.flush()
    event.recovered_lead_id, event.recovered_at = lead.id, utcnow()
    db.session.commit()
    return Recovery(lead, corrected=corrected_body is not None)
