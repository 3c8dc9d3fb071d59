"""The dashboard's error answers: HTML pages for people, JSON for clients that ask for it.

The webhook answers its own errors (webapp.intake.errors).
"""
import logging

from flask import jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from webapp.database import DB_OUTAGE_ERRORS, rollback_quietly
from webapp.leads.submission import InvalidSubmission, UnsupportedCharset

log = logging.getLogger(__name__)

KEPT_HEADERS = ("Allow", "Retry-After")


def wants_json() -> bool:
    """Clients that prefer JSON to HTML."""
    accept = request.accept_mimetypes
    return accept["application/json"] > accept["text/html"]


def error_response(status: int, message: str, headers=None):
    """`{"error": message}` for API clients, an error page for people."""
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
        if error.description != type(error).description:  # ours ("There is no lead #12."), not Werkzeug's
            message = error.description
        else:
            message = {
                404: f"No such endpoint: {request.method} {request.path}" if wants_json()
                else f"There is no page at {request.path}.",
                405: f"Method {request.method} is not allowed here",
                413: f"Body too large: at most {app.config['MAX_CONTENT_LENGTH']} bytes",
                429: "Too many requests; please wait a minute and try again.",
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

    @app.errorhandler(InternalServerError)
    def internal_error(error):
        rollback_quietly()
        return error_response(500, "Internal server error; retry with exponential backoff")
