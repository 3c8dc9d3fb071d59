"""What an exported CSV holds: its columns, and the guard against cells a spreadsheet would run as formulas.

Shared by the export in Python (webapp.leads.export) and by PostgreSQL's COPY
(webapp.leads.export_copy), which must write exactly the same cells.
"""
import re

import sqlalchemy as sa

from webapp.auth.models import User
from webapp.leads.models import Lead
from webapp.leads.pipeline import LOST_REASONS, STATUSES

# The owners under names of their own: the search's SQL names the leads' columns unqualified ("name").
OWNERS = sa.select(User.id.label("owner_key"), User.name.label("owner_name")).subquery("owners")
# (header, column); the raw payload stays out: it is for reading on the lead's page.
EXPORT_COLUMNS = [
    ("Lead ID", Lead.id), ("Received (IST)", Lead.created_at), ("Name", Lead.name),
    ("Phone", Lead.phone_number), ("Phone (E.164)", Lead.phone_normalized), ("Car model", Lead.car_model),
    ("Campaign", Lead.campaign), ("UTM source", Lead.utm_source), ("UTM medium", Lead.utm_medium),
    ("UTM campaign", Lead.utm_campaign), ("UTM term", Lead.utm_term), ("UTM content", Lead.utm_content),
    ("Lead URL", Lead.lead_url), ("Platform", Lead.platform),
    ("Status", sa.case(STATUSES, value=Lead.status).label("status")),
    ("Lost reason", sa.case(LOST_REASONS, value=Lead.lost_reason).label("lost_reason")),
    ("Owner", OWNERS.c.owner_name), ("First contacted (IST)", Lead.first_contacted_at),
    ("Repeat of", Lead.repeat_of),
]
# Each lead with its owner (the Owner column); users is a small table.
EXPORT_FROM = sa.outerjoin(Lead, OWNERS, Lead.owner_id == OWNERS.c.owner_key)
# OWASP CSV injection: a cell starting with one of these is run as a formula by spreadsheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# ...except a phone number in a phone column, which a person must be able to dial: "+91 98765-43210"
# stays as it is there. Anywhere else "+1-1" is a sum (Excel shows 0), so it is neutralised.
PHONE_COLUMNS = ("phone_number", "phone_normalized")
PHONE_LIKE = re.compile(r"\+?[0-9][0-9 ()\-]*")
ROWS_PER_CHUNK = 1000


def neutralize_cell(value, phone: bool = False) -> str:
    """The text of a cell, with a leading apostrophe where a spreadsheet would see a formula.

    `phone` marks a phone column, where a phone-like value is left as it is.
    """
    text = "" if value is None else str(value)
    if not text.startswith(FORMULA_STARTS) or (phone and PHONE_LIKE.fullmatch(text)):
        return text
    return "'" + text
