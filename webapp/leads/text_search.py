"""The dashboard's search box: a substring of the name, model or campaign, or digits of the phone.

Both databases answer it from a trigram index (migration 0002): pg_trgm GIN
indexes on PostgreSQL, an FTS5 trigram table on SQLite. Trigrams need three
characters, so a one- or two-character search matches the start of a word.
"""
import re

import sqlalchemy as sa

from webapp.leads.models import Lead

SEARCH_TABLE = "mg-digital-leads-search"  # SQLite's FTS5 trigram table, kept in step by triggers
MIN_TRIGRAM = 3


def phone_digits(text: str) -> str | None:
    """The digits of a phone-like search, without trunk or international zeros; None when too few."""
    digits = re.sub(r"\D", "", text).lstrip("0")
    return digits if len(digits) >= MIN_TRIGRAM else None


def search_condition(q: str, dialect: str):
    """The SQL condition for search text `q` on `dialect` ("postgresql" or "sqlite")."""
    text_columns = (Lead.name, Lead.car_model, Lead.campaign)
    if len(q) < MIN_TRIGRAM:
        # "ra" as any substring would read every row; as a word start the trigram index still serves it.
        matches = [sa.or_(column.istartswith(q, autoescape=True), column.icontains(" " + q, autoescape=True))
                   for column in text_columns]
    else:
        matches = [column.icontains(q, autoescape=True) for column in text_columns]
    digits = phone_digits(q)
    if digits:
        matches += [Lead.phone_normalized.contains(digits), Lead.phone_number.contains(digits)]
    condition = sa.or_(*matches)
    if dialect == "sqlite" and len(q) >= MIN_TRIGRAM:
        # FTS5 finds the candidate rows; the condition above still decides, so results are the same.
        condition = sa.and_(Lead.id.in_(_sqlite_candidates(q, digits)), condition)
    return condition


def _fts_phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _sqlite_candidates(q: str, digits: str | None):
    query = "{name car_model campaign} : " + _fts_phrase(q)
    if digits:
        query += " OR {phone_normalized phone_number} : " + _fts_phrase(digits)
    table = sa.table(SEARCH_TABLE, sa.column("rowid"))
    return sa.select(table.c.rowid).where(sa.literal_column(f'"{SEARCH_TABLE}"').op("MATCH")(query))
