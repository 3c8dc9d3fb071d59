"""The router: each new lead is linked to the person's earlier enquiry and given an owner, in the background.

It runs in each worker's routing thread (webapp.leads.routing_thread), never in
the webhook's request. One router works at a time across every worker and host
(an advisory lock on PostgreSQL, the write lock on SQLite); the others skip their
turn. Within it, waiting leads are claimed `FOR UPDATE SKIP LOCKED` and the round
robin locks the on-duty sales people's rows, so a turn is never handed out twice
even by a router that does not take the lock.
"""
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from webapp.auth.models import User
from webapp.extensions import db
from webapp.leads.activity import mail_new_owners
from webapp.leads.locks import take_write_lock
from webapp.database import utcnow
from webapp.leads.models import Lead, LeadActivity
from webapp.leads.repeats import earlier_enquiry, with_latest_earlier_enquiry

BATCH = 500
# One router at a time reads and writes the queue: a lead's repeat lookup then sees every earlier lead's
# routing committed, and nobody routes leads only to have them wait for another router's batch.
ROUTER_LOCK = 0x7261616D  # "raam", the advisory lock's key
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

    def __init__(self, now: datetime):
        self.now = now
        self._people: list[dict] | None = None

    def next_person(self) -> dict | None:
        """Whose turn it is ({"id", "name", ...}; their turn is used up), or None when nobody is on duty."""
        if self._people is None:
            # Locked in id order (two routers never deadlock), NO KEY: leads may still be given to them meanwhile.
            query = (sa.select(User.id, User.name, User.last_assigned_at)
                     .where(User.role == "sales", User.active, User.on_duty).order_by(User.id)
                     .with_for_update(key_share=True))
            self._people = [dict(row._mapping, turn_taken=False) for row in db.session.execute(query)]
        if not self._people:
            return None
        person = min(self._people, key=lambda user: (user["last_assigned_at"] or NEVER, user["id"]))
        latest = max(user["last_assigned_at"] or NEVER for user in self._people)
        # Strictly later than anyone's turn, even when two hosts' clocks disagree: the order is the rota.
        person["last_assigned_at"] = max(self.now, latest + timedelta(microseconds=1))
        person["turn_taken"] = True
        return person

    def save(self) -> None:
        """Store whose turns were used."""
        taken = [{"user_id": user["id"], "at": user["last_assigned_at"]} for user in self._people or ()
                 if user["turn_taken"]]
        if taken:
            db.session.execute(sa.update(User.__table__).where(User.id == sa.bindparam("user_id"))
                               .values(last_assigned_at=sa.bindparam("at")), taken)


@dataclass
class Decision:
    """What routing decided for one lead."""

    lead_id: int
    first_id: int | None
    owner_id: int | None
    assigned_at: datetime | None


class Batch:
    """Routes claimed leads in arrival order and writes the decisions, their timeline rows and the turns at once."""

    def __init__(self, settings: RoutingSettings, now: datetime):
        self.settings, self.now = settings, now
        self.rota = Rota(now)
        self.decisions: dict[int, Decision] = {}
        self.activities: list[dict] = []
        self._active_names: dict[int, str] | None = None

    def route(self, lead) -> None:
        """Decide one lead (a row of CLAIM_WAITING); it waits when its person's earlier lead is not routed
        yet."""
        earlier = earlier_enquiry(lead, self.settings.repeat_window_days)
        first_id = first_owner_id = None
        if earlier is not None:
            if earlier.id in self.decisions:  # routed a moment ago in this batch
                first_id = self.decisions[earlier.id].first_id or earlier.id
                first_owner_id = self._owner_of(first_id)
            elif not earlier.routed:
                return
            else:
                first_id, first_owner_id = earlier.first_id, earlier.first_owner_id
        decision = Decision(lead.id, first_id, lead.owner_id, lead.assigned_at)
        if first_id is not None:
            self._activity(first_id, "repeat", {"lead_id": lead.id})
        if self.settings.assignment == "round_robin" and lead.owner_id is None:
            self._assign(decision, first_owner_id)
        self.decisions[lead.id] = decision

    def _assign(self, decision: Decision, first_owner_id: int | None) -> None:
        # A repeat goes to the first lead's owner while their account is active.
        owner_id = first_owner_id if first_owner_id in self._names() else None
        by = "repeat"
        if owner_id is None:
            person = self.rota.next_person()
            owner_id, by = (person["id"], "round_robin") if person else (None, None)
        if owner_id is not None:
            decision.owner_id, decision.assigned_at = owner_id, self.now
            self._activity(decision.lead_id, "assigned",
                           {"owner_id": owner_id, "owner_name": self._names()[owner_id], "by": by})

    def _owner_of(self, first_id: int) -> int | None:
        if first_id in self.decisions:
            return self.decisions[first_id].owner_id
        return db.session.connection().scalar(sa.select(Lead.owner_id).where(Lead.id == first_id))

    def _names(self) -> dict[int, str]:
        if self._active_names is None:
            self._active_names = dict(db.session.execute(sa.select(User.id, User.name).where(User.active)).all())
        return self._active_names

    def _activity(self, lead_id: int, kind: str, details: dict) -> None:
        self.activities.append({"lead_id": lead_id, "user_id": None, "kind": kind, "details": details,
                                "created_at": self.now})

    def save(self) -> None:
        """Write every decision (a round trip per 100), the timeline rows and the turns used."""
        connection = db.session.connection()
        if self.decisions:
            connection.execute(DECISIONS_UPDATE, [
                {"lead_id": d.lead_id, "first_id": d.first_id, "owner": d.owner_id, "assigned": d.assigned_at,
                 "routed": self.now} for d in self.decisions.values()])
        if self.activities:
            connection.execute(sa.insert(LeadActivity.__table__), self.activities)
        self.rota.save()
        # Their mails in this same transaction: an owner is told of every lead the router gave them.
        mail_new_owners({d.lead_id: d.owner_id for d in self.decisions.values()
                         if d.owner_id is not None and d.assigned_at == self.now})


