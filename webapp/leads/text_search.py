"""The dashboard's search box: a substring of the name, model or campaign, or digits of the phone.

Both databases answer it from trigram indexes (migrations/versions/*_dashboard_indexes.py):
pg_trgm GIN indexes on two joined expressions on PostgreSQL, an FTS5 trigram table
on SQLite. Trigrams need three characters, so a one- or two-character search
matches the start of a word instead.
"""
import re

import sqlalchemy as sa

from webapp.leads.models import Lead

SEARCH_TABLE = "mg-digital-leads-search"  # SQLite's FTS5 trigram table, kept in step by triggers
MIN_TRIGRAM = 3
SEPARATOR = chr(31)  # joins the searched columns; a search containing it falls back to column by column
# PostgreSQL's two GIN trigram indexes are on these expressions: one index per kind of search instead of
# one per column, so an insert updates two GIN indexes, not five.
SEARCH_TEXT_SQL = "(name || chr(31) || coalesce(car_model, '') || chr(31) || coalesce(campaign, ''))"
SEARCH_PHONES_SQL = "(coalesce(phone_normalized, '') || ' ' || phone_number)"
TRIGRAM_INDEXES = ("ix_mg-digital-leads_search_text_trgm", "ix_mg-digital-leads_search_phones_trgm")
TEXT_COLUMNS = (Lead.name, Lead.car_model, Lead.campaign)


def in_the_models(name: str, type_: str, parent_names: dict) -> bool:
    """Alembic `include_name`: False for the search indexes no model describes (FTS5 tables, GIN on expressions)."""
    if type_ == "table":
        return not name.startswith(SEARCH_TABLE)
    return not (type_ == "index" and name in TRIGRAM_INDEXES)


PHONE_LIKE = re.compile(r"[+0-9 ().\-]+")


def phone_digits(text: str) -> str | None:
    """The digits of a phone-like search, without trunk or international zeros; None when too few.

    Only a search made of digits and phone punctuation counts: "EV Q4 2025" is not a phone number.
    """
    if not PHONE_LIKE.fullmatch(text.strip()):
        return None
    digits = re.sub(r"\D", "", text).lstrip("0")
    return digits if len(digits) >= MIN_TRIGRAM else None


def search_condition(q: str, dialect: str):
    """The SQL condition for search text `q` on `dialect` ("postgresql" or "sqlite")."""
    digits = phone_digits(q)
    if dialect == "postgresql" and SEPARATOR not in q:
        return _postgresql_condition(q, digits)
    matches = [_text_match(column, q) for column in TEXT_COLUMNS]
    if digits:
        matches += [Lead.phone_normalized.contains(digits), Lead.phone_number.contains(digits)]
    condition = sa.or_(*matches)
    if dialect == "sqlite" and len(q) >= MIN_TRIGRAM:
        # FTS5 finds the candidate rows; the condition above still decides, so results are the same.
        condition = sa.and_(Lead.id.in_(_sqlite_candidates(q, digits)), condition)
    return condition


def _text_match(text, q: str):
    if len(q) >= MIN_TRIGRAM:
        return text.icontains(q, autoescape=True)
    # "ra" as any substring would read every row; as a word start a trigram index still serves it.
    return sa.or_(text.istartswith(q, autoescape=True), text.icontains(" " + q, autoescape=True))


def _postgresql_condition(q: str, digits: str | None):
    # A match inside the joined text is a match inside one column: `q` cannot span the separator.
    text = sa.literal_column(SEARCH_TEXT_SQL, sa.Text)
    condition = _text_match(text, q)
    if len(q) < MIN_TRIGRAM:
        condition = sa.or_(condition, text.icontains(SEPARATOR + q, autoescape=True))  # start of model, campaign
    if digits:  # digits cannot contain the space between the two phone columns either
        condition = sa.or_(condition, sa.literal_column(SEARCH_PHONES_SQL, sa.Text).contains(digits))
    return condition


def _fts_phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _sqlite_candidates(q: str, digits: str | None):
    query = "{name car_model campaign} : " + _fts_phrase(q)
    if digits:
        query += " OR {phone_normalized phone_number} : " + _fts_phrase(digits)
    table = sa.table(SEARCH_TABLE, sa.column("rowid"))
    return sa.select(table.c.rowid).where(sa.literal_column(f'"{SEARCH_TABLE}"').op("MATCH")(query))
