"""The sales team's dashboard: the lead list, one lead, CSV exports (server-rendered, htmx)."""
from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from webapp.dashboard import account, actions, live, new_lead, reports, routes, template_filters  # noqa: E402,F401  (views, filters)
