"""Draining the spool: moving the leads it kept into the table once the database answers again.

`drain_spool` does one pass (the drain thread, `flask spool drain`); each
lead lands exactly once, even with several drainers at once: files are claimed
by rename and inserted by unique intake id (see webapp.intake.spool).

gunicorn forks workers, and a thread does not survive a fork: each worker
starts its own drain thread on its first request (checked by PID), so it
works with and without `--preload`.
"""
import logging
import os
import threading
import weakref
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from webapp.database import is_outage
from webapp.intake.spool import Spool, SpooledLead
from webapp.intake.store import insert_lead
from webapp.leads.lead_row import lead_columns
from webapp.leads.submission import InvalidSubmission, validate_submission

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


def drain_spool(spool: Spool, engine: sa.Engine, limit: int | None = None) -> DrainResult:
    """Move spooled leads into the table, oldest first, each exactly once; stop when the database is away."""
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
    if result.stored or result.already_stored:
        log.info("spool: %d lead(s) moved into the table, %d were there already", result.stored,
                 result.already_stored)
    return result


class SpoolDrainer:
    """A daemon thread per process that drains the spool every `interval` seconds while it has a backlog."""

    def __init__(self, spool: Spool, engine: sa.Engine, interval: float):
        self.spool, self.engine, self.interval = spool, engine, interval
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._reset_after_fork()
        os.register_at_fork(after_in_child=_ResetAfterFork(self))

    def _reset_after_fork(self) -> None:
        # A lock or event copied from the parent may be in any state; the thread is gone.
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()

    def ensure_running(self) -> None:
        """Start this process's thread if it is not running (cheap when it is)."""
        if self.interval <= 0 or self._running_here():
            return
        with self._lock:
            if not self._running_here():
                thread = threading.Thread(target=self._run, name="spool-drainer", daemon=True)
                thread.start()
                # The thread first, then the pid: a request thread checking without the lock must never
                # see this process's pid beside no thread (that was an AttributeError, a 500, in a new worker).
                self._thread = thread
                self._pid = os.getpid()

    def _running_here(self) -> bool:
        thread = self._thread
        return self._pid == os.getpid() and thread is not None and thread.is_alive()

    def nudge(self) -> None:
        """Drain soon if leads wait (called after a successful insert: the database is back)."""
        if self.interval > 0 and self.spool.has_pending():
            self.ensure_running()
            self._wake.set()

    def stop(self) -> None:
        """Stop the thread (tests)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.spool.backlog().waiting:
                    drain_spool(self.spool, self.engine)
            except Exception:  # the thread must outlive any one failure
                log.exception("spool: drain failed")
            self._wake.wait(self.interval)
            self._wake.clear()


class _ResetAfterFork:
    """Called in a forked child: gives the drainer fresh locks, without keeping it alive (tests build many)."""

    def __init__(self, drainer: SpoolDrainer):
        self.drainer = weakref.ref(drainer)

    def __call__(self) -> None:
        drainer = self.drainer()
        if drainer is not None:
            drainer._reset_after_fork()
