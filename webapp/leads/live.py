"""The live list's question "anything new since lead N?", answered from the primary key alone.

An open list page polls this every few seconds. Nothing new is the common
answer, and it costs one look at the end of the primary-key index (the newest
id). Only when newer ids exist are they read, newest first, with the page's
filters, from an id range the index bounds.

A lead still waiting for the router (for its owner) is not answered yet: a
page filtered to "my new leads" could not know it is about to become one, and
would otherwise move past it. The router takes about a second; a lead it has
not reached after ROUTING_GRACE is answered as it is.

Every tab asks the same first question (which id is newest?), so each worker
process keeps that answer for LIVE_ANSWER_SECONDS (1 s): a hundred tabs cost the database a
couple of queries a second, and the webhook keeps its throughput.
"""
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.database import MAX_ROW_ID, utcnow
from webapp.leads.models import Lead
from webapp.leads.search import LeadFilters, filter_conditions

MAX_NEW = 50  # one page's worth: past this the bar says "50+ new leads"
# However old the page's id, only the latest arrivals are looked at: a tab left open for days, or a made-up
# id of 0, must still cost a bounded range of the index, never a scan of a million leads.
LOOKBACK = 1000
ROUTING_GRACE = timedelta(seconds=10)


class NewestIdCache:
    """This process's latest answer to "which id is newest?", kept for `ttl` seconds."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._value = 0

    def get(self, read) -> int:
        """The cached id, or `read()` when it is older than `ttl`."""
        with self._lock:
            if time.monotonic() - self._read_at < self.ttl:
                return self._value
        value = read()
        with self._lock:
            self._value, self._read_at = value, time.monotonic()
        return value



@dataclass(frozen=True)
class NewLeads:
    """Leads newer than the page's id that match its filters (newest first), and the id to ask from next."""

    leads: list[Lead]
    newest_id: int

    @property
    def count(self) -> int:
        """How many (at most MAX_NEW)."""
        return len(self.leads)


def answered_through(connection: sa.Connection | None = None) -> int:
    """The id a list drawn now asks from: the newest, or just below the first lead the router is about to route
    (read on `connection`, default the session's, when this process's answer is older than LIVE_ANSWER_SECONDS)."""
    return current_app.extensions["live_newest_id"].get(lambda: _read_answered_through(connection or db.session))


def _read_answered_through(executor) -> int:
    waiting = executor.scalar(sa.select(sa.func.min(Lead.id)).where(
        Lead.routed_at.is_(None), Lead.created_at > utcnow() - ROUTING_GRACE))
    # With none waiting, the highest lead id so far (0 with no leads).
    return waiting - 1 if waiting is not None else executor.scalar(sa.select(sa.func.max(Lead.id))) or 0


def lead_id(value: str | None) -> int | None:
    """The lead id a page sent (`after`), or None when it is not one (0 or more, a number the database holds)."""
    value = (value or "").strip()
    # isascii: int() would also read other scripts' digits, which no page of ours sends.
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_ROW_ID:
        return None
    return int(value)


def new_leads_query(filters: LeadFilters, after_id: int, newest: int) -> sa.Select | None:
    """The leads above `after_id` (at most LOOKBACK back from `newest`) matching `filters`, newest first;
    None when there is no such id range."""
    after_id = max(after_id, newest - LOOKBACK)
    if newest <= after_id:
        return None
    return (sa.select(Lead).where(Lead.id > after_id, Lead.id <= newest, *filter_conditions(filters))
            .order_by(Lead.id.desc()).limit(MAX_NEW))


def leads_since(filters: LeadFilters, after_id: int) -> NewLeads:
    """Routed leads with an id above `after_id` matching `filters`, newest first, at most MAX_NEW."""
    newest = answered_through()
    query = new_leads_query(filters, after_id, newest)
    if query is None:
        return NewLeads(leads=[], newest_id=newest)
    return NewLeads(leads=list(db.session.scalars(query.options(selectinload(Lead.owner)))), newest_id=newest)


def init_live_list(app) -> None:
    """Give `app` its per-process cache of the newest id (LIVE_ANSWER_SECONDS)."""
    app.extensions["live_newest_id"] = NewestIdCache(float(app.config["LIVE_ANSWER_SECONDS"]))
