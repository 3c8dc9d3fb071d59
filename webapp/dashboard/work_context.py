"""What the pages show of the work on leads: the lead page (whole, or its #lead-work panel for htmx) and the list's work columns."""
from flask import abort, render_template, request
from flask_login import current_user

from webapp.leads import pipeline
from webapp.leads.age_badges import age_badges
from webapp.database import utcnow
from webapp.extensions import db
from webapp.leads.models import Lead
from webapp.leads.reach import call_href, whatsapp_href
from webapp.leads.search import assignable_users

LABELS = {"statuses": pipeline.STATUSES, "lost_reasons": pipeline.LOST_REASONS, "sources": pipeline.MANUAL_SOURCES}


def lead_or_404(lead_id: int) -> Lead:
    """The lead, or a 404 page that names the number asked for."""
    return db.session.get(Lead, lead_id) or abort(404, description=f"There is no lead #{lead_id}.")


def contact_links(lead: Lead) -> dict[str, str | None]:
    """The Call and WhatsApp links of a lead, the greeting signed with the signed-in person's name."""
    return {"call": call_href(lead), "whatsapp": whatsapp_href(lead, current_user.name)}


def wants_lead_panel() -> bool:
    """Whether htmx asked for just the lead page's work panel."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Target") == "lead-work"


def render_lead_page(lead: Lead, status: int = 200, *, notice: str | None = None, error: str | None = None,
                     draft: str = ""):
    """The lead page, or only its work panel for htmx; `error` and `notice` are shown above the panel."""
    user = current_user._get_current_object()
    manager = pipeline.is_manager(user)
    context = {**LABELS, "lead": lead, "timeline": pipeline.timeline(lead.id), "may_change": pipeline.can_change(user, lead),
               "is_manager": manager, "assignable": assignable_users() if manager else [], "notice": notice,
               "error": error, "draft": draft, "max_note_chars": pipeline.MAX_NOTE_CHARS}
    if wants_lead_panel():
        return render_template("dashboard/_lead_work.html", **context), status
    enquiries = pipeline.enquiries_of(lead)
    numbers = pipeline.enquiry_numbers(enquiries)
    return render_template("dashboard/lead.html", **context, links=contact_links(lead), enquiries=enquiries,
                           enquiry_numbers=numbers, enquiry_number=numbers.get(lead.id, 1)), status


def work_columns(leads: list[Lead]) -> dict:
    """The list's columns about the work (owners come with the leads): labels, enquiry and age badges, Call and WhatsApp links."""
    return {**LABELS, "enquiry_numbers": pipeline.enquiry_numbers(leads),
            "age_badges": age_badges(leads, utcnow()), "contact_links": {lead.id: contact_links(lead) for lead in leads}}


def list_controls() -> dict:
    """The list page's owner choices and whether its toolbar may assign (managers)."""
    return {"assignable": assignable_users(), "is_manager": pipeline.is_manager(current_user)}
