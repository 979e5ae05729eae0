"""Liveness and readiness.

/healthz is liveness: it answers from the process alone and never touches the database, so that a
slow or locked database never gets a healthy process restarted. /readyz is readiness: the database
reachable and migrated. It reads on a connection of its own, opened for each probe, with short
timeouts (on SQLite a 1 s busy timeout and no write lock; on PostgreSQL a 2 s connect timeout and 1 s
statement and lock timeouts), so it answers within about 2 s whatever holds the database."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import select, text

from pharmsafe.audit.anchor import AnchorError, anchor_age_seconds, latest_anchor
from pharmsafe.migrations_state import migration_status
from pharmsafe.models import AuditEvent, SchedulerHeartbeat
from pharmsafe.runtime import current_runtime

health_bp = Blueprint("health", __name__)


@health_bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@health_bp.get("/readyz")
def readyz():
    runtime = current_runtime()
    now = runtime.clock.now
    body = {"database": "unreachable", "migrations": "unknown", "scheduler_heartbeat_age_seconds": None}
    anchoring = runtime.anchoring
    head_id = None
    try:
        with runtime.probe_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
            body["database"] = "ok"
            current, head = migration_status(conn)
            body["migrations"] = "at_head" if current == head else f"at {current}, head is {head}"
            beat = conn.execute(select(SchedulerHeartbeat.beat_at).order_by(SchedulerHeartbeat.beat_at.desc())
                                .limit(1)).scalar()
            if beat is not None:
                body["scheduler_heartbeat_age_seconds"] = round((now() - beat).total_seconds(), 1)
            if anchoring is not None:
                head_id = conn.execute(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)).scalar() or 0
    except Exception as exc:  # readiness reports; it never raises
        body["error"] = type(exc).__name__
    if anchoring is None:
        body["audit_anchor"] = "off"
    else:
        # Reported, never a reason to be unready: the age of the latest anchor and the events after it.
        report = {"age_seconds": None, "head_event_id": None, "after_anchor": head_id}
        try:
            anchor = latest_anchor(anchoring, numbered=False)
        except AnchorError as exc:
            report["error"] = str(exc)
        else:
            if anchor is not None:
                report.update(age_seconds=anchor_age_seconds(anchor, now()), head_event_id=anchor.head_event_id,
                              after_anchor=None if head_id is None else max(head_id - anchor.head_event_id, 0))
        body["audit_anchor"] = report
    ready = body["database"] == "ok" and body["migrations"] == "at_head"
    body["status"] = "ready" if ready else "not_ready"
    return jsonify(body), 200 if ready else 503
