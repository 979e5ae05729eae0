"""Liveness and readiness."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import select, text

from pharmsafe.transactions import now

health_bp = Blueprint("health", __name__)


@health_bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@health_bp.get("/readyz")
def readyz():
    from pharmsafe.migrations_state import migration_status
    from pharmsafe.models import SchedulerHeartbeat

    engine = current_app.extensions["pharmsafe"]["engine"]
    body = {"database": "unreachable", "migrations": "unknown", "scheduler_heartbeat_age_seconds": None}
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            body["database"] = "ok"
            current, head = migration_status(conn)
            body["migrations"] = "at_head" if current == head else f"at {current}, head is {head}"
            beat = conn.execute(select(SchedulerHeartbeat.beat_at).order_by(SchedulerHeartbeat.beat_at.desc())
                                .limit(1)).scalar()
            if beat is not None:
                body["scheduler_heartbeat_age_seconds"] = round((now() - beat).total_seconds(), 1)
    except Exception as exc:  # readiness reports; it never raises
        body["error"] = type(exc).__name__
    ready = body["database"] == "ok" and body["migrations"] == "at_head"
    body["status"] = "ready" if ready else "not_ready"
    return jsonify(body), 200 if ready else 503
