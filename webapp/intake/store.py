"""Store a received lead: straight into the table with its intake-log row, or in the spool while the database is away."""
import json
import logging
import time
from functools import cache
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite

from webapp.database import first_row_on_driver, is_outage, utcnow
from webapp.intake.breaker import CircuitBreaker
from webapp.intake.idempotency import REPLAY_REASON, REPLAY_WINDOW, earlier_lead, free_expired_key
from webapp.intake.intake_log import REPAIRED, SPOOLED, SPOOLED_REASON, IntakeEvent, event_values, spoolable_event
from webapp.intake.spool import Spool, SpooledLead
from webapp.leads.models import Lead
from webapp.leads.lead_row import lead_columns, new_intake_id
from webapp.leads.submission import LeadSubmission

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receipt:
    """What became of a received lead: stored (`lead_id`) or spooled (`lead_id` is None)."""

    intake_id: str
    received_at: datetime
    lead_id: int | None
    reason: str | None = None  # as in its intake-log row: what was repaired, that it was spooled
    replayed: bool = False  # a retry under an Idempotency-Key: `lead_id` is the lead stored the first time

    @property
    def spooled(self) -> bool:
        """The lead waits in the spool for the database."""
        return self.lead_id is None


def receive_lead(engine: sa.Engine, submission: LeadSubmission, platform: str, spool: Spool,
                 breaker: CircuitBreaker, event: dict | None = None, started: float | None = None,
                 idempotent_id: str | None = None) -> Receipt:
    """Store a lead now, or keep it in the spool while the database cannot take it.

    `event` (intake log columns) is written with the lead, atomically, or kept in
    the spool file and written when the lead is drained. While `breaker` keeps
    callers away from the database after a failure, the lead goes to the spool
    at once. Raises `SpoolUnavailable` only when the database failed and the
    spool could not write either. The spooled copy carries the same `intake_id`,
    so if the failed insert did commit after all, the drain does not store it twice.
    `idempotent_id` (webapp.intake.idempotency) replaces the random intake id: a lead
    already stored under it within the replay window is answered again, not stored.
    """
    intake_id, received_at = idempotent_id or new_intake_id(), utcnow()
    outcome = REPAIRED if submission.repairs else "stored"
    event = dict(event or {}, intake_id=intake_id, received_at=received_at, status=201, outcome=outcome,
                 reason=submission.repair_note)
    if not breaker.allow():
        cause = f"it failed less than {breaker.retry_seconds:g} s ago"
        return _spool_lead(spool, submission, platform, event, started, cause)
    try:
        lead_id = insert_lead(engine, lead_columns(submission, platform, received_at, intake_id),
                              dict(event, duration_ms=_elapsed_ms(started)))
        if lead_id is None and idempotent_id:
            return _replay_or_store(engine, submission, platform, event, started, breaker)
    except sa_exc.SQLAlchemyError as error:
        if not is_outage(error):
            breaker.succeeded()  # the database answered; it refused this lead
            raise
        breaker.failed()
        cause = type(getattr(error, "orig", None) or error).__name__
        return _spool_lead(spool, submission, platform, event, started, cause)
    breaker.succeeded()
    return Receipt(intake_id, received_at, lead_id, submission.repair_note)


def _replay_or_store(engine: sa.Engine, submission: LeadSubmission, platform: str, event: dict,
                     started: float | None, breaker: CircuitBreaker) -> Receipt:
    """The intake id is taken: the first answer again within the window, else a new lead under that id."""
    intake_id, received_at = event["intake_id"], event["received_at"]
    for _ in range(2):  # a concurrent retry may take the freed key first: then it is a replay after all
        earlier = earlier_lead(engine, intake_id)
        if earlier is not None and received_at - earlier[1] < REPLAY_WINDOW:
            breaker.succeeded()
            return Receipt(intake_id, received_at, earlier[0], REPLAY_REASON, replayed=True)
        if earlier is not None:
            free_expired_key(engine, earlier[0], intake_id)
        lead_id = insert_lead(engine, lead_columns(submission, platform, received_at, intake_id),
                              dict(event, duration_ms=_elapsed_ms(started)))
        if lead_id is not None:
            breaker.succeeded()
            return Receipt(intake_id, received_at, lead_id, submission.repair_note)
    raise sa_exc.InvalidRequestError(f"intake id {intake_id} is neither free nor stored")


