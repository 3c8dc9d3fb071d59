"""Each worker's routing thread: webapp.leads.routing runs here, never in the webhook's request.

The webhook stores a lead and wakes this process's thread (one Event.set()); the
thread also polls every ROUTE_INTERVAL seconds, so a lead that arrived through
the spool, by hand or on another host gets its owner within seconds too. One runs
in each worker process (webapp.worker_thread), like the spool drainer.
"""
import logging

from flask import Flask

from webapp.database import log_background_failure
from webapp.extensions import db
from webapp.leads.routing import BATCH, route_pending_leads, seconds_until_settled
from webapp.worker_thread import WorkerThread

log = logging.getLogger(__name__)

# Route only once the oldest waiting lead has waited this long: a stream of leads is routed in one transaction per
# GATHER_SECONDS across every worker and host, not one per few leads, and a burst in one.
GATHER_SECONDS = 0.5


class Router(WorkerThread):
    """Each process's thread that routes waiting leads when woken and every `interval` seconds."""

    name = "lead-router"

    def __init__(self, app: Flask, interval: float):
        super().__init__(interval)
        self.app = app

    def run_round(self) -> None:
        """Once the oldest waiting lead has waited GATHER_SECONDS, route every waiting lead, batch after batch."""
        with self.app.app_context():
            try:
                while not self._stop.is_set():
                    wait = seconds_until_settled(GATHER_SECONDS)
                    if wait is None:
                        return  # nothing waits (or another router took it all)
                    if wait:
                        self._stop.wait(wait)
                    elif route_pending_leads(self.app.config, GATHER_SECONDS) < BATCH:
                        return  # again at once only after a full batch: a backlog is routed batch after batch
            finally:
                db.session.remove()

    def report_failure(self, error: Exception) -> None:
        """A database outage in one line; anything else with its traceback."""
        log_background_failure(log, "router", error, self.interval)


def router_for(app: Flask) -> Router:
    """This app's router."""
    return app.extensions["lead_router"]


def init_router(app: Flask) -> None:
    """Attach the router to `app`; each worker starts its thread on its first request."""
    router = app.extensions["lead_router"] = Router(app, float(app.config["ROUTE_INTERVAL"]))
    app.before_request(router.ensure_running)
