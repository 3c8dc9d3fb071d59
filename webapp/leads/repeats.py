"""One person's enquiries: the same normalised phone, or the same raw digits when the number is not a valid one.

A number names a person only when it could be someone's (`names_a_person`, on the normalised number's ten
digits or the raw ones): digits only, at least MIN_PERSON_DIGITS of them (a landline without its area code),
not one digit repeated, not the run 123456…. "12345", "N/A", "9999999999" or "1234567890" (the last two
valid Indian numbers to libphonenumber), typed by buyers who would rather not say, are not one person asking
again: such a lead is a first enquiry, and its page lists it alone.

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


MIN_PERSON_DIGITS = 6  # an Indian landline's subscriber number has 6 to 8
_RUN = "01234567890123456789"


def phone_digits_key(phone_number: str) -> str:
    """The number without spaces and punctuation, as PHONE_DIGITS_SQL computes it in the database."""
    for char in PHONE_PUNCTUATION:
        phone_number = phone_number.replace(char, "")
    return phone_number


def names_a_person(phone_normalized: str | None, phone_number: str) -> bool:
    """Whether a lead's number could be someone's (see the module's docstring)."""
    digits = phone_normalized.removeprefix("+91") if phone_normalized else phone_digits_key(phone_number)
    return (digits.isascii() and digits.isdigit() and len(digits) >= MIN_PERSON_DIGITS
            and digits.strip(digits[0]) != "" and digits not in _RUN)


def _digits_column():
    # Written exactly as the index expression (unqualified), so both databases use the partial index.
    return sa.literal_column(PHONE_DIGITS_SQL, sa.Text)


def same_person(phone_normalized: str | None, phone_number: str):
    """The SQL condition for the other leads of the person with this number (none for a number naming nobody)."""
    if not names_a_person(phone_normalized, phone_number):
        return sa.false()
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


def _digits_of(phone_number):
    """PHONE_DIGITS_SQL applied to another column (the index's own expression is unqualified)."""
    for char in PHONE_PUNCTUATION:
        phone_number = sa.func.replace(phone_number, char, "")
    return phone_number


def with_latest_earlier_enquiry(leads: sa.Subquery) -> sa.Select:
    """`leads` (id, created_at, phone_normalized, phone_number, ...) each with its person's latest earlier lead,
    whatever its age: `earlier_id`, `earlier_created_at`, `earlier_repeat_of`, `earlier_routed_at` and its
    chain's first lead's owner `first_owner_id` (all NULL when there is none). One statement for a whole batch;
    each lead's lookup is one probe of a (person, created_at, id) index."""

    def latest_before(*same_person_condition):
        before = sa.tuple_(Lead.created_at, Lead.id) < sa.tuple_(leads.c.created_at, leads.c.id)
        return (sa.select(Lead.id).where(*same_person_condition, before)
                .order_by(Lead.created_at.desc(), Lead.id.desc()).limit(1).correlate(leads).scalar_subquery())

    by_phone = latest_before(leads.c.phone_normalized.is_not(None),
                             Lead.phone_normalized == leads.c.phone_normalized)
    by_digits = latest_before(leads.c.phone_normalized.is_(None), Lead.phone_normalized.is_(None),
                              _digits_column() == _digits_of(leads.c.phone_number))
    earlier, first = aliased(Lead), aliased(Lead)
    return (sa.select(leads, earlier.id.label("earlier_id"), earlier.created_at.label("earlier_created_at"),
                      earlier.repeat_of.label("earlier_repeat_of"), earlier.routed_at.label("earlier_routed_at"),
                      first.owner_id.label("first_owner_id"))
            .select_from(leads.outerjoin(earlier, earlier.id == sa.func.coalesce(by_phone, by_digits))
                         .outerjoin(first, first.id == sa.func.coalesce(earlier.repeat_of, earlier.id)))
            .order_by(leads.c.created_at, leads.c.id))


def earlier_enquiry(row, window_days: float) -> Earlier | None:
    """A row of with_latest_earlier_enquiry: the person's latest lead within `window_days` before it, or None
    (always for a number that names nobody: the query matched the number alone)."""
    if row.earlier_id is None or row.earlier_created_at < row.created_at - timedelta(days=window_days):
        return None
    if not names_a_person(row.phone_normalized, row.phone_number):
        return None
    return Earlier(id=row.earlier_id, first_id=row.earlier_repeat_of or row.earlier_id,
                   first_owner_id=row.first_owner_id, routed=row.earlier_routed_at is not None)


def enquiries_of(lead: Lead) -> list[Lead]:
    """Every lead of the same person, oldest first, `lead` included (at most MAX_ENQUIRIES_SHOWN)."""
    return list(db.session.scalars(
        sa.select(Lead).where(sa.or_(Lead.id == lead.id, same_person(lead.phone_normalized, lead.phone_number)))
        .order_by(Lead.created_at, Lead.id).limit(MAX_ENQUIRIES_SHOWN)))


def _enquiry_numbers_query():
    this, other = aliased(Lead), aliased(Lead)
    # One range of the (repeat_of, created_at, id) index per lead: counted from the index alone.
    up_to_this = sa.tuple_(other.created_at, other.id) <= sa.tuple_(this.created_at, this.id)
    return (sa.select(this.id, sa.func.count())
            .join(other, sa.and_(other.repeat_of == this.repeat_of, up_to_this))
            .where(this.id.in_(sa.bindparam("ids", expanding=True))).group_by(this.id))


# Built once: two aliases of the lead model cost more to make than the query takes to run.
ENQUIRY_NUMBERS = _enquiry_numbers_query()


def enquiry_numbers(leads: list[Lead]) -> dict[int, int]:
    """{lead id: 1 for a first enquiry, 2 for the person's 2nd, ...} for a page of leads, in one query."""
    numbers = {lead.id: 1 for lead in leads}
    repeat_ids = [lead.id for lead in leads if lead.repeat_of is not None]
    if repeat_ids:
        for lead_id, repeats_so_far in db.session.execute(ENQUIRY_NUMBERS, {"ids": repeat_ids}):
            numbers[lead_id] = 1 + repeats_so_far
    return numbers


def enquiry_number(lead: Lead) -> int:
    """1 for a first enquiry, 2 for the person's 2nd ("2nd enquiry"), and so on."""
    return enquiry_numbers([lead])[lead.id]


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, ... 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"