# Built once (cached by SQLAlchemy); run for many rows at once (psycopg2: execute_batch, pages of 100 statements
# in one round trip, see config.engine_options).
DECISIONS_UPDATE = sa.update(Lead.__table__).where(Lead.__table__.c.id == sa.bindparam("lead_id")).values(
    repeat_of=sa.bindparam("first_id"), owner_id=sa.bindparam("owner"), assigned_at=sa.bindparam("assigned"),
    routed_at=sa.bindparam("routed"))


# Only what routing reads: a lead's payload never leaves the database here.
CLAIMED = (Lead.id, Lead.created_at, Lead.phone_normalized, Lead.phone_number, Lead.owner_id, Lead.assigned_at)


# Up to BATCH waiting leads, locked, each with its person's latest earlier enquiry: one round trip. In arrival
# order, not id order: a lead that waited in the spool, or whose insert finished after a later lead's, is routed
# before its person's later enquiries.
CLAIM_WAITING = with_latest_earlier_enquiry(
    sa.select(*CLAIMED).where(Lead.routed_at.is_(None)).order_by(Lead.created_at, Lead.id).limit(BATCH)
    .with_for_update(skip_locked=True, key_share=True, of=Lead).subquery("claimed"))


def _router_turn() -> bool:
    """Whether this router may route now: one at a time across every worker and host (PostgreSQL's advisory
    lock, held until commit; SQLite's write lock). The others skip a turn rather than wait."""
    if db.session.get_bind().dialect.name != "postgresql":
        take_write_lock()
        return True
    return db.session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(ROUTER_LOCK)))


def _settled(settled_seconds: float):
    """A waiting lead counts as settled once it has waited `settled_seconds`, or when it is stamped later than now
    (a host whose clock runs ahead stored it): on no clock does a lead wait more than `settled_seconds` for it."""
    now = utcnow()
    return sa.or_(Lead.created_at <= now - timedelta(seconds=settled_seconds), Lead.created_at > now)


def seconds_until_settled(settled_seconds: float) -> float | None:
    """None when no lead waits for the router; else how long until the oldest waiting lead is settled (0: now)."""
    oldest = db.session.scalar(sa.select(Lead.created_at).where(Lead.routed_at.is_(None))
                               .order_by(Lead.created_at).limit(1))
    db.session.rollback()
    if oldest is None:
        return None
    waited = (utcnow() - oldest).total_seconds()
    return 0.0 if waited < 0 or waited >= settled_seconds else settled_seconds - waited


def route_pending_leads(config, settled_seconds: float = 0) -> int:
    """Route up to BATCH waiting leads, oldest first, in one transaction; how many were routed.

    With `settled_seconds`, only once the oldest waiting lead is settled (see `_settled`), and then every waiting
    lead: however many workers and hosts ask, a stream of leads is routed in one transaction per that many
    seconds, not one per few leads.
    """
    settings = RoutingSettings.from_config(config)

    def nothing_waits() -> bool:  # each time by the clock now (a stale "now" would take new leads as from ahead)
        waiting = sa.select(Lead.id).where(Lead.routed_at.is_(None))
        return db.session.scalar((waiting.where(_settled(settled_seconds)) if settled_seconds else waiting)
                                 .limit(1)) is None

    if nothing_waits():
        db.session.rollback()  # nothing waits (long enough): no write lock, no row locks
        return 0
    try:
        # Asked again with the turn held: the router before us may have routed them while we were asking.
        if not _router_turn() or (settled_seconds and nothing_waits()):
            db.session.rollback()
            return 0
        batch = Batch(settings, utcnow())
        for lead in db.session.execute(CLAIM_WAITING).all():
            batch.route(lead)
        batch.save()
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return len(batch.decisions)
