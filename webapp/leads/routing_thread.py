"""Each worker's routing thread: webapp.leads.routing runs here, never in the webhook's request.

The webhook stores a lead and wakes this process's thread (one Event.set()); the
thread also polls every ROUTE_INTERVAL seconds, so a lead that arrived through
the spool, by hand or on another host gets its owner within seconds too. gunicorn
forks workers and a thread does not survive a fork: each worker starts its own
thread on its first request (checked by PID), like the spool drainer.
"""
import logging
import os
import threading
import weakref

from flask import Flask

from webapp.database import log_background_failure
from webapp.extensions import db
from webapp.leads.routing import route_pending_leads

log = logging.getLogger(__name__)

# After waking, wait this long so a burst of leads is routed in one transaction, not one each.
GATHER_SECONDS = 0.2


class Router:
    """A daemon thread per process that routes waiting leads when woken and every `interval` seconds."""

    def __init__(self, app: Flask, interval: float):
        self.app, self.interval = app, interval
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._reset_after_fork()
        os.register_at_fork(after_in_child=_reset_in_child(weakref.ref(self)))  # weak: tests build many apps

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
                thread = threading.Thread(target=self._run, name="lead-router", daemon=True)
                thread.start()
                self._thread = thread  # the thread before the pid: a request never sees our pid beside no thread
                self._pid = os.getpid()

    def _running_here(self) -> bool:
        thread = self._thread
        return self._pid == os.getpid() and thread is not None and thread.is_alive()

    def nudge(self) -> None:
        """Route soon: a lead was just stored. Costs the caller one Event.set()."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread (tests)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            self._stop.wait(GATHER_SECONDS)
            self._wake.clear()
            try:
                with self.app.app_context():
                    while route_pending_leads(self.app.config) and not self._stop.is_set():
                        pass  # again while there was work: a backlog is routed batch after batch
                    db.session.remove()
                failing = False
            except Exception as error:  # the thread must outlive any failure; it is logged once
                if not failing:
                    log_background_failure(log, "router", error, self.interval)
                failing = True
            self._wake.wait(self.interval)


def _reset_in_child(router_ref):
    def reset() -> None:
        router = router_ref()
        if router is not None:
            router._reset_after_fork()
    return reset


def router_for(app: Flask) -> Router:
    """This app's router."""
    return app.extensions["lead_router"]


def init_router(app: Flask) -> None:
    """Attach the router to `app`; each worker starts its thread on its first request."""
    router = app.extensions["lead_router"] = Router(app, float(app.config["ROUTE_INTERVAL"]))
    app.before_request(router.ensure_running)
