"""POST /admin/mg-digital-leads/source/cardekho — the guide's sections 2 to 7."""
from flask import current_app, g, jsonify, request

from webapp.intake import bp
from webapp.intake.api_keys import key_refused, keyring, require_api_key
from webapp.leads.routing_thread import router_for
from webapp.leads.store import receive_lead
from webapp.leads.submission import parse_submission
from webapp.request_body import read_json_body
from webapp.request_log import request_event_values
from webapp.spooling import breaker_for, drainer_for, spool_for

WEBHOOK_PATH = "/admin/mg-digital-leads/source/cardekho"
SUCCESS_MESSAGE = "CarDekho lead inserted successfully"


@bp.post(WEBHOOK_PATH)
def receive_cardekho_lead():
    """Authenticate, validate and keep one CarDekho lead; 201 means it is stored or durably spooled."""
    limits = current_app.extensions["webhook_limits"]
    # Counted per address (guessing keys is slow, CarDekho's own limit untouched); never a key that cannot be
    # checked right now: its 503 is retried, a 429 would be final.
    if key_refused():
        limits.check_failing_address(request.remote_addr)  # the client's address behind TRUSTED_PROXY_HOPS
    label = require_api_key()  # the guide's 401 or 403 (or 503 when keys cannot be checked)
    limits.check_key(label)
    body = read_json_body(request)  # the 413, 415 or 400 of a body no lead can be read from
    submission = parse_submission(body.data, body.charset)
    kept = body.data if submission.repairs else None  # a repaired lead's intake-log row keeps what was sent
    receipt = receive_lead(submission, "CarDekho", spool_for(current_app), breaker_for(current_app),
                           request_event_values(kept), g.started)
    g.lead_id, g.intake_id, g.error_reason = receipt.lead_id, receipt.intake_id, receipt.reason
    if not receipt.spooled:
        keyring().note_use(label)
        drainer_for(current_app).nudge()  # the database takes inserts: move any spooled leads now
        router_for(current_app).nudge()  # an owner within seconds; the sender does not wait for it
    return jsonify(message=SUCCESS_MESSAGE), 201
