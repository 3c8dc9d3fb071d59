"""Every webhook answer explained: one log line, and a row in the intake log.

No key (only its label), no password and no phone number ever reaches a log line:
error reasons name fields, never their values, and SQL parameters are hidden.
"""
import logging

import sqlalchemy as sa
from flask import Request
from werkzeug.exceptions import HTTPException

from webapp.intake.intake_log import KEEP_BODY_STATUSES, record_event
from webapp.intake.outcome import IntakeOutcome
from webapp.intake.request_body import decompressed

log = logging.getLogger("webapp.intake")


def event_values(outcome: IntakeOutcome, kept_body: bytes | None = None, body_cap: int = 0) -> dict:
    """The intake log's columns known from the request, and `kept_body` cut to `body_cap` if given."""
    values = dict(source_ip=outcome.source_ip, key_label=outcome.key_label, request_id=outcome.request_id,
                  body_size=outcome.body_size)
    if kept_body is not None:
        values["body"], values["body_truncated"] = kept_body[:body_cap], len(kept_body) > body_cap
    return values


def log_outcome(engine: sa.Engine, outcome: IntakeOutcome, request: Request, config) -> None:
    """Write the answer's log line and, unless it was written with the lead, its intake-log row."""
    duration_ms = outcome.elapsed_ms()
    log.info("webhook outcome=%s status=%s duration_ms=%.1f lead_id=%s key=%s ip=%s reason=%r", outcome.name,
             outcome.status, duration_ms, outcome.lead_id, outcome.key_label, outcome.source_ip, outcome.reason)
    if outcome.intake_id and not outcome.replayed:  # a received lead's row was written with it (or is spooled)
        return
    values = dict(event_values(outcome), status=outcome.status, outcome=outcome.name, reason=outcome.reason,
                  duration_ms=round(duration_ms, 1), lead_id=outcome.lead_id, intake_id=outcome.intake_id)
    if outcome.status in KEEP_BODY_STATUSES and outcome.key_label:
        values.update(event_values(outcome, _rejected_body(request, config), config["INTAKE_BODY_CAP"]))
    try:
        record_event(engine, values)
    except Exception as error:  # the answer is decided; the log must never turn it into a 500
        log.warning("intake log: request not recorded (%s)", type(error).__name__)


def _rejected_body(request: Request, config) -> bytes | None:
    """The body of an authenticated request we rejected, so the lead can be recovered by hand."""
    cap = config["INTAKE_BODY_CAP"]
    try:
        if (request.content_length or 0) > config["MAX_CONTENT_LENGTH"]:
            return request.environ["wsgi.input"].read(cap + 1)  # a 413: read only what we keep
        return decompressed(request, request.get_data())  # readable on the admin page, recoverable
    except (HTTPException, OSError):
        return None
