"""The CarDekho intake webhook: API keys, its own rate limit, JSON everywhere."""
from flask import Blueprint

bp = Blueprint("intake", __name__)

from webapp.intake import routes  # noqa: E402,F401  (registers the views)
