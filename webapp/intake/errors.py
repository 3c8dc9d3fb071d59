"""The webhook's refusals: every failure, expected or not, becomes a status and an error that says what to fix.

CarDekho retries only a 5xx: a 4xx must mean the request itself is wrong, and a
5xx that the lead may be sent again.
"""
import logging

from flask import Request
from werkzeug.exceptions import HTTPException

from webapp.database import is_outage
from webapp.intake.spool import SpoolUnavailable
from webapp.leads.submission import InvalidSubmission, UnsupportedCharset

log = logging.getLogger(__name__)

KEPT_HEADERS = ("Allow", "Retry-After")
RETRY_SOON = {"Retry-After": "5"}
INTERNAL_ERROR = "Internal server error; retry with exponential backoff"


def refusal_for(error: Exception, request: Request, max_content_length: int) -> tuple[int, str, dict[str, str]]:
    """The status, the `error` text and the headers that answer `error`; unexpected ones are logged in full."""
    if isinstance(error, UnsupportedCharset):  # an InvalidSubmission too, but about the media type
        return 415, str(error), {}
    if isinstance(error, InvalidSubmission):
        return 400, str(error), {}
    if isinstance(error, HTTPException) and error.code is not None and error.code < 500:
        original = error.get_response().headers
        return error.code, _http_message(error, request, max_content_length), \
            {name: original[name] for name in KEPT_HEADERS if name in original}
    if isinstance(error, HTTPException) and error.code == 503:
        return 503, error.description, RETRY_SOON
    if isinstance(error, SpoolUnavailable):
        # The database failed and the disk too: only now may CarDekho's retry be our only copy.
        log.error("lead NOT kept: database unavailable and %s", error)
        return 503, "Lead could not be stored right now; retry with exponential backoff", RETRY_SOON
    if is_outage(error):
        log.warning("database unavailable: %s", type(getattr(error, "orig", None) or error).__name__)
        return 503, "Database temporarily unavailable; retry with exponential backoff", RETRY_SOON
    log.error("webhook failed", exc_info=error)
    return 500, INTERNAL_ERROR, {}


def _http_message(error: HTTPException, request: Request, max_content_length: int) -> str:
    if error.code == 404:
        return f"No such endpoint: {request.method} {request.path}"
    if error.code == 405:
        return f"Method {request.method} is not allowed here; send POST with a JSON body"
    if error.code == 413:
        return f"Body too large: at most {max_content_length} bytes"
    if error.code == 429:
        return f"Rate limit exceeded ({error.description}); retry after the Retry-After header's seconds"
    return error.description

