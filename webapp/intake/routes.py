"""POST /admin/mg-digital-leads/source/cardekho — the guide's sections 2 to 7, step by step."""
from flask import current_app, request

from webapp.intake.errors import refusal_for
from webapp.intake.idempotency import HEADER as IDEMPOTENCY_HEADER, intake_id_for
from webapp.intake.keyring import check_api_key, require_valid_key
from webapp.intake.outcome import IntakeOutcome
from webapp.intake.parts import Intake, intake_of
from webapp.intake.request_body import read_json_body
from webapp.intake.request_log import event_values, log_outcome
from webapp.intake.store import receive_lead
from webapp.leads.submission import parse_submission
from webapp.request_ids import log_as

WEBHOOK_PATH = "/admin/mg-digital-leads/source/cardekho"
SUCCESS_MESSAGE = "CarDekho lead inserted successfully"


def receive_cardekho_lead():
    """Authenticate, validate and keep one CarDekho lead; 201 means it is stored or durably spooled."""
    intake = intake_of(current_app)
    outcome = IntakeOutcome.begin(request)
    log_as(outcome.request_id)
    try:
        take_lead(intake, outcome)
    except Exception as error:  # every refusal and every failure is answered in JSON, and logged
        outcome.refused(*refusal_for(error, request, current_app.config["MAX_CONTENT_LENGTH"]))
    log_outcome(intake.engine, outcome, request, current_app.config)
    return outcome.response(intake.answer_headers)


def take_lead(intake: Intake, outcome: IntakeOutcome) -> None:
    """The steps, in the guide's order; each refuses by raising (see webapp.intake.errors)."""
    key = check_api_key(request.headers, intake.keyring)
    # Counted per address (guessing keys is slow, CarDekho's own limit untouched); never a key that cannot be
    # checked right now: its 503 is retried, a 429 would be final.
    if key.refused:
        intake.limits.check_failing_address(request.remote_addr)  # the client's address behind TRUSTED_PROXY_HOPS
    outcome.key_label = require_valid_key(key)  # the guide's 401 or 403 (or 503 when keys cannot be checked)
    intake.limits.check_key(outcome.key_label)
    body = read_json_body(request)  # the 413, 415 or 400 of a body no lead can be read from
    submission = parse_submission(body.data, body.charset)
    kept = body.data if submission.repairs else None  # a repaired lead's intake-log row keeps what was sent
    retry_id = intake_id_for(outcome.key_label, request.headers.get(IDEMPOTENCY_HEADER))  # a retry is stored once
    receipt = receive_lead(intake.engine, submission, "CarDekho", intake.spool, intake.breaker,
                           event_values(outcome, kept, current_app.config["INTAKE_BODY_CAP"]), outcome.started,
                           retry_id)
    outcome.received(receipt.lead_id, receipt.intake_id, receipt.reason, SUCCESS_MESSAGE, receipt.replayed)
    if not receipt.spooled:
        intake.keyring.note_use(outcome.key_label)
        for wake in intake.after_store:  # e.g. the drainer: the database takes inserts, move spooled leads now
            wake()


def answer_unrouted(error: Exception):
    """What the route never sees (another path, another method, a failure outside it): answered and logged alike."""
    intake = intake_of(current_app)
    outcome = IntakeOutcome.begin(request)
    log_as(outcome.request_id)
    outcome.refused(*refusal_for(error, request, current_app.config["MAX_CONTENT_LENGTH"]))
    log_outcome(intake.engine, outcome, request, current_app.config)
    return outcome.response(intake.answer_headers)
