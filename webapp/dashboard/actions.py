"""Working leads from the pages: one lead's status, owner, notes and Call/WhatsApp presses, and bulk changes.

Each view answers htmx with the part of the page to swap in place and a plain
form with a redirect back and a flashed message; a refusal is the same page (or
part) with the reason, as 403 (not allowed) or 400 (makes no sense).
"""
from urllib.parse import parse_qsl, urlsplit

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from webapp.auth.access import login_required, safe_next_path
from webapp.auth.models import User
from webapp.dashboard import bp
from webapp.dashboard.routes import list_results
from webapp.dashboard.work_context import contact_links, lead_or_404, render_lead_page, wants_lead_panel
from webapp.extensions import db
from webapp.leads import pipeline
from webapp.database import MAX_ROW_ID
from webapp.leads.models import Lead
from webapp.leads.pipeline import LeadActionError, NotAllowed

LEAD = "/admin/mg-digital-leads/<id:lead_id>"
MAX_USER_ID = 2**31 - 1  # users.id is a 32-bit integer; a larger number can name no account


class BadForm(LeadActionError):
    """A form field no page of ours would send (a 400)."""


def _actor() -> User:
    return current_user._get_current_object()


def _status_code(error: LeadActionError) -> int:
    return 403 if isinstance(error, NotAllowed) else 400


def _changed(lead_id: int, message: str):
    """After a change: the work panel again for htmx; back to the lead's page with `message` otherwise."""
    if wants_lead_panel():
        db.session.expire_all()  # the panel shows the lead as it is now
        return render_lead_page(lead_or_404(lead_id), notice=message)
    flash(message, "success")
    return redirect(url_for("dashboard.lead_detail", lead_id=lead_id), 303)


def _refused(lead_id: int, error: LeadActionError, draft: str = ""):
    """The lead's page (or its panel) again, with the reason the change was refused."""
    db.session.rollback()
    return render_lead_page(lead_or_404(lead_id), _status_code(error), error=str(error), draft=draft)


def _owner_choice(value: str | None) -> int | None:
    """The account an `owner_id` field names: "me", an id, or "" for nobody."""
    value = (value or "").strip()
    if value == "me":
        return current_user.id
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= MAX_USER_ID:
        raise BadForm("Choose an owner from the list.")
    return int(value)


@bp.post(LEAD + "/status")
@login_required
def change_status(lead_id: int):
    """Set the lead's status (`lost` with a `lost_reason`)."""
    lead_or_404(lead_id)
    status = request.form.get("status", "")
    try:
        pipeline.set_status(lead_id, _actor(), status, request.form.get("lost_reason") or None)
    except LeadActionError as error:
        return _refused(lead_id, error)
    return _changed(lead_id, f"Status: {pipeline.STATUSES[status]}.")


@bp.post(LEAD + "/owner")
@login_required
def change_owner(lead_id: int):
    """Give the lead to someone (managers), or take an unassigned lead ("Take it", `owner_id=me`)."""
    lead_or_404(lead_id)
    try:
        lead = pipeline.assign(lead_id, _actor(), _owner_choice(request.form.get("owner_id")))
    except LeadActionError as error:
        return _refused(lead_id, error)
    if lead.owner_id is None:
        message = "The lead is unassigned now."
    elif lead.owner_id == current_user.id:
        message = "You took this lead."
    else:
        message = f"The lead is {lead.owner.name}'s now."
    return _changed(lead_id, message)


@bp.post(LEAD + "/notes")
@login_required
def add_note(lead_id: int):
    """Add a note to the lead's timeline; a refused note is given back to be fixed, not lost."""
    lead_or_404(lead_id)
    body = request.form.get("body", "")
    try:
        pipeline.add_note(lead_id, _actor(), body)
    except LeadActionError as error:
        return _refused(lead_id, error, draft=body)
    return _changed(lead_id, "Note added.")


@bp.post(LEAD + "/contact")
@login_required
def record_contact(lead_id: int):
    """Record a Call or WhatsApp press, then let the phone or WhatsApp open."""
    lead = lead_or_404(lead_id)
    channel = request.form.get("channel", "")
    try:
        pipeline.record_contact(lead_id, _actor(), channel)
    except LeadActionError as error:
        return _refused(lead_id, error)
    if wants_lead_panel():
        return _changed(lead_id, "")
    if request.headers.get("HX-Request") == "true":
        return "", 204  # a list row: the page's script opens the link itself
    link = contact_links(lead)[channel]
    if link is None:  # no digits to dial: recorded, and back to the lead to read the number
        return _changed(lead_id, "Recorded; this number cannot be dialled from here.")
    return redirect(link, 303)


def _lead_ids(values: list[str]) -> list[int]:
    """The ticked leads' ids; BadForm for none, or for a value no checkbox of ours sends."""
    ids = []
    for value in values:
        if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= MAX_ROW_ID:
            raise BadForm("Some ticked leads are not leads of this list; reload the page and try again.")
        ids.append(int(value))
    if not ids:
        raise BadForm("Tick at least one lead first.")
    return ids


def _count(number: int) -> str:
    return f"{number} lead{'' if number == 1 else 's'}"


def _apply_bulk_form(actor: User) -> str:
    """Apply the list's toolbar to the ticked leads; a sentence saying what changed."""
    ids = _lead_ids(request.form.getlist("lead_ids"))
    action = request.form.get("action")
    if action == "assign":
        choice = (request.form.get("owner_id") or "").strip()
        if not choice:  # the toolbar's select starts blank: a slip must not unassign a page of leads
            raise BadForm("Choose who gets the ticked leads.")
        owner_id = None if choice == "none" else _owner_choice(choice)
        changed = pipeline.bulk_assign(ids, actor, owner_id)
        if owner_id is None:
            return f"{_count(changed)} unassigned."
        return f"{_count(changed)} given to {db.session.get(User, owner_id).name}."
    if action == "status":
        status = request.form.get("status", "")
        changed = pipeline.bulk_set_status(ids, actor, status, request.form.get("lost_reason") or None)
        unchanged = len(set(ids)) - changed
        left = f"; {unchanged} left as it was (already so, or not yours to change)." if unchanged else "."
        return f"{_count(changed)} set to {pipeline.STATUSES[status]}{left}"
    raise BadForm("Choose what to do with the ticked leads.")


def _list_args_of_current_page() -> MultiDict:
    """The query string of the list page an htmx request came from (its HX-Current-URL)."""
    try:
        query = urlsplit(request.headers.get("HX-Current-URL", "")).query
    except ValueError:  # not a URL: show the plain list
        return MultiDict()
    return MultiDict(parse_qsl(query))


def _bulk_answer(status: int = 200, notice: str | None = None, error: str | None = None):
    """htmx: the list's results for the view the person is on, with the message; a plain form: back to it."""
    if request.headers.get("HX-Request") == "true":
        results = list_results(_list_args_of_current_page())
        return render_template("dashboard/_lead_results.html", **results, notice=notice, error=error), status
    if error:
        abort(status, description=error)
    flash(notice, "success")
    return redirect(safe_next_path(request.form.get("next")) or url_for("dashboard.lead_list"), 303)


@bp.post("/admin/mg-digital-leads/bulk")
@login_required
def bulk_change():
    """Assign (managers) or set the status of (what each person may change) the leads ticked in the list."""
    try:
        message = _apply_bulk_form(_actor())
    except LeadActionError as error:
        db.session.rollback()
        return _bulk_answer(_status_code(error), error=str(error))
    return _bulk_answer(notice=message)
