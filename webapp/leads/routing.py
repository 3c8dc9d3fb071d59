"""The router: each new lead is linked to the person's earlier enquiry and given an owner, in the background.

The webhook's request only stores the lead and wakes this process's router
thread; the sender never waits for routing. Every worker runs one thread
(started on its first request, like the spool drainer), woken by a new lead and
polling every ROUTE_INTERVAL seconds, so a lead that arrived through the spool,
by hand or on another host gets its owner within seconds too.

Several routers at once are safe: each claims waiting leads with
`FOR UPDATE SKIP LOCKED`, and the round robin locks the on-duty sales people's
rows, so routers take turns on it and nobody's turn is handed out twice. On
SQLite routers take turns on the database's write lock.
"""
import logging
import os
import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import Flask

from webapp.auth.models import User
from webapp.extensions import db
from webapp.leads.activity import give_lead, record_activity
from webapp.leads.locks import take_write_lock
from webapp.leads.models import Lead, utcnow
from webapp.leads.repeats import latest_earlier_enquiry

log = logging.getLogger(__name__)

BATCH = 100
NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RoutingSettings:
    """ASSIGNMENT and REPEAT_WINDOW_DAYS."""

    assignment: str
    repeat_window_days: float

    @classmethod
    def from_config(cls, config) -> "RoutingSettings":
        """The settings from the app's config."""
        return cls(config["ASSIGNMENT"], float(config["REPEAT_WINDOW_DAYS"]))


class Rota:
    """The sales people on duty, longest since their last new lead first; locked until the transaction ends."""

    def __init__(self):
        self._people: list[User] | None = None

    def next_person(self, now: datetime) -> User | None:
        """Whose turn it is (their turn is used up), or None when nobody active is on duty."""
        if self._people is None:
            # Locked in id order (two routers never deadlock), NO KEY: leads may still be given to them meanwhile.
            self._people = list(db.session.scalars(
                sa.select(User).where(User.role == "sales", User.active, User.on_duty).order_by(User.id)
                .with_for_update(key_share=True).execution_options(populate_existing=True)))
        if not self._people:
            return None
        person = min(self._people, key=lambda user: (user.last_assigned_at or NEVER, user.id))
        latest = max(user.last_assigned_at or NEVER for user in self._people)
        # Strictly later than anyone's turn, even when two hosts' clocks disagree: the order is the rota.
        person.last_assigned_at = max(now, latest + timedelta(microseconds=1))
        return person


def _claim_waiting_leads() -> list[Lead]:
    take_write_lock()
    query = (sa.select(Lead).where(Lead.routed_at.is_(None)).order_by(Lead.id).limit(BATCH)
             .with_for_update(skip_locked=True, key_share=True, of=Lead))
    leads = list(db.session.scalars(query))
    # A lead from the spool may have arrived before leads stored ahead of it: route in arrival order.
    return sorted(leads, key=lambda lead: (lead.created_at, lead.id))


def _owner_of_first(first: Lead) -> User | None:
    owner = first.owner
    return owner if owner is not None and owner.active else None


def _route(lead: Lead, settings: RoutingSettings, rota: Rota, now: datetime) -> bool:
    """Link and assign one lead; False when it must wait for its person's earlier lead to be routed first."""
    earlier = latest_earlier_enquiry(lead, settings.repeat_window_days)
    if earlier is not None and not earlier.routed:
        return False
    first = db.session.get(Lead, earlier.first_id) if earlier is not None else None
    if first is not None:
        lead.repeat_of = first.id
        record_activity(first.id, None, "repeat", {"lead_id": lead.id}, now)
    if settings.assignment == "round_robin" and lead.owner_id is None:
        owner = _owner_of_first(first) if first is not None else None
        if owner is not None:
            give_lead(lead, owner, None, "repeat", now)
        elif (person := rota.next_person(now)) is not None:
            give_lead(lead, person, None, "round_robin", now)
    lead.routed_at = now
    db.session.flush()  # the next lead's repeat lookup must see this one routed
    return True


def route_pending_leads(config) -> int:
    """Route up to BATCH waiting leads, oldest first, in one transaction; how many were routed."""
    settings = RoutingSettings.from_config(config)
    if db.session.scalar(sa.select(Lead.id).where(Lead.routed_at.is_(None)).limit(1)) is None:
        db.session.rollback()  # nothing waits: no write lock, no row locks
        return 0
    try:
        leads, rota, now = _claim_waiting_leads(), Rota(), utcnow()
        routed = 0
        for lead in leads:
            if _route(lead, settings, rota, now):
                routed += 1
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return routed


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
            self._wake.clear()
            try:
                with self.app.app_context():
                    while route_pending_leads(self.app.config) == BATCH and not self._stop.is_set():
                        pass
                    db.session.remove()
                failing = False
            except Exception:  # the thread must outlive any failure; a database outage is logged once
                if not failing:
                    log.exception("router: routing failed; retrying every %s s", self.interval)
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
