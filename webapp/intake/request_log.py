"""Request ids on every request and log line; every webhook answer explained in the intake log.

No key (only its label), no password and no phone number ever reaches a log line:
error reasons name fields, never their values, and SQL parameters are hidden.
"""
import logging
import re
import time
import uuid

from flask import current_app, g, has_request_context, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from webapp.extensions import db
from webapp.intake.request_body import decompressed
from webapp.intake.intake_log import KEEP_BODY_STATUSES, outcome_for, record_event

log = logging.getLogger("webapp.intake")

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy or a sender may hand us: short, and nothing that could forge a log line.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@+=/-]{1,128}")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record: the current request's, or `-` outside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record."""
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def request_event_values(kept_body: bytes | None = None) -> dict:
    """The intake log's columns known from the request itself, and `kept_body` (capped) if given."""
    values = dict(source_ip=request.remote_addr, key_label=g.get("api_key_label"),
                  request_id=g.get("request_id"), body_size=request.content_length)
    if kept_body is not None:
        values["body"], values["body_truncated"] = _capped(kept_body)
    return values


def _capped(raw: bytes) -> tuple[bytes, bool]:
    cap = current_app.config["INTAKE_BODY_CAP"]
    return raw[:cap], len(raw) > cap


def _kept_body() -> tuple[bytes | None, bool]:
    """The body (capped) of an authenticated request we rejected, so the lead can be recovered."""
    cap = current_app.config["INTAKE_BODY_CAP"]
    try:
        if (request.content_length or 0) > current_app.config["MAX_CONTENT_LENGTH"]:
            raw = request.environ["wsgi.input"].read(cap + 1)  # a 413: read only what we keep
        else:
            raw = decompressed(request, request.get_data())  # readable on the admin page, recoverable
    except (HTTPException, OSError):
        return None, False
    return _capped(raw)


def _record(response, duration_ms: float) -> None:
    status = response.status_code
    values = dict(request_event_values(), status=status, outcome=outcome_for(status),
                  reason=g.get("error_reason"), duration_ms=round(duration_ms, 1))
    if status in KEEP_BODY_STATUSES and g.get("api_key_label"):
        values["body"], values["body_truncated"] = _kept_body()
    try:
        record_event(values)
    except Exception as error:  # the answer is decided; the log must never turn it into a 500
        try:
            db.session.rollback()
        except SQLAlchemyError:
            pass
        log.warning("intake log: request not recorded (%s)", type(error).__name__)


def register_request_log(app, path_prefix: str) -> None:
    """Give every request an id (first of all hooks) and explain every answer under `path_prefix`."""

    def start_request():
        g.started = time.perf_counter()
        given = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = given if SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex

    # First, so a request the rate limiter refuses has an id and a start time too.
    app.before_request_funcs.setdefault(None, []).insert(0, start_request)

    @app.after_request
    def finish_request(response):
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        if request.path.startswith(path_prefix):
            duration_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
            outcome = "spooled" if g.get("intake_id") and g.get("lead_id") is None else outcome_for(
                response.status_code)
            log.info("webhook outcome=%s status=%s duration_ms=%.1f lead_id=%s key=%s ip=%s reason=%r",
                     outcome, response.status_code, duration_ms, g.get("lead_id"), g.get("api_key_label"),
                     request.remote_addr, g.get("error_reason"))
            if not g.get("intake_id"):  # a received lead's row was written with the lead (or spooled)
                _record(response, duration_ms)
        return response
