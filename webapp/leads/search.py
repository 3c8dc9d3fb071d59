"""Finding leads: the dashboard's filters, newest-first keyset pages, capped counts."""
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import defer, selectinload

from webapp.auth.models import User
from webapp.extensions import db
from webapp.database import MAX_ROW_ID, utcnow
from webapp.leads.models import LOST_REASON_CODES, STATUS_CODES, Lead
from webapp.leads.report_sql import (CONTACT_STATES, STAGES, ReportSettings, contact_condition, lead_source,
                                     stage_condition)
from webapp.leads.text_search import phone_digits, search_condition, search_hint  # noqa: F401  (phone_digits is public here)
from webapp.leads.timezones import ist_day_start

PAGE_SIZE = 50
COUNT_CAP = 1_000  # past this the list says "1,000+": a common name matches thousands, and counting them is
# most of a search's time (the GIN bitmap, then a heap visit per row to recheck; docs/scaling.md)
CHOICE_FIELDS = ("car_model", "campaign", "utm_source")


@dataclass(frozen=True)
class LeadFilters:
    """What the person asked for: search text, exact-match selects and an IST date range."""

    q: str = ""
    car_model: str = ""
    campaign: str = ""
    utm_source: str = ""
    date_from: date | None = None
    date_to: date | None = None
    status: str = ""  # one of STATUS_CODES
    owner: str = ""  # "me", "none" or a user id
    repeats: str = ""  # "hide": first enquiries only; "only": repeats only
    source: str = ""  # utm_source, or the platform of a lead without one (report_sql.lead_source)
    stage: str = ""  # reached at least: contacted, test_drive or booked (report_sql.STAGES)
    lost_reason: str = ""
    contact: str = ""  # first contact: none (yet), in_time or late, against FIRST_CONTACT_SLA_MINUTES
    # Whom owner=me means; not a filter of its own, so "me" stays "me" in links others open.
    current_user_id: int | None = field(default=None, compare=False)

    @classmethod
    def from_args(cls, args, current_user_id: int | None = None) -> "LeadFilters":
        """Read filters from a query string; a malformed date or unknown choice is ignored rather than refused."""
        text = {name: (args.get(name) or "").strip()[:200] for name in ("q", *CHOICE_FIELDS)}
        status = (args.get("status") or "").strip()
        owner = (args.get("owner") or "").strip()
        return cls(**text, date_from=_parse_date(args.get("date_from")), date_to=_parse_date(args.get("date_to")),
                   status=status if status in STATUS_CODES else "", owner=owner if _is_owner(owner) else "",
                   repeats=_choice(args, "repeats", ("hide", "only")), source=(args.get("source") or "").strip()[:200],
                   stage=_choice(args, "stage", STAGES), lost_reason=_choice(args, "lost_reason", LOST_REASON_CODES),
                   contact=_choice(args, "contact", CONTACT_STATES), current_user_id=current_user_id)

    def to_args(self) -> dict[str, str]:
        """The non-empty filters as query-string arguments (for links and the export)."""
        return {name: str(value) for name, value in asdict(self).items() if value and name != "current_user_id"}

    @property
    def active(self) -> bool:
        """Whether any filter is set."""
        return any(getattr(self, field.name) for field in fields(self) if field.name != "current_user_id")


def _choice(args, name: str, allowed: tuple[str, ...]) -> str:
    value = (args.get(name) or "").strip()
    return value if value in allowed else ""


def _is_owner(value: str) -> bool:
    return value in ("me", "none") or (value.isascii() and value.isdigit() and 0 < int(value) < 2**31)


def searchable(filters: LeadFilters) -> tuple[LeadFilters, str | None]:
    """`filters` without a search no index can answer, and the hint that says what to type instead."""
    hint = search_hint(filters.q) if filters.q else None
    if hint:
        return replace(filters, q=""), hint
    return filters, None


def _parse_date(value: str | None) -> date | None:
    try:
        day = date.fromisoformat((value or "").strip()) if value else None
    except ValueError:
        return None
    # Year 1 or 9999 would overflow when turned into an IST range; no lead is from outside these.
    return day if day and 2000 <= day.year <= 2100 else None


def filter_conditions(filters: LeadFilters) -> list:
    """SQL conditions for `filters`, combined with AND by the caller."""
    conditions = []
    if filters.q:
        conditions.append(search_condition(filters.q, db.session.get_bind().dialect.name))
    for name in CHOICE_FIELDS:
        if value := getattr(filters, name):
            conditions.append(getattr(Lead, name) == value)
    if filters.date_from:
        conditions.append(Lead.created_at >= ist_day_start(filters.date_from))
    if filters.date_to:
        conditions.append(Lead.created_at < ist_day_start(filters.date_to + timedelta(days=1)))
    conditions.extend(work_conditions(filters))
    conditions.extend(report_conditions(filters))
    return conditions


def work_conditions(filters: LeadFilters) -> list:
    """The status, owner and repeats filters as SQL conditions."""
    conditions = []
    if filters.status:
        conditions.append(Lead.status == filters.status)
    if filters.owner == "none":
        conditions.append(Lead.owner_id.is_(None))
    elif filters.owner == "me":
        # Nobody signed in (a command) has no leads of their own.
        conditions.append(Lead.owner_id == filters.current_user_id if filters.current_user_id else sa.false())
    elif filters.owner:
        conditions.append(Lead.owner_id == int(filters.owner))
    if filters.repeats == "hide":
        conditions.append(Lead.repeat_of.is_(None))
    return conditions


