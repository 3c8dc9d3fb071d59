"""`Idempotency-Key`: a sender's retries of one lead are stored once (DESIGN.md: same key, same sender, 24 h).

The key and the sender's key label are hashed into the lead's intake id, so the
unique index on `intake_id` keeps retries to one row across workers, hosts and
the spool (a spooled retry is drained with ON CONFLICT DO NOTHING). A key is
never a reason to refuse a lead: any value is hashed, none is rejected.
"""
import hashlib
from datetime import datetime, timedelta

import sqlalchemy as sa

from webapp.leads.models import Lead

HEADER = "Idempotency-Key"
REPLAY_WINDOW = timedelta(hours=24)
REPLAYED = "replayed"
REPLAY_REASON = "Idempotency-Key seen before: the first answer again, nothing stored"


def intake_id_for(key_label: str, header_value: str | None) -> str | None:
    """The intake id every retry with this key from this sender gets; None without a key."""
    if not header_value:
        return None
    digest = hashlib.sha256(f"{key_label}\n{header_value}".encode("utf-8", "surrogatepass")).hexdigest()
    return "idem-" + digest[:40]


def earlier_lead(engine: sa.Engine, intake_id: str) -> tuple[int, datetime] | None:
    """The id and arrival time of the lead stored under `intake_id`, if any."""
    with engine.connect() as connection:
        row = connection.execute(sa.select(Lead.id, Lead.created_at).where(Lead.intake_id == intake_id)).first()
    return None if row is None else (row.id, row.created_at)


def free_expired_key(engine: sa.Engine, lead_id: int, intake_id: str) -> None:
    """A key older than the window may be used again: its old lead keeps a renamed intake id."""
    with engine.begin() as connection:
        connection.execute(sa.update(Lead).where(Lead.id == lead_id, Lead.intake_id == intake_id)
                           .values(intake_id=f"{intake_id}:{lead_id}"))
