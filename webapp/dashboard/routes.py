"""Dashboard views: thin, over webapp.leads.search and webapp.leads.export."""
from flask import Response, abort, current_app, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user

from webapp.admin.trail import audit
from webapp.auth.access import login_required, role_required
from webapp.dashboard import bp
from webapp.dashboard.work_context import list_controls, render_lead_page, work_columns
from webapp.extensions import db
from webapp.leads.export import recent_exports, recorded_export
from webapp.leads.live import answered_through
from webapp.leads.models import Lead, utcnow
from webapp.leads.search import LeadFilters, count_leads, filter_choices, search_leads
from webapp.leads.timezones import to_ist

EXPORT_ROLES = ("manager", "admin")


@bp.get("/")
def home():
    """The desk opens on the lead list."""
    return redirect(url_for("dashboard.lead_list"))


def list_results(args) -> dict:
    """What the list's results show for a query string: the page of leads, the count and the work on each."""
    filters = LeadFilters.from_args(args, current_user.id)
    page = search_leads(filters, cursor=args.get("page"))
    total, capped = count_leads(filters)
    return {"filters": filters, "page": page, "total": total, "capped": capped,
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
                            **context["filters"].to_args())
        return render_template("dashboard/_lead_results.html", **context), {"HX-Push-Url": canonical}
    return render_template("dashboard/index.html", choices=filter_choices(), **list_controls(), **context)


@bp.get("/admin/mg-digital-leads/<id:lead_id>")
@login_required
def lead_detail(lead_id: int):
    """Every column of one lead, the work on it (status, owner, notes, timeline), the person's enquiries, the payload."""
    lead = db.session.get(Lead, lead_id) or abort(404)
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
    filters = LeadFilters.from_args(request.args)
    # A download to a phone on a weak signal holds its worker thread for minutes: a few at a time per worker,
    # so the other threads stay free for CarDekho's leads and the rest of the dashboard.
    slots = current_app.extensions["export_slots"]
    if not slots.acquire(blocking=False):
        abort(503, description="Other exports are still downloading on this server; please try again in a "
                               "minute.", retry_after=60)
    audit("export", details=filters.to_args())
    filename = f"mg-digital-leads-{to_ist(utcnow()):%Y-%m-%d}.csv"
    response = Response(stream_with_context(recorded_export(current_user.id, filters)), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    response.call_on_close(slots.release)  # finished, failed or abandoned: the server closes every response
    return response


@bp.get("/admin/mg-digital-leads/exports")
@role_required(*EXPORT_ROLES)
def export_history():
    """Who exported which leads, and when."""
    return render_template("dashboard/exports.html", exports=recent_exports())