def report_conditions(filters: LeadFilters) -> list:
    """The filters the reports page links with: repeats only, source, funnel stage, lost reason, first contact."""
    conditions = []
    if filters.repeats == "only":
        conditions.append(Lead.repeat_of.is_not(None))
    if filters.source:
        conditions.append(lead_source() == filters.source)
    if filters.stage:
        conditions.append(stage_condition(filters.stage))
    if filters.lost_reason:
        conditions.append(Lead.lost_reason == filters.lost_reason)
    if filters.contact:
        settings = ReportSettings.from_config(current_app.config)
        conditions.append(contact_condition(filters.contact, settings, utcnow(), db.session.get_bind().dialect.name))
    return conditions


@dataclass
class LeadPage:
    """One page of leads, newest first, and the cursor of the next (older) page."""

    leads: list[Lead]
    next_cursor: str | None


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def encode_cursor(lead: Lead) -> str:
    """An opaque page token: the position of `lead` in (created_at, id) order, in whole microseconds."""
    return f"{(lead.created_at - EPOCH) // MICROSECOND}_{lead.id}"


def decode_cursor(token: str | None) -> tuple[datetime, int] | None:
    """The position a token names, or None for a missing or tampered token (first page)."""
    try:
        micros, lead_id = (int(part) for part in (token or "").split("_"))
        if not (0 <= micros < 2**62 and 0 < lead_id <= MAX_ROW_ID):  # beyond what a 64-bit column can compare
            return None
        return EPOCH + micros * MICROSECOND, lead_id
    except (ValueError, OverflowError):
        return None


def search_leads(filters: LeadFilters, cursor: str | None = None, per_page: int = PAGE_SIZE) -> LeadPage:
    """A newest-first page of matching leads; keyset pagination, so a deep page costs what the first does."""
    query = sa.select(Lead).where(*filter_conditions(filters))
    position = decode_cursor(cursor)
    if position:
        created_at, lead_id = position
        # A row-value comparison is one range on the (created_at, id) index, so a deep page is a seek.
        after = sa.tuple_(sa.literal(created_at, Lead.created_at.type), sa.literal(lead_id, Lead.id.type))
        query = query.where(sa.tuple_(Lead.created_at, Lead.id) < after)
    query = query.order_by(Lead.created_at.desc(), Lead.id.desc()).limit(per_page + 1)
    # The page's owners in one query; the payload (the raw body, the largest column) is read only on a lead's page.
    query = query.options(selectinload(Lead.owner), defer(Lead.payload, raiseload=True))
    rows = list(db.session.scalars(query))
    more = len(rows) > per_page
    rows = rows[:per_page]
    return LeadPage(leads=rows, next_cursor=encode_cursor(rows[-1]) if more and rows else None)


def count_leads(filters: LeadFilters, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many leads match, counting at most `cap` (+1); the flag says the cap was reached."""
    inner = sa.select(sa.literal(1)).select_from(Lead).where(*filter_conditions(filters)).limit(cap + 1)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(inner.subquery()))
    return min(total, cap), total > cap


def _distinct_values_query(column, limit: int):
    """The non-null values of an indexed column, sorted: one index probe per value, not a read of every row."""
    first = sa.select(sa.func.min(column).label("value")).cte("choice", recursive=True)
    previous = first.alias("previous")
    following = sa.select(sa.func.min(column)).where(column > previous.c.value).scalar_subquery()
    values = first.union_all(sa.select(following).where(previous.c.value.is_not(None)))
    return sa.select(values.c.value).where(values.c.value.is_not(None)).limit(limit)


# The select filters' statements, built once (building one costs more than the index probes it runs).
CHOICE_QUERIES = {name: _distinct_values_query(getattr(Lead, name), 500) for name in CHOICE_FIELDS}


def filter_choices() -> dict[str, list[str]]:
    """The values present in the data for each select filter, sorted."""
    return {name: list(db.session.scalars(query)) for name, query in CHOICE_QUERIES.items()}


def leads_with_same_phone(lead: Lead, limit: int = 20) -> list[Lead]:
    """Other leads from the same (normalised) phone number, newest first."""
    if not lead.phone_normalized:
        return []
    return list(db.session.scalars(
        sa.select(Lead).where(Lead.phone_normalized == lead.phone_normalized, Lead.id != lead.id)
        .order_by(Lead.created_at.desc(), Lead.id.desc()).limit(limit)))


def assignable_users() -> list[User]:
    """Active sales people and managers, by name: who a lead can be given to, and the owner filter's choices."""
    return list(db.session.scalars(sa.select(User).where(User.active, User.role.in_(("sales", "manager")))
                                   .order_by(User.name, User.id)))


def sales_people(on_duty_only: bool = False) -> list[User]:
    """Active sales people, by name (optionally only those on duty)."""
    query = sa.select(User).where(User.active, User.role == "sales").order_by(User.name, User.id)
    if on_duty_only:
        query = query.where(User.on_duty)
    return list(db.session.scalars(query))


def last_lead_time() -> datetime | None:
    """When the newest lead was received."""
    return db.session.scalar(sa.select(Lead.created_at).order_by(Lead.created_at.desc()).limit(1))
