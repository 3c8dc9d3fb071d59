"""Test data: leads stored the way the webhook stores them, at chosen times."""
from datetime import datetime

from webapp.extensions import db
from webapp.leads.lead_row import build_lead
from webapp.leads.submission import validate_submission


def add_lead(received_at: datetime | None = None, **body) -> int:
    """Store one lead (inside an app context) built from `body`; return its id."""
    body = {"name": "Asha Patil", "phone_number": "9123456789", **body}
    lead = build_lead(validate_submission(body), platform="CarDekho", received_at=received_at)
    db.session.add(lead)
    db.session.commit()
    return lead.id
