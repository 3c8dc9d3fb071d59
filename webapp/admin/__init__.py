"""Admin pages: the intake log (with recovery of rejected leads), the audit record, the alarm banner."""
from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from webapp.admin import alarms, routes  # noqa: E402,F401  (registers views and template globals)
