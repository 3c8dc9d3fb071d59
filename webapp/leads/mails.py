"""What the mails say: a new lead for its owner, an escalation for the managers (plain text and HTML).

Every value from a lead is text: escaped in the HTML part, and kept out of
headers as line breaks (a name with a newline must not add a header).
"""
from urllib.parse import urlsplit

from flask import current_app
from markupsafe import escape

from webapp.leads.models import Lead
from webapp.leads.outbox import Mail
from webapp.leads.reach import call_href

MAX_SUBJECT_PART = 80


def one_line(value: str | None, limit: int = MAX_SUBJECT_PART) -> str:
    """`value` on one line without control characters, at most `limit` characters (for a subject)."""
    text = "".join(char if char.isprintable() else " " for char in (value or ""))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def desk_link(endpoint: str, **values) -> str:
    """An absolute link into the desk (DESK_URL), built from the URL map like every link on the pages."""
    base = urlsplit(current_app.config["DESK_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme)
    return adapter.build(endpoint, values, force_external=True)


def _facts(lead: Lead) -> list[tuple[str, str]]:
    return [("Name", lead.name), ("Phone", lead.phone_number), ("Model", lead.car_model or "—"),
            ("Campaign", lead.campaign or "—"), ("Source", lead.utm_source or lead.platform)]


def _html(intro: str, facts: list[tuple[str, str]], links: list[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th align=\"left\">{escape(label)}</th><td>{escape(value)}</td></tr>" for label, value in facts)
    buttons = " · ".join(f'<a href="{escape(href)}">{escape(label)}</a>' for label, href in links)
    return f"<p>{escape(intro)}</p><table>{rows}</table><p>{buttons}</p>"


def _text(intro: str, facts: list[tuple[str, str]], links: list[tuple[str, str]]) -> str:
    lines = [intro, ""] + [f"{label}: {value}" for label, value in facts] + [""]
    return "\n".join(lines + [f"{label}: {href}" for label, href in links]) + "\n"


def new_lead_mail(lead: Lead, owner) -> Mail:
    """The mail to a lead's new owner: who, which model, which campaign, a Call link and a link to the lead."""
    links = [("Open the lead", desk_link("dashboard.lead_detail", lead_id=lead.id))]
    if call := call_href(lead):
        links.insert(0, (f"Call {one_line(lead.name, 40)}", call))
    intro = f"A new lead is yours, {owner.name}. Call soon: the first minutes decide the sale."
    facts = _facts(lead)
    return Mail(kind="new_lead", recipients=[owner.email], lead_id=lead.id,
                subject=f"New lead: {one_line(lead.name)} — {one_line(lead.car_model) or 'no model given'}",
                text=_text(intro, facts, links), html=_html(intro, facts, links))


def escalation_mail(lead: Lead, owner, managers: list, minutes: float) -> Mail:
    """The managers' mail about a lead nobody contacted within `minutes` business minutes."""
    links = [("Open the lead", desk_link("dashboard.lead_detail", lead_id=lead.id))]
    facts = _facts(lead) + [("Owner", owner.name if owner else "Unassigned")]
    if owner is not None and owner.phone:
        # The owner's own phone (their setting): the manager can ring them about it at once.
        links.insert(0, (f"Call {owner.name}", f"tel:{owner.phone}"))
    intro = f"Nobody has contacted this lead after {minutes:g} business minutes."
    return Mail(kind="escalated", recipients=[manager.email for manager in managers], lead_id=lead.id,
                subject=f"Not contacted yet: {one_line(lead.name)} — {one_line(lead.car_model) or 'no model given'}",
                text=_text(intro, facts, links), html=_html(intro, facts, links))
