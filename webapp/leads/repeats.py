"""One person's enquiries: the same normalised phone, or the same raw digits when the number is not a valid one.

A person's enquiries form a chain while each comes within REPEAT_WINDOW_DAYS
of the one before; every later enquiry points (`repeat_of`) at the chain's first.
"""
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from webapp.extensions import db
from webapp.leads.models import PHONE_DIGITS_SQL, Lead

MAX_ENQUIRIES_SHOWN = 100
# The characters PHONE_DIGITS_SQL removes, in the same order: Python and SQL must agree on a number's digits.
PHONE_PUNCTUATION = (" ", "-", "+", "(", ")", ".")


def phone_digits_key(phone_number: str) -> str:
    """The number without spaces and punctuation, as PHONE_DIGITS_SQL computes it in the database."""
    for char in PHONE_PUNCTUATION:
        phone_number = phone_number.replace(char, "")
    return phone_number


def _digits_column():
    # Written exactly as the index expression (unqualified), so both databases use the partial index.
    return sa.literal_column(PHONE_DIGITS_SQL, sa.Text)


def same_person(phone_normalized: str | None, phone_number: str):
    """The SQL condition for leads of the person with this number."""
    if phone_normalized:
        return Lead.phone_normalized == phone_normalized
    return sa.and_(Lead.phone_normalized.is_(None), _digits_column() == phone_digits_key(phone_number))


@dataclass(frozen=True)
class Earlier:
    """The person's latest enquiry before a lead: its id, its chain's first lead and that one's owner, and
    whether it is routed."""

    id: int
    first_id: int
    first_owner_id: int | None
    routed: bool


def _earlier_enquiry_query(same_person_condition) -> sa.Select:
    """The person's latest lead before (:at, :lead_id) and from :since on, with its chain's first lead's owner."""
    first = aliased(Lead)
    first_owner = (sa.select(first.owner_id).where(first.id == sa.func.coalesce(Lead.repeat_of, Lead.id))
                   .scalar_subquery())
    before = sa.tuple_(sa.bindparam("at", type_=Lead.created_at.type), sa.bindparam("lead_id", type_=Lead.id.type))
    return (sa.select(Lead.id, Lead.repeat_of, Lead.routed_at, first_owner.label("first_owner_id"))
            .where(same_person_condition, Lead.created_at >= sa.bindparam("since", type_=Lead.created_at.type),
                   sa.tuple_(Lead.created_at, Lead.id) < before)
            .order_by(Lead.created_at.desc(), Lead.id.desc()).limit(1))


# Built once: the router runs one of these per lead.
EARLIER_BY_PHONE = _earlier_enquiry_query(Lead.phone_normalized == sa.bindparam("person"))
EARLIER_BY_DIGITS = _earlier_enquiry_query(sa.and_(Lead.phone_normalized.is_(None),
                                                   _digits_column() == sa.bindparam("person")))


def latest_earlier_enquiry(lead, window_days: float) -> Earlier | None:
    """The person's most recent lead received before `lead` and within `window_days` of it, or None.

    `lead` is a Lead or a row with its id, created_at, phone_normalized and phone_number.
    """
    query = EARLIER_BY_PHONE if lead.phone_normalized else EARLIER_BY_DIGITS
    person = lead.phone_normalized or phone_digits_key(lead.phone_number)
    row = db.session.connection().execute(query, {
        "person": person, "at": lead.created_at, "lead_id": lead.id,
        "since": lead.created_at - timedelta(days=window_days)}).first()
    if row is None:
        return None
    return Earlier(id=row.id, first_id=row.repeat_of or row.id, first_owner_id=row.first_owner_id,
                   routed=row.routed_at is not None)


def enquiries_of(lead: Lead) -> list[Lead]:
    """Every lead of the same person, oldest first, `lead` included (at most MAX_ENQUIRIES_SHOWN)."""
    return list(db.session.scalars(
        sa.select(Lead).where(same_person(lead.phone_normalized, lead.phone_number))
        .order_by(Lead.created_at, Lead.id).limit(MAX_ENQUIRIES_SHOWN)))


def enquiry_numbers(leads: list[Lead]) -> dict[int, int]:
    """{lead id: 1 for a first enquiry, 2 for the person's 2nd, ...} for a page of leads, in one query."""
    numbers = {lead.id: 1 for lead in leads}
    repeat_ids = [lead.id for lead in leads if lead.repeat_of is not None]
    if not repeat_ids:
        return numbers
    this, other = aliased(Lead), aliased(Lead)
    # One range of the (repeat_of, created_at, id) index per lead: counted from the index alone.
    up_to_this = sa.tuple_(other.created_at, other.id) <= sa.tuple_(this.created_at, this.id)
    query = (sa.select(this.id, sa.func.count())
             .join(other, sa.and_(other.repeat_of == this.repeat_of, up_to_this))
             .where(this.id.in_(repeat_ids)).group_by(this.id))
    for lead_id, repeats_so_far in db.session.execute(query):
        numbers[lead_id] = 1 + repeats_so_far
    return numbers


def enquiry_number(lead: Lead) -> int:
    """1 for a first enquiry, 2 for the person's 2nd ("2nd enquiry"), and so on."""
    return enquiry_numbers([lead])[lead.id]


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, ... 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"

