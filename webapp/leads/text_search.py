"""The dashboard's search box: a substring of the name, model or campaign, or digits of the phone.

Both databases answer it from trigram indexes (migrations/versions/*_dashboard_indexes.py):
pg_trgm GIN indexes on two joined expressions on PostgreSQL, an FTS5 trigram table
on SQLite. A trigram index needs a word of three letters or digits in the search
(or three digits of a phone number); anything shorter, or only punctuation, would
read every lead, so it is not run: the person is told what to type instead.
"""
import re
import unicodedata

import sqlalchemy as sa

from webapp.leads.models import Lead

SEARCH_TABLE = "mg-digital-leads-search"  # SQLite's FTS5 trigram table, kept in step by triggers
MIN_TRIGRAM = 3
SEARCH_HINT = "Type at least 3 letters or digits in a row to search, e.g. “ravi”, “hector” or “98765”."
SEPARATOR = chr(31)  # joins the searched columns in PostgreSQL's index expression
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


def longest_word(text: str) -> int:
    """The length of the longest run of letters and digits (with their accents and vowel signs) in `text`.

    pg_trgm makes trigrams of such runs only, so this says whether an index can find `text`.
    """
    longest = run = 0
    for char in text:
        in_word = char.isalnum() or unicodedata.category(char).startswith("M")
        run = run + 1 if in_word else 0
        longest = max(longest, run)
    return longest


def search_hint(q: str) -> str | None:
    """What to type instead, when no index can answer the search `q`; None when it can be searched."""
    if phone_digits(q) or longest_word(q) >= MIN_TRIGRAM:
        return None
    return SEARCH_HINT


def search_condition(q: str, dialect: str):
    """The SQL condition for search text `q` on `dialect` ("postgresql" or "sqlite"); false when no index can."""
    digits = phone_digits(q)
    words = longest_word(q) >= MIN_TRIGRAM
    if not (digits or words):
        return sa.false()  # the caller shows search_hint; reading every lead is never an answer
    if dialect == "postgresql":
        return _postgresql_condition(q if words else None, digits)
    matches = [column.icontains(q, autoescape=True) for column in TEXT_COLUMNS] if words else []
    if digits:
        matches += [Lead.phone_normalized.contains(digits), Lead.phone_number.contains(digits)]
    condition = sa.or_(*matches)
    if dialect == "sqlite":
        # FTS5 finds the candidate rows; the condition above still decides, so results are the same.
        condition = sa.and_(Lead.id.in_(_sqlite_candidates(q if words else None, digits)), condition)
    return condition


def _postgresql_condition(q: str | None, digits: str | None):
    conditions = []
    if q:
        match = sa.literal_column(SEARCH_TEXT_SQL, sa.Text).icontains(q, autoescape=True)
        if SEPARATOR in q:
            # The index finds candidates; a match must still lie inside one column, not across two.
            match = sa.and_(match, sa.or_(*[column.icontains(q, autoescape=True) for column in TEXT_COLUMNS]))
        conditions.append(match)
    if digits:  # digits cannot contain the space between the two phone columns
        conditions.append(sa.literal_column(SEARCH_PHONES_SQL, sa.Text).contains(digits))
    return sa.or_(*conditions)


def _fts_phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _sqlite_candidates(q: str | None, digits: str | None):
    queries = []
    if q:
        queries.append("{name car_model campaign} : " + _fts_phrase(q))
    if digits:
        queries.append("{phone_normalized phone_number} : " + _fts_phrase(digits))
    table = sa.table(SEARCH_TABLE, sa.column("rowid"))
    return sa.select(table.c.rowid).where(sa.literal_column(f'"{SEARCH_TABLE}"').op("MATCH")(" OR ".join(queries)))