def _spool_lead(spool: Spool, submission: LeadSubmission, platform: str, event: dict, started: float | None,
                cause: str) -> Receipt:
    intake_id, received_at = event["intake_id"], event["received_at"]
    # A repaired lead's row still says so when it is drained; the reason tells both.
    reason = "; ".join(filter(None, (submission.repair_note, SPOOLED_REASON)))
    event.update(outcome=SPOOLED if event["outcome"] == "stored" else event["outcome"], reason=reason,
                 duration_ms=_elapsed_ms(started))
    spool.write(SpooledLead(intake_id, platform, received_at, submission.payload,
                            {"intake_event": spoolable_event(event)}))
    log.warning("database unavailable (%s): lead %s kept in the spool", cause, intake_id)
    return Receipt(intake_id, received_at, None, reason)


def _elapsed_ms(started: float | None) -> float | None:
    return None if started is None else round((time.perf_counter() - started) * 1000, 1)


def insert_lead(engine: sa.Engine, lead: dict, event: dict | None = None) -> int | None:
    """Insert a lead unless its intake id is stored already, with its intake-log row; commit.

    Returns the new lead's id, or None when that intake id was there already. On
    PostgreSQL a lead with its log row is one statement in autocommit (one round
    trip, atomic on its own); otherwise one transaction of two statements.
    """
    event = event_values(event) if event is not None else None
    if engine.dialect.name == "postgresql" and event is not None:
        # What SQLAlchemy's execution would add: the defaults of the columns not given, and JSONB's encoding.
        values = {**_lead_defaults(tuple(lead)), **lead, **_prefixed(event), "payload": json.dumps(lead["payload"])}
        row = first_row_on_driver(engine, _lead_with_event_sql(tuple(lead), engine.dialect), values)
        return None if row is None else row[0]
    with engine.begin() as connection:
        lead_id = connection.execute(_lead_insert(engine.dialect.name), lead).scalar()
        if lead_id is not None and event is not None:
            connection.execute(sa.insert(IntakeEvent.__table__), dict(event, lead_id=lead_id))
        return lead_id


EVENT_PREFIX = "event_"


def _prefixed(event: dict) -> dict:
    return {EVENT_PREFIX + column: event.get(column, default) for column, default in _event_columns().items()}


@cache
def _event_columns() -> dict:
    """The intake-log columns a received lead's row sets, with the value when the event lacks one."""
    return {column.name: (column.default.arg if column.default is not None and column.default.is_scalar else None)
            for column in IntakeEvent.__table__.c if column.name not in ("id", "lead_id")}


def _lead_defaults(lead_names: tuple[str, ...]) -> dict:
    """The lead columns not in `lead_names` that have a default in Python (e.g. `status`), with its value now."""
    return {column.key: column.default.arg(None) if column.default.is_callable else column.default.arg
            for column in Lead.__table__.c
            if column.key not in lead_names and column.default is not None and not column.default.is_sequence}


@cache
def _lead_insert(dialect_name: str):
    """INSERT a lead, nothing when its intake id is there already, RETURNING its id."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return (dialect.insert(Lead.__table__).on_conflict_do_nothing(index_elements=[Lead.intake_id])
            .returning(Lead.id))


@cache
def _lead_with_event_sql(lead_names: tuple[str, ...], dialect: sa.Dialect) -> str:
    """`_lead_with_event` compiled once for the driver: `%(name)s` parameters, the lead's and `event_…`."""
    return str(_lead_with_event(lead_names).compile(dialect=dialect))


@cache
def _lead_with_event(lead_names: tuple[str, ...]):
    """PostgreSQL: the lead (these columns; the others take their defaults) and, when it was new, its
    intake-log row in one statement, RETURNING the lead's id."""
    lead_table, log_table = Lead.__table__, IntakeEvent.__table__
    lead_values = {name: sa.bindparam(name, type_=lead_table.c[name].type) for name in lead_names}
    new_lead = (postgresql.insert(lead_table).values(lead_values)
                .on_conflict_do_nothing(index_elements=[Lead.intake_id]).returning(lead_table.c.id).cte("new_lead"))
    columns = list(_event_columns())
    row = sa.select(*(sa.bindparam(EVENT_PREFIX + name, type_=log_table.c[name].type) for name in columns),
                    new_lead.c.id)
    return sa.insert(log_table).from_select([*columns, "lead_id"], row).returning(log_table.c.lead_id)
