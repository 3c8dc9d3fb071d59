"""Draining the spool: moving the leads it kept into the table once the database answers again.

`drain_spool` does one pass (the drain thread, `flask spool drain`); each
lead lands exactly once, even with several drainers at once: files are claimed
by rename and inserted by unique intake id (see webapp.intake.spool).

Each worker runs a drain thread (webapp.worker_thread), started on its first
request.
"""
import logging
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from webapp.database import is_outage, log_background_failure
from webapp.intake.spool import Spool, SpooledLead
from webapp.intake.store import insert_lead
from webapp.leads.lead_row import lead_columns
from webapp.leads.submission import InvalidSubmission, validate_submission
from webapp.worker_thread import WorkerThread

log = logging.getLogger(__name__)


@dataclass
class DrainResult:
    """What one drain did."""

    stored: int = 0
    already_stored: int = 0
    failed: int = 0
    database_unavailable: bool = False


def insert_once(engine: sa.Engine, spooled: SpooledLead) -> int | None:
    """Insert a spooled lead (and its intake-log row) unless its intake id is stored already; the new id or None."""
    values = lead_columns(validate_submission(spooled.payload), spooled.platform, spooled.received_at,
                          spooled.intake_id)
    return insert_lead(engine, values, spooled.extra.get("intake_event"))


def drain_spool(spool: Spool, engine: sa.Engine, limit: int | None = None,
                stopping: Callable[[], bool] = lambda: False) -> DrainResult:
    """Move spooled leads into the table, oldest first, each exactly once; stop when the database is away, or
    before the next lead once `stopping()` (its process is ending)."""
    result = DrainResult()
    spool.recover_stale_claims()
    for claim in spool.claims(limit):
        try:
            spooled = claim.read()
            lead_id = insert_once(engine, spooled)
        except (sa_exc.SQLAlchemyError, ValueError, KeyError, TypeError, InvalidSubmission) as error:
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
        if stopping():  # checked before the next claim is taken: nothing is left claimed
            break
    if result.stored or result.already_stored:
        log.info("spool: %d lead(s) moved into the table, %d were there already", result.stored,
                 result.already_stored)
    return result


class SpoolDrainer(WorkerThread):
    """Each process's thread that drains the spool every `interval` seconds while it has a backlog."""

    name = "spool-drainer"

    def __init__(self, spool: Spool, engine: sa.Engine, interval: float):
        super().__init__(interval)
        self.spool, self.engine = spool, engine

    def nudge(self) -> None:
        """Drain soon if leads wait (called after a successful insert: the database is back)."""
        if self.interval > 0 and self.spool.has_pending():
            self.ensure_running()
            self._wake.set()

    def run_round(self) -> None:
        """Drain what waits."""
        if self.spool.backlog().waiting:
            drain_spool(self.spool, self.engine, stopping=self.stopping)

    def report_failure(self, error: Exception) -> None:
        """A database outage in one line; anything else with its traceback."""
        log_background_failure(log, "spool", error, self.interval)
