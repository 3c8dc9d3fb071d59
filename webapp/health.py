"""Liveness and readiness probes for the host and the load balancer."""
import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify

from webapp.extensions import db
from webapp.spooling import spool_for

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is alive and answering."""
    return jsonify(status="ok")


def _spool_report() -> dict:
    backlog = spool_for(current_app).backlog()
    return {"waiting": backlog.waiting, "failed": backlog.failed,
            "oldest_received_at": backlog.oldest.isoformat() if backlog.oldest else None}


@bp.get("/readyz")
def readyz():
    """Ready when the database answers a query (503 otherwise); the spool's backlog either way."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="unavailable", database="unreachable", spool=_spool_report()), 503
    return jsonify(status="ok", database="ok", spool=_spool_report())
