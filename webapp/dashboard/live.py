"""The live list: an open list page asks every few seconds whether leads arrived since the newest it knows."""
from flask import abort, render_template, request
from flask_login import current_user

from webapp.auth.access import login_required
from webapp.dashboard import bp
from webapp.dashboard.work_context import work_columns
from webapp.leads.live import lead_id, leads_since
from webapp.leads.search import LeadFilters

LIVE_PATH = "/admin/mg-digital-leads/live"


@bp.get(LIVE_PATH)
@login_required
def live_leads():
    """204 when no lead newer than `after` matches the filters; else those leads' rows, newest first.

    A signed-in person's 204 is usually given before this app runs (webapp.dashboard.nothing_new)."""
    after = lead_id(request.args.get("after"))
    if after is None:
        abort(400, description="'after' must be a lead id (0 or more).")
    new = leads_since(LeadFilters.from_args(request.args, current_user.id), after)
    headers = {"X-Newest-Id": str(new.newest_id)}
    if not new.leads:
        return "", 204, headers
    headers["X-New-Leads"] = str(new.count)
    return render_template("dashboard/_lead_rows.html", leads=new.leads, new=True,
                           **work_columns(new.leads)), 200, headers
