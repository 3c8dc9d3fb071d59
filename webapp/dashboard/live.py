"""The live list: an open list page asks every few seconds whether leads arrived since the newest it knows."""
from flask import abort, render_template, request
from flask_login import current_user

from webapp.auth.access import login_required
from webapp.dashboard import bp
from webapp.dashboard.work_context import work_columns
from webapp.leads.live import leads_since
from webapp.database import MAX_ROW_ID
from webapp.leads.search import LeadFilters


def _lead_id_arg(name: str) -> int:
    value = (request.args.get(name) or "").strip()
    # isascii: int() would also read other scripts' digits, which no page of ours sends.
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_ROW_ID:
        abort(400, description=f"'{name}' must be a lead id (0 or more).")
    return int(value)


@bp.get("/admin/mg-digital-leads/live")
@login_required
def live_leads():
    """204 when no lead newer than `after` matches the filters; else those leads' rows, newest first."""
    after = _lead_id_arg("after")
    new = leads_since(LeadFilters.from_args(request.args, current_user.id), after)
    headers = {"X-Newest-Id": str(new.newest_id)}
    if not new.leads:
        return "", 204, headers
    headers["X-New-Leads"] = str(new.count)
    return render_template("dashboard/_lead_rows.html", leads=new.leads, new=True,
                           **work_columns(new.leads)), 200, headers
