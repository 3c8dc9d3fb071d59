"""Liveness and readiness probes for the host, the load balancer and whoever is on call."""
import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify

from webapp.leads.outbox import unsent_count
from webapp.leads.silence import BusinessHours, check_silence
from webapp.database import rollback_quietly
from webapp.leads.search import last_lead_time
from webapp.intake.parts import intake_of

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is alive and answering."""
    return jsonify(status="ok")


def _spool_report() -> dict:
    backlog = intake_of(current_app).spool.backlog()
    return {"waiting": backlog.waiting, "failed": backlog.failed,
            "oldest_received_at": backlog.oldest.isoformat() if backlog.oldest else None}


def _rate_limit_store() -> str:
    # Not a readiness condition: with Redis away the webhook's limits count in memory and leads still come in.
    return "ok" if intake_of(current_app).limits.shared_store_reachable() else "unreachable"


@bp.get("/readyz")
def readyz():
    """Ready when the database answers (503 otherwise); also the spool, the limit store, the last lead, silence, mails waiting."""
    report = {"spool": _spool_report(), "rate_limit_store": _rate_limit_store()}
    try:
        latest = last_lead_time()
        report["outbox"] = {"unsent": unsent_count()}
    except sa.exc.SQLAlchemyError:
        rollback_quietly()
        return jsonify(status="unavailable", database="unreachable", **report), 503
    silence = check_silence(latest, BusinessHours.parse(current_app.config["BUSINESS_HOURS"]),
                            current_app.config["SILENCE_ALARM_HOURS"])
    return jsonify(status="ok", database="ok", last_lead_at=latest.isoformat() if latest else None,
                   silence={"alarm": silence.alarm, "quiet_business_hours": silence.quiet_business_hours,
                            "threshold_hours": silence.threshold_hours}, **report)
