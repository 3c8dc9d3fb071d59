"""The intake log: one row per webhook request, explaining its answer.

For an authenticated request we rejected (400, 413, 415, 429) the body is kept,
capped, so that a lead CarDekho will never resend can still be recovered; raw
bodies are purged after a retention period. A stored lead's row is written in
the lead's own transaction (one extra INSERT, no extra commit).
"""
import base64
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.database import BigId, UTCDateTime, utcnow

OUTCOMES = {
    201: "stored", 400: "invalid", 401: "no_key", 403: "bad_key", 404: "not_found",
    405: "bad_method", 413: "too_large", 415: "not_json", 429: "rate_limited",
    500: "error", 503: "unavailable",
}
SPOOLED = "spooled"
SPOOLED_REASON = "database unavailable: kept in the spool"
REPAIRED = "repaired"  # stored (201) after removing what no database can hold; the row keeps the body as sent
KEEP_BODY_STATUSES = (400, 413, 415, 429)


def outcome_for(status: int) -> str:
    """The outcome name of an HTTP status."""
    return OUTCOMES.get(status, "other")


class IntakeEvent(db.Model):
    """One webhook request and how it was answered (never the key, only its label)."""

    __tablename__ = "intake_log"

    id: Mapped[int] = mapped_column(BigId, sa.Identity(), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    status: Mapped[int]
    outcome: Mapped[str] = mapped_column(index=True)
    reason: Mapped[str | None]
    source_ip: Mapped[str | None]
    key_label: Mapped[str | None]
    request_id: Mapped[str | None]
    body_size: Mapped[int | None]
    duration_ms: Mapped[float | None] = mapped_column(sa.Float)
    lead_id: Mapped[int | None] = mapped_column(sa.BigInteger, index=True)
    intake_id: Mapped[str | None]
    body: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    body_truncated: Mapped[bool] = mapped_column(default=False)
    recovered_lead_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    recovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def recoverable(self) -> bool:
        """An authenticated, rejected request whose body we kept and nobody has stored yet."""
        return (self.key_label is not None and self.status in KEEP_BODY_STATUSES and self.body is not None
                and self.recovered_lead_id is None)


@dataclass
class OutcomeCount:
    """How many requests ended one way in a period."""

    outcome: str
    reason: str | None
    count: int


MAX_TEXT = 1000


def _storable_text(value: str) -> str:
    """Text any database takes: no NUL, no lone surrogate, not too long (a path or header is attacker's text)."""
    return value.replace("\x00", "\\0").encode("utf-8", "replace").decode("utf-8")[:MAX_TEXT]


def spoolable_event(values: dict) -> dict:
    """Column values as a spool file keeps them, in JSON: times as ISO text, the body as base64."""
    values = dict(values)
    if isinstance(values.get("received_at"), datetime):
        values["received_at"] = values["received_at"].isoformat()
    if isinstance(values.get("body"), bytes):
        values["body"] = base64.b64encode(values["body"]).decode("ascii")
    return values


def event_values(values: dict) -> dict:
    """Storable column values from a dict of them (or from a spool file's `spoolable_event`)."""
    text_columns = ("body", "received_at")  # what spoolable_event turned into text
    values = {key: _storable_text(value) if isinstance(value, str) and key not in text_columns else value
              for key, value in values.items() if key in IntakeEvent.__table__.c}
    if isinstance(values.get("received_at"), str):
        values["received_at"] = datetime.fromisoformat(values["received_at"])
    if isinstance(values.get("body"), str):
        values["body"] = base64.b64decode(values["body"])
    return values


def record_event(engine: sa.Engine, values: dict) -> None:
    """Insert one row (committed)."""
    with engine.begin() as connection:
        connection.execute(sa.insert(IntakeEvent.__table__), event_values(values))


def recent_events(outcome: str | None = None, before_id: int | None = None, limit: int = 50) -> list[IntakeEvent]:
    """The newest rows first, optionally of one outcome; `before_id` pages back."""
    query = sa.select(IntakeEvent).order_by(IntakeEvent.id.desc()).limit(limit)
    if outcome:
        query = query.where(IntakeEvent.outcome == outcome)
    if before_id:
        query = query.where(IntakeEvent.id < before_id)
    return list(db.session.scalars(query))


def outcome_counts(since: datetime | None = None) -> list[OutcomeCount]:
    """Counts by outcome and reason since `since` (default: the last 24 hours), largest first."""
    since = since or utcnow() - timedelta(hours=24)
    count = sa.func.count().label("count")
    rows = db.session.execute(
        sa.select(IntakeEvent.outcome, IntakeEvent.reason, count).where(IntakeEvent.received_at >= since)
        .group_by(IntakeEvent.outcome, IntakeEvent.reason).order_by(count.desc(), IntakeEvent.outcome))
    return [OutcomeCount(outcome, reason, n) for outcome, reason, n in rows]


def purge_bodies(older_than_days: int) -> int:
    """Forget the raw bodies kept longer than `older_than_days`; the rows stay. Returns how many."""
    cutoff = utcnow() - timedelta(days=older_than_days)
    result = db.session.execute(sa.update(IntakeEvent)
                                .where(IntakeEvent.received_at < cutoff, IntakeEvent.body.is_not(None))
                                .values(body=None))
    db.session.commit()
    return result.rowcount
