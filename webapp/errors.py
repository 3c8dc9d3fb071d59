"""Error answers: JSON for the webhook and other API clients, HTML for people."""
import logging

from flask import g, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from webapp.leads.submission import InvalidSubmission, UnsupportedCharset

log = logging.getLogger(__name__)

API_PREFIX = "/admin/mg-digital-leads/source/"

from webapp.intake.spool import SpoolUnavailable  # noqa: E402  (webapp.intake imports API_PREFIX)
from webapp.database import DB_OUTAGE_ERRORS, rollback_quietly  # noqa: E402
KEPT_HEADERS = ("Allow", "Retry-After")


def wants_json() -> bool:
    """Webhook paths always speak JSON; elsewhere, clients that prefer it to HTML."""
    if request.path.startswith(API_PREFIX):
        return True
    accept = request.accept_mimetypes
    return accept["application/json"] > accept["text/html"]


def error_response(status: int, message: str, headers=None):
    """`{"error": message}` for API clients, an error page for people."""
    g.error_reason = message
    if wants_json():
        response = jsonify(error=message)
    else:
        response = make_response(render_template("errors/error.html", status=status, message=message))
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register_error_handlers(app) -> None:
    """Install the handlers on `app`."""

    @app.errorhandler(InvalidSubmission)
    def invalid_submission(error):
        return error_response(400, str(error))

    @app.errorhandler(UnsupportedCharset)
    def unsupported_charset(error):
        return error_response(415, str(error))

    @app.errorhandler(HTTPException)
    def http_error(error):
        on_api = request.path.startswith(API_PREFIX)
        message = {
            404: f"No such endpoint: {request.method} {request.path}",
            405: f"Method {request.method} is not allowed here"
            + ("; send POST with a JSON body" if on_api else ""),
            413: f"Body too large: at most {app.config['MAX_CONTENT_LENGTH']} bytes",
            429: f"Rate limit exceeded ({error.description}); retry after the Retry-After header's seconds"
            if on_api else "Too many requests; please wait a minute and try again.",
        }.get(error.code, error.description)
        original = error.get_response().headers
        return error_response(error.code, message, {h: original[h] for h in KEPT_HEADERS if h in original})

    def database_unavailable(error):
        rollback_quietly()
        log.warning("database unavailable: %s", type(getattr(error, "orig", None) or error).__name__)
        return error_response(503, "Database temporarily unavailable; retry with exponential backoff",
                              {"Retry-After": "5"})

    for outage in DB_OUTAGE_ERRORS:
        app.register_error_handler(outage, database_unavailable)

    @app.errorhandler(SpoolUnavailable)
    def spool_unavailable(error):
        # The database failed and the disk too: only now may CarDekho's retry be our only copy.
        log.error("lead NOT kept: database unavailable and %s", error)
        return error_response(503, "Lead could not be stored right now; retry with exponential backoff",
                              {"Retry-After": "5"})

    @app.errorhandler(InternalServerError)
    def internal_error(error):
        rollback_quietly()
        return error_response(500, "Internal server error; retry with exponential backoff")
