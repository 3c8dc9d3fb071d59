"""The CarDekho intake webhook: API keys, its own rate limit, JSON everywhere.

The webhook skips the dashboard's per-request machinery it has no use for:
Flask-Limiter's hooks (its limits are counted by `rate_limit`) and the session
cookie (CarDekho authenticates with its key and sends no cookies).
"""
from flask import Blueprint, request
from flask.sessions import SecureCookieSessionInterface

from webapp.errors import API_PREFIX
from webapp.extensions import limiter

bp = Blueprint("intake", __name__)


@limiter.request_filter
def _counted_by_webhook_limits() -> bool:
    """Flask-Limiter skips the webhook at once: webapp.intake.rate_limit counts it in one storage call."""
    return request.blueprint == bp.name


class SessionInterface(SecureCookieSessionInterface):
    """The signed-cookie session of the dashboard; webhook requests get an empty, read-only one."""

    def open_session(self, app, request):
        """No cookie is read or signed on the webhook's paths."""
        if request.path.startswith(API_PREFIX):
            return self.make_null_session(app)
        return super().open_session(app, request)


from webapp.intake import routes  # noqa: E402,F401  (registers the views)
