"""Health endpoint for load balancers and monitoring: no login, no audit per call, no secrets."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy.exc import SQLAlchemyError

from app import transaction
from app.services.ops.health import health_report

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():
    healthy, report = health_report()
    return jsonify(report), 200 if healthy else 503


@bp.errorhandler(SQLAlchemyError)
def database_down(exc: SQLAlchemyError):
    # Raised before the view (e.g. the shared training clock is read in before_request): still a 503, not a 500.
    transaction.rollback()
    return jsonify({"status": "fail", "checks": {"database": {"ok": False, "error": type(exc).__name__}}}), 503
