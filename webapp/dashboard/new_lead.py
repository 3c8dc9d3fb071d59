"""A lead typed in by hand: a walk-in, a phone call, a showroom event, a referral."""
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.auth.access import login_required
from webapp.dashboard import bp
from webapp.extensions import db
from webapp.leads.manual import known_models
from webapp.leads.pipeline import MANUAL_SOURCES, LeadActionError, NotAllowed, create_manual_lead
from webapp.leads.routing_thread import router_for

FIELDS = ("name", "phone_number", "car_model", "platform", "note")


@bp.route("/admin/mg-digital-leads/new", methods=["GET", "POST"])
@login_required
def new_lead():
    """The form; on POST store the lead (routed like any other, or taken at once) and open its page."""
    typed = {name: request.form.get(name, "") for name in FIELDS}
    typed["take"] = bool(request.form.get("take"))
    if request.method == "GET":
        return _form(typed)
    try:
        lead = create_manual_lead(current_user._get_current_object(), typed["name"], typed["phone_number"],
                                  typed["car_model"], typed["platform"], note=typed["note"], take=typed["take"])
    except LeadActionError as error:
        db.session.rollback()
        return _form(typed, str(error)), 403 if isinstance(error, NotAllowed) else 400
    router_for(current_app).nudge()  # its repeat check and owner within a second, not at the next poll
    flash("Lead added.", "success")
    if lead.phone_normalized is None:
        flash(f"{lead.phone_number} is not an Indian mobile or landline number: check it with the buyer.", "error")
    return redirect(url_for("dashboard.lead_detail", lead_id=lead.id), 303)


def _form(typed: dict, error: str | None = None) -> str:
    return render_template("dashboard/new_lead.html", typed=typed, sources=MANUAL_SOURCES, models=known_models(),
                           error=error)
