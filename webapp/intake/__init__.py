"""The CarDekho intake webhook: API keys, its own rate limit, JSON everywhere."""
from flask import Blueprint, request

from webapp.extensions import limiter

bp = Blueprint("intake", __name__)


@limiter.request_filter
def _counted_by_webhook_limits() -> bool:
    """Flask-Limiter skips the webhook at once: webapp.intake.rate_limit counts it in one storage call."""
    return request.blueprint == bp.name


from webapp.intake import routes  # noqa: E402,F401  (registers the views)
