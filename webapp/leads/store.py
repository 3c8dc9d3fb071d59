"""Store leads: straight into the table, or through the spool while the database is away."""
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite

from webapp.extensions import db
from webapp.leads.intake_log import SPOOLED, event_from
from webapp.leads.models import Lead, utcnow
from webapp.leads.phones import normalize_phone
from webapp.leads.spool import Spool, SpooledLead
from webapp.leads.submission import InvalidSubmission, LeadSubmission, validate_submission

log = logging.getLogger(__name__)

# The database is down, restarting, unreachable or too slow: the lead goes to the spool.
DB_OUTAGE_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


def is_outage(error: Exception) -> bool:
    """A database failure that says nothing about the lead: retrying later will work."""
    # psycopg2 reports some dropped connections as a bare DatabaseError; SQLAlchemy then flags the
    # connection as invalidated, which no constraint or data error ever does.
    return isinstance(error, DB_OUTAGE_ERRORS) or (isinstance(error, sa_exc.DBAPIError)
                                                   and error.connection_invalidated)


@dataclass(frozen=True)
class Receipt:
    """What became of a received lead: stored (`lead_id`) or spooled (`lead_id` is None)."""

    intake_id: str
    received_at: datetime
    lead_id: int | None

    @property
    def spooled(self) -> bool:
        """The lead waits in the spool for the database."""
        return self.lead_id is None


@dataclass
class DrainResult:
    """What one drain did."""

    stored: int = 0
    already_stored: int = 0
    failed: int = 0
    database_unavailable: bool = False


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


def store_lead(submission: LeadSubmission, platform: str, received_at: datetime | None = None,
               intake_id: str | None = None) -> Lead:
    """Insert one lead and commit; the returned row has its id."""
    lead = build_lead(submission, platform, received_at, intake_id)
    db.session.add(lead)
    db.session.commit()
    return lead


def rollback_quietly() -> None:
    """End the failed transaction; on a dead connection even that may fail, which must not cost the lead."""
    try:
        db.session.rollback()
    except sa_exc.SQLAlchemyError:
        try:
            db.session.close()
        except sa_exc.SQLAlchemyError:
            pass  # the pool drops the broken connection; the next checkout makes a new one


def receive_lead(submission: LeadSubmission, platform: str, spool: Spool, event: dict | None = None,
                 started: float | None = None) -> Receipt:
    """Store a lead now, or keep it in the spool while the database cannot take it.

    `event` (intake log columns) is written in the lead's transaction, or kept in
    the spool file and written when the lead is drained. Raises `SpoolUnavailable`
    only when the database failed and the spool could not write either. The
    spooled copy carries the same `intake_id`, so if the failed insert did commit
    after all, the drain does not store it twice.
    """
    intake_id, received_at = new_intake_id(), utcnow()
    event = dict(event or {}, intake_id=intake_id, received_at=received_at, status=201, outcome="stored")
    try:
        lead = build_lead(submission, platform, received_at, intake_id)
        db.session.add(lead)
        db.session.flush()
        lead_id = lead.id  # read now: after the commit it would cost a SELECT (and could fail)
        db.session.add(event_from(dict(event, lead_id=lead_id, duration_ms=_elapsed_ms(started))))
        db.session.commit()
    except sa_exc.SQLAlchemyError as error:
        if not is_outage(error):
            raise
        rollback_quietly()
        event.update(outcome=SPOOLED, reason="database unavailable: kept in the spool",
                     received_at=received_at.isoformat(), duration_ms=_elapsed_ms(started))
        spool.write(SpooledLead(intake_id, platform, received_at, submission.payload, {"intake_event": event}))
        log.warning("database unavailable (%s): lead %s kept in the spool",
                    type(getattr(error, "orig", None) or error).__name__, intake_id)
        return Receipt(intake_id, received_at, None)
    return Receipt(intake_id, received_at, lead_id)


def _elapsed_ms(started: float | None) -> float | None:
    return None if started is None else round((time.perf_counter() - started) * 1000, 1)


def insert_once(spooled: SpooledLead) -> int | None:
    """Insert a spooled lead unless its intake id is already stored; commit; the new id or None."""
    values = lead_columns(validate_submission(spooled.payload), spooled.platform, spooled.received_at,
                          spooled.intake_id)
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    statement = (dialect.insert(Lead).values(**values)
                 .on_conflict_do_nothing(index_elements=[Lead.intake_id]).returning(Lead.id))
    lead_id = db.session.execute(statement).scalar()
    if lead_id is not None and spooled.extra.get("intake_event"):
        db.session.add(event_from(dict(spooled.extra["intake_event"], lead_id=lead_id)))
    db.session.commit()
    return lead_id


def drain_spool(spool: Spool, limit: int | None = None) -> DrainResult:
    """Move spooled leads into the table, oldest first, each exactly once; stop when the database is away."""
    result = DrainResult()
    spool.recover_stale_claims()
    for claim in spool.claims(limit):
        try:
            spooled = claim.read()
            lead_id = insert_once(spooled)
        except (sa_exc.SQLAlchemyError, ValueError, KeyError, TypeError, InvalidSubmission) as error:
            rollback_quietly()
            if is_outage(error):
                claim.release()
                result.database_unavailable = True
                break
            log.exception("spool: %s cannot be stored; moved to failed/", claim.path)
            claim.fail()
            result.failed += 1
            continue
        claim.done()
        if lead_id is None:
            result.already_stored += 1
        else:
            result.stored += 1
    if result.stored or result.already_stored:
        log.info("spool: %d lead(s) moved into the table, %d were there already", result.stored,
                 result.already_stored)
    return result


def last_lead_time() -> datetime | None:
    """When the newest lead was received."""
    return db.session.scalar(sa.select(Lead.created_at).order_by(Lead.created_at.desc()).limit(1))
