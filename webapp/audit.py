"""The audit record: who signed in (or failed to), exported, viewed a lead, or changed an account or key.

Under India's DPDP Act the record of who saw personal data must be kept; rows
here are never purged by the app (keep them at least a year). `record_audit`
is told who and from where (commands use it); `audit` reads both from the
request in progress (the pages use it).
"""
import getpass
from datetime import datetime

import sqlalchemy as sa
from flask import request
from flask_login import current_user
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.database import BigId, JSONPayload, UTCDateTime, utcnow

ACTIONS = (
    "sign_in", "sign_in_failed", "sign_out", "export", "report_export", "lead_view", "lead_recover",
    "user_create", "user_password", "user_deactivate", "user_activate", "user_duty", "key_create", "key_revoke",
)


class AuditEvent(db.Model):
    """One audited action."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, sa.Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    action: Mapped[str] = mapped_column(index=True)
    actor: Mapped[str]  # an account's email, or "cli:<os user>" for a command
    actor_id: Mapped[int | None]
    source_ip: Mapped[str | None]
    target: Mapped[str | None]  # what was acted on: a lead id, an email, a key label
    details: Mapped[dict | None] = mapped_column(JSONPayload)


def command_line_actor() -> str:
    """The actor name for something done with `flask …` on the server."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def record_audit(action: str, actor: str, *, actor_id: int | None = None, source_ip: str | None = None,
                 target: str | None = None, details: dict | None = None) -> AuditEvent:
    """Store one audit row and commit it."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    event = AuditEvent(action=action, actor=actor[:320], actor_id=actor_id, source_ip=source_ip,
                       target=target, details=details)
    db.session.add(event)
    db.session.commit()
    return event


def audit(action: str, target: str | None = None, details: dict | None = None, *, user=None,
          actor: str | None = None) -> None:
    """Record `action` of this request by `user` (default: the signed-in account) or by the named `actor`."""
    if user is None and actor is None and current_user.is_authenticated:
        user = current_user
    name = actor or (user.email if user is not None else "anonymous")
    record_audit(action, name, actor_id=user.id if user is not None else None, source_ip=request.remote_addr,
                 target=target, details=details)


def audit_events(action: str | None = None, actor: str | None = None, before_id: int | None = None,
                 limit: int = 100) -> list[AuditEvent]:
    """The newest audit rows first, optionally of one action or actor; `before_id` pages back."""
    query = sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEvent.action == action)
    if actor:
        query = query.where(AuditEvent.actor == actor.strip().lower())
    if before_id:
        query = query.where(AuditEvent.id < before_id)
    return list(db.session.scalars(query))
