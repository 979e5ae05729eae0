"""The audit trail for auditors: list, verify, export."""
from __future__ import annotations

from flask import jsonify

from pharmsafe.api.blueprint import api_bp
from pharmsafe.api.common import ctx, load_query, paginate, roles
from pharmsafe.audit import event_to_dict
from pharmsafe.audit.export import AuditExport, export_payload
from pharmsafe.audit.query import filtered_events, parse_filters
from pharmsafe.audit.verify import verify_trail
from pharmsafe.http.download import download
from pharmsafe.models import AuditEvent
from pharmsafe.runtime import current_runtime
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
    return jsonify(verify_trail(current_runtime()).to_dict())


@api_bp.get("/audit-events/export")
@roles("auditor", "admin")
def export_audit_events():
    c = ctx()
    query = load_query(AuditExportQuery())
    fmt = query.get("format", "csv")
    filters = parse_filters(query, c.config.time_zone)
    payload = export_payload(fmt, query, "api")
    # Opens the export now: a database that cannot be read answers the error shape, not a 200.
    export = AuditExport(current_runtime(), filters, fmt, actor=c.actor, payload=payload)
    return download(export, fmt)
