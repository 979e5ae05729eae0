"""The audit trail for auditors: list, verify, export."""
from __future__ import annotations

from flask import Response, current_app, jsonify

from pharmsafe.api import api_bp
from pharmsafe.api.common import ctx, load_query, paginate, roles
from pharmsafe.audit import append_event, event_to_dict
from pharmsafe.audit.export import EXPORT_FORMATS, export_rows
from pharmsafe.audit.query import filtered_events, parse_filters
from pharmsafe.audit.verify import verify_chain
from pharmsafe.models import AuditEvent
from pharmsafe.schemas.audit import AuditExportQuery, AuditQuery
from pharmsafe.transactions import get_session


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
    return jsonify(verify_chain(get_session()).to_dict())


@api_bp.get("/audit-events/export")
@roles("auditor", "admin")
def export_audit_events():
    c = ctx()
    query = load_query(AuditExportQuery())
    fmt = query.get("format", "csv")
    filters = parse_filters(query, c.config.time_zone)
    # The export is recorded before streaming starts, in the request's own transaction.
    append_event(c.session, action="audit.exported", actor=c.actor, subject="audit:export", now=c.now,
                 payload={"format": fmt, **{k: v for k, v in query.items() if k != "format"}})
    c.session.commit()
    factory = current_app.extensions["pharmsafe"]["session_factory"]
    mimetype, extension = EXPORT_FORMATS[fmt]
    response = Response(export_rows(factory, filters, fmt), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="audit-events.{extension}"'
    return response
