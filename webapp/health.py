"""Liveness and readiness probes for the host and the load balancer."""
import sqlalchemy as sa
from flask import Blueprint, jsonify

from webapp.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is alive and answering."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready when the database answers a query; 503 JSON otherwise."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok")
