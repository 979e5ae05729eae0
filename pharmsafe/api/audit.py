"""The audit trail for auditors: list, verify, export."""
from __future__ import annotations

from flask import Response, current_app, jsonify

from pharmsafe.api import api_bp
from pharmsafe.api.common import ctx, load_query, paginate, roles
from pharmsafe.audit import event_to_dict
from pharmsafe.audit.anchor import anchoring_for
from pharmsafe.audit.export import EXPORT_FORMATS, export_rows, recorder
from pharmsafe.audit.query import filtered_events, parse_filters
from pharmsafe.audit.verify import verify_chain
from pharmsafe.db import read_only_session
from pharmsafe.models import AuditEvent
from pharmsafe.schemas.audit import AuditExportQuery, AuditQuery


@api_bp.get("/audit-events")
@roles("auditor", "admin")
def list_audit_events():
    c = ctx()
    query = load_query(AuditQuery())
    stmt = filtered_events(parse_filters(query, c.config.time_zone))
    return jsonify(paginate(stmt, AuditEvent.id, query.get("cursor"), event_to_dict))


@api_bp.get("/audit-events/verification")
@roles("auditor", "admin")
def verify_audit_events():
    # A session of its own that reads without the write lock: a long walk must not stall writers.
    with read_only_session(current_app.extensions["pharmsafe"]["session_factory"]) as session:
        try:
            result = verify_chain(session, anchoring_for(current_app))
        finally:
            session.rollback()
    return jsonify(result.to_dict())


@api_bp.get("/audit-events/export")
@roles("auditor", "admin")
def export_audit_events():
    c = ctx()
    query = load_query(AuditExportQuery())
    fmt = query.get("format", "csv")
    filters = parse_filters(query, c.config.time_zone)
    ext = current_app.extensions["pharmsafe"]
    factory, clock, actor = ext["session_factory"], ext["clock"], c.actor
    payload = {"format": fmt, **{k: v for k, v in query.items() if k != "format"}, "source": "api"}

    # Opens the stream now: a database that cannot be read answers the error shape, not a 200.
    stream = export_rows(factory, filters, fmt, on_complete=recorder(factory, clock, actor, payload), anchoring=anchoring_for(current_app), clock=clock)
    mimetype, extension = EXPORT_FORMATS[fmt]
    response = Response(stream, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="audit-events.{extension}"'
    response.headers["Cache-Control"] = "no-store"
    return response
