"""Dashboard views: thin, over webapp.leads.search and webapp.leads.export."""
from flask import Response, abort, current_app, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user

from webapp.audit import audit
from webapp.auth.access import login_required, role_required
from webapp.dashboard import bp
from webapp.database import DB_OUTAGE_ERRORS, rollback_quietly, utcnow
from webapp.dashboard.export_slots import ExportSlot, released_at_the_end, take_slot
from webapp.dashboard.work_context import lead_or_404, list_controls, render_lead_page, work_columns
from webapp.extensions import db
from webapp.leads.export import recent_exports, recorded_rows, start_export
from webapp.leads.live import answered_through
from webapp.leads.models import Lead
from webapp.leads.search import LeadFilters, count_leads, filter_choices, search_leads, searchable
from webapp.leads.timezones import to_ist

EXPORT_ROLES = ("manager", "admin")


@bp.get("/")
def home():
    """The desk opens on the lead list."""
    return redirect(url_for("dashboard.lead_list"))


def list_results(args) -> dict:
    """What the list's results show for a query string: the page of leads, the count and the work on each."""
    typed = LeadFilters.from_args(args, current_user.id)
    filters, search_hint = searchable(typed)  # a search no index can answer lists every lead, with the hint
    page = search_leads(filters, cursor=args.get("page"))
    total, capped = count_leads(filters)
    return {"filters": filters, "typed": typed, "search_hint": search_hint, "page": page, "total": total,
            "capped": capped,
            "can_export": current_user.role in EXPORT_ROLES, "first_page": not args.get("page"),
            "live_after": answered_through(), **work_columns(page.leads)}


@bp.get("/admin/mg-digital-leads")
@login_required
def lead_list():
    """Newest leads first, narrowed by search and filters; htmx asks for just the results."""
    context = list_results(request.args)
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "lead-results":
        # The address bar shows the canonical URL (no empty fields), so it can be shared and reloaded.
        canonical = url_for("dashboard.lead_list", page=request.args.get("page") or None,
                            **context["typed"].to_args())
        return render_template("dashboard/_lead_results.html", **context), {"HX-Push-Url": canonical}
    return render_template("dashboard/index.html", choices=filter_choices(), **list_controls(), **context)


@bp.get("/admin/mg-digital-leads/<id:lead_id>")
@login_required
def lead_detail(lead_id: int):
    """Every column of one lead, the work on it (status, owner, notes, timeline), the person's enquiries, the payload."""
    lead = lead_or_404(lead_id)
    audit("lead_view", target=str(lead_id))  # who saw whose personal data (DPDP Act)
    return render_lead_page(lead)


@bp.get("/admin/mg-digital-leads/export.csv")
@role_required(*EXPORT_ROLES)
def export_leads():
    """The current filters' leads as CSV, streamed, and recorded in the export history."""
    # A GET that hands out personal data: another site must not be able to start one in a
    # manager's browser (SameSite=Lax still sends the cookie on a cross-site link).
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        abort(403, description="Exports start from the dashboard itself, not from another site.")
    filters, search_hint = searchable(LeadFilters.from_args(request.args, current_user.id))
    if search_hint:
        abort(400, description=search_hint)
    slot = take_slot(current_app.extensions["export_slots"])
    if slot is None:
        abort(503, description="Other exports are still downloading on this server; please try again in a "
                               "minute.", retry_after=60)
    try:
        return _started_download(filters, slot)
    except BaseException:
        slot.release()  # no download started
        raise


def _started_download(filters: LeadFilters, slot: ExportSlot) -> Response:
    """Record the export, then the response that streams it and gives `slot` back when it ends."""
    try:
        audit("export", details=filters.to_args())
        export_id = start_export(current_user.id, filters)
    except DB_OUTAGE_ERRORS:
        rollback_quietly()
        abort(503, description="The export could not start: the database is busy or unavailable. Please try "
                               "again in a minute.", retry_after=60)
    chunks = released_at_the_end(recorded_rows(export_id, filters), slot)
    filename = f"mg-digital-leads-{to_ist(utcnow()):%Y-%m-%d}.csv"
    response = Response(stream_with_context(chunks), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    response.call_on_close(slot.release)  # also for a response closed before its first chunk
    return response


@bp.get("/admin/mg-digital-leads/exports")
@role_required(*EXPORT_ROLES)
def export_history():
    """Who exported which leads, and when."""
    return render_template("dashboard/exports.html", exports=recent_exports())
