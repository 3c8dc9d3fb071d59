"""The app's spool, the per-worker thread that drains it when the database is back, and the breaker.

After a failed insert the breaker sends every lead of this worker straight to
the spool for `DATABASE_RETRY_SECONDS`, then lets one lead try the database
(webapp.intake.breaker); each worker learns of an outage on its own.

gunicorn forks workers, and a thread does not survive a fork: each worker
starts its own drainer on its first request (checked by PID), so it works
with and without `--preload`. Several drainers at once are safe: files are
claimed by rename and inserted by unique intake id (see webapp.intake.spool).
"""
import logging
import os
import threading
import weakref

from flask import Flask

from webapp.intake.breaker import CircuitBreaker
from webapp.extensions import db
from webapp.intake.spool import Spool
from webapp.intake.store import drain_spool

log = logging.getLogger(__name__)


def spool_for(app: Flask) -> Spool:
    """The spool at the app's `SPOOL_DIR`."""
    return app.extensions["spool"]


def drainer_for(app: Flask) -> "SpoolDrainer":
    """This app's drainer."""
    return app.extensions["spool_drainer"]


def breaker_for(app: Flask) -> CircuitBreaker:
    """This process's breaker in front of the webhook's inserts: open, leads go straight to the spool."""
    return app.extensions["database_breaker"]


class SpoolDrainer:
    """A daemon thread per process that drains the spool every `interval` seconds while it has a backlog."""

    def __init__(self, app: Flask, interval: float):
        self.app, self.interval = app, interval
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._reset_after_fork()
        this = weakref.ref(self)  # tests build many apps; do not keep them all alive
        os.register_at_fork(after_in_child=lambda: (drainer := this()) and drainer._reset_after_fork())

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
        if self.interval > 0 and spool_for(self.app).has_pending():
            self.ensure_running()
            self._wake.set()

    def stop(self) -> None:
        """Stop the thread (tests)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        spool = spool_for(self.app)
        while not self._stop.is_set():
            try:
                with self.app.app_context():
                    backlog = spool.backlog()
                    if backlog.waiting:
                        drain_spool(spool)
                    db.session.remove()
            except Exception:  # the thread must outlive any one failure
                log.exception("spool: drain failed")
            self._wake.wait(self.interval)
            self._wake.clear()


def init_spool(app: Flask) -> None:
    """Attach the spool, its drainer and the database breaker to `app`; workers drain from their first request."""
    app.extensions["spool"] = Spool(app.config["SPOOL_DIR"])
    app.extensions["database_breaker"] = CircuitBreaker(float(app.config["DATABASE_RETRY_SECONDS"]))
    drainer = app.extensions["spool_drainer"] = SpoolDrainer(app, float(app.config["SPOOL_DRAIN_INTERVAL"]))
    app.before_request(drainer.ensure_running)
