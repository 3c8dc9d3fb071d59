"""POST /admin/mg-digital-leads/source/cardekho — the guide's sections 2 to 7."""
from flask import abort, current_app, g, jsonify, request

from webapp.intake import bp
from webapp.intake.api_keys import key_refused, keyring, require_api_key
from webapp.leads.routing_thread import router_for
from webapp.leads.store import receive_lead
from webapp.leads.submission import parse_submission
from webapp.request_log import request_event_values
from webapp.spooling import drainer_for, spool_for

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
    if request.mimetype != "application/json":
        abort(415, description="Content-Type must be application/json")
    submission = parse_submission(request.get_data())  # kept for the intake log if it is rejected
    receipt = receive_lead(submission, "CarDekho", spool_for(current_app), request_event_values(), g.started)
    g.lead_id, g.intake_id = receipt.lead_id, receipt.intake_id
    if receipt.spooled:
        g.error_reason = "database unavailable: kept in the spool"
    else:
        keyring().note_use(label)
        drainer_for(current_app).nudge()  # the database takes inserts: move any spooled leads now
        router_for(current_app).nudge()  # an owner within seconds; the sender does not wait for it
    return jsonify(message=SUCCESS_MESSAGE), 201
