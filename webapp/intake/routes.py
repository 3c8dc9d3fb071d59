"""POST /admin/mg-digital-leads/source/cardekho — the guide's sections 2 to 7."""
from flask import abort, current_app, g, jsonify, request

from webapp.extensions import limiter
from webapp.intake import bp
from webapp.intake.api_keys import keyring, matching_key_label, require_api_key
from webapp.leads.store import receive_lead
from webapp.leads.submission import parse_submission
from webapp.request_log import request_event_values
from webapp.spooling import drainer_for, spool_for

WEBHOOK_PATH = "/admin/mg-digital-leads/source/cardekho"
SUCCESS_MESSAGE = "CarDekho lead inserted successfully"


def _webhook_rate_limit() -> str:
    return current_app.config["WEBHOOK_RATE_LIMIT"]


def _rate_limit_key() -> str:
    return f"apikey:{matching_key_label()}"


def _without_valid_key() -> bool:
    # Requests without a valid key are answered 401/403 and not counted against CarDekho.
    return matching_key_label() is None


def _failed_key_rate_limit() -> str:
    return current_app.config["FAILED_KEY_RATE_LIMIT"]


def _client_ip() -> str:
    return f"ip:{request.remote_addr}"  # the real client's address behind TRUSTED_PROXY_HOPS proxies


def _with_valid_key() -> bool:
    # The valid sender is never slowed by someone else's failures from the same address.
    return matching_key_label() is not None


@bp.post(WEBHOOK_PATH)
@limiter.limit(_webhook_rate_limit, key_func=_rate_limit_key, exempt_when=_without_valid_key)
@limiter.limit(_failed_key_rate_limit, key_func=_client_ip, exempt_when=_with_valid_key)
def receive_cardekho_lead():
    """Authenticate, validate and keep one CarDekho lead; 201 means it is stored or durably spooled."""
    label = require_api_key()
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
    return jsonify(message=SUCCESS_MESSAGE), 201
