"""What a sales team did with the demo leads: owners in turn, repeats, statuses, first contacts, notes.

Older leads are mostly settled (contacted, test drive, booked or lost with a
reason); the last day's are still largely new and some not yet contacted, so
the age badges, "My new leads" and reports all have something real to show.
Every lead is stored as already routed: the router has nothing to catch up on;
and every lead nobody called within 15 minutes as already escalated: the mail
sender has nobody to tell about them.
"""
import random
from collections.abc import Iterator
from datetime import datetime, timedelta

import sqlalchemy as sa

from webapp.auth.models import User
from webapp.auth.passwords import DUMMY_HASH
from webapp.extensions import db
from webapp.leads.models import LOST_REASON_CODES, Lead
from webapp.leads.repeats import names_a_person, phone_digits_key

# Appended to each demo lead's columns (its id comes first).
WORK_COLUMNS = ("status", "lost_reason", "owner_id", "assigned_at", "first_contacted_at", "repeat_of", "routed_at",
                "escalated_at")
ACTIVITY_COLUMNS = ("lead_id", "user_id", "kind", "details", "created_at")
DEMO_TEAM = (("Priya Sharma", "priya"), ("Arjun Nair", "arjun"), ("Kavya Reddy", "kavya"),
             ("Farhan Qureshi", "farhan"), ("Simran Gill", "simran"))
SETTLED = (("contacted", 35), ("test_drive", 15), ("booked", 7), ("lost", 40), ("new", 3))
FRESH = (("new", 55), ("contacted", 30), ("test_drive", 10), ("lost", 5))
LOST_WEIGHTS = (30, 25, 20, 15, 5, 5)  # in LOST_REASON_CODES order
NOTES = ("Wants a test drive on Saturday morning", "Asked for the on-road price in Pune", "Has a 2017 Creta to exchange",
         "Call back after 6 pm", "Comparing with the Nexon EV", "Needs finance: 7-year loan", "Wife decides; call again",
         "Interested in the top variant only", "Asked about home charging", "Booking amount paid at the showroom")
REPEAT_WINDOW = timedelta(days=30)
# ESCALATE_AFTER_MINUTES' default, counted in wall-clock time: the managers were told of leads nobody called this
# soon, so a desk opened on demo data does not escalate (and mail) every recent demo lead at once.
ESCALATED_AFTER = timedelta(minutes=15)


def demo_team() -> list[int]:
    """The ids of the active sales people; a demo team (who cannot sign in until given a password) if none."""
    ids = list(db.session.scalars(sa.select(User.id).where(User.role == "sales", User.active).order_by(User.id)))
    if ids:
        return ids
    for name, handle in DEMO_TEAM:
        db.session.add(User(email=f"{handle}.demo@raam.example", name=name, role="sales", password_hash=DUMMY_HASH,
                            active=True, session_version=1))
    db.session.flush()
    return demo_team()


def has_work_columns() -> bool:
    """Whether the table has the working-the-leads columns (the benchmark seeds before later migrations)."""
    return "escalated_at" in {column["name"] for column in sa.inspect(db.session.connection()).get_columns(Lead.__tablename__)}


class DemoDesk:
    """Works through demo leads in arrival order, remembering each person's chain of enquiries."""

    def __init__(self, rng: random.Random, team: list[int], now: datetime, first_id: int):
        self.rng, self.team, self.now, self.next_id = rng, team, now, first_id
        self.turn = 0
        self.chains: dict[str, tuple[datetime, int, int | None]] = {}  # person -> (last enquiry, first id, owner)
        self.activities: list[tuple] = []  # taken away by the loader after each batch

    def rows(self, leads: Iterator[tuple]) -> Iterator[tuple]:
        """Each demo lead row as (id, *row, *WORK_COLUMNS values); activities collect in `self.activities`."""
        for row in leads:
            lead_id, self.next_id = self.next_id, self.next_id + 1
            phone_number, phone_normalized, created_at = row[2], row[3], row[-1]
            person = (phone_normalized or "#" + phone_digits_key(phone_number)
                      if names_a_person(phone_normalized, phone_number) else f"lead {lead_id}")
            yield (lead_id, *row, *self._work(lead_id, person, created_at))

    def _owner(self, person: str, lead_id: int, created_at: datetime) -> tuple[int | None, int | None]:
        """(owner id, repeat_of) for a new lead of `person`."""
        chain = self.chains.get(person)
        if chain is not None and created_at - chain[0] <= REPEAT_WINDOW:
            self.chains[person] = (created_at, chain[1], chain[2])
            self._activity(chain[1], None, "repeat", {"lead_id": lead_id}, created_at)
            return chain[2], chain[1]
        owner = None
        if self.rng.random() < 0.97:  # a few arrived on days nobody was on duty
            owner = self.team[self.turn % len(self.team)]
            self.turn += 1
        self.chains[person] = (created_at, lead_id, owner)
        return owner, None

    def _work(self, lead_id: int, person: str, created_at: datetime) -> tuple:
        rng = self.rng
        owner, repeat_of = self._owner(person, lead_id, created_at)
        routed_at = created_at + timedelta(seconds=1)
        if owner is not None:
            self._activity(lead_id, None, "assigned", {"owner_id": owner, "owner_name": None,
                                                       "by": "repeat" if repeat_of else "round_robin"}, routed_at)
        fresh = self.now - created_at < timedelta(days=1)
        status = rng.choices(*zip(*(FRESH if fresh else SETTLED)))[0]
        contact_delay = timedelta(minutes=min(rng.lognormvariate(1.8, 1.3), 3 * 24 * 60))
        first_contact = created_at + contact_delay
        if first_contact > self.now or (status == "new" and rng.random() < 0.6):
            first_contact = None
        if first_contact is None:
            status = "new"
        lost_reason = rng.choices(LOST_REASON_CODES, LOST_WEIGHTS)[0] if status == "lost" else None
        actor = owner or rng.choice(self.team)
        if first_contact is not None:
            self._activity(lead_id, actor, rng.choice(("call", "call", "call", "whatsapp")), None, first_contact)
            if status != "new":
                self._activity(lead_id, actor, "status", {"from": "new", "to": status, "lost_reason": lost_reason},
                               first_contact + timedelta(minutes=2))
            if rng.random() < 0.3:
                self._activity(lead_id, actor, "note", {"body": rng.choice(NOTES)}, first_contact + timedelta(minutes=3))
        escalated_at = created_at + ESCALATED_AFTER
        if escalated_at > self.now or (first_contact is not None and first_contact <= escalated_at):
            escalated_at = None
        else:
            self._activity(lead_id, None, "escalated", {"after_minutes": ESCALATED_AFTER.total_seconds() / 60,
                                                        "owner_id": owner}, escalated_at)
        return (status, lost_reason, owner, routed_at if owner else None, first_contact, repeat_of, routed_at,
                escalated_at)

    def _activity(self, lead_id: int, user_id: int | None, kind: str, details: dict | None, at: datetime) -> None:
        self.activities.append((lead_id, user_id, kind, details, min(at, self.now)))
