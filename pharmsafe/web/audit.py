"""The audit trail for auditors and admins: filter and page through events, download an export
(recorded as audit.exported, exactly as the API's), and verify the hash chain."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request
from marshmallow import ValidationError

from pharmsafe.audit import append_event
from pharmsafe.audit.export import EXPORT_FORMATS, export_rows
from pharmsafe.audit.query import filtered_events, parse_filters
from pharmsafe.audit.verify import verify_chain
from pharmsafe.db import read_only_session
from pharmsafe.models import AuditEvent
from pharmsafe.schemas.audit import AuditFilterQuery
from pharmsafe.transactions import get_session, make_ctx
from pharmsafe.web import present
from pharmsafe.web.forms import Form
from pharmsafe.web.session import current_user, guard

bp = Blueprint("audit", __name__, url_prefix="/audit")
bp.before_request(guard("auditor", "admin"))

PAGE_SIZE = 50
FILTERS = ("since", "until", "action", "subject")
ACTIONS = ("decision.recorded", "authorization.issued", "authorization.expired", "authorization.reversed",
           "dispense.recorded", "evidence.recorded", "evidence.entered_in_error", "prescription.submitted",
           "registry.changed", "user.created", "user.changed", "user.login", "user.login_failed", "token.issued",
           "token.revoked", "audit.exported", "audit.checkpoint")
DOWNLOADS = (("csv", "Download CSV"), ("ndjson", "Download NDJSON"), ("fhir", "Download FHIR"))


def _filters():
    """The filter form as typed, the parsed filters (None when refused), and the query to repeat."""
    form = Form({name: request.args.get(name, "") for name in FILTERS})
    query = {name: form.text(name) for name in FILTERS if form.text(name)}
    try:
        loaded = AuditFilterQuery().load(query)
        filters = parse_filters(loaded, current_app.extensions["pharmsafe"]["program"].time_zone)
    except ValidationError as exc:
        form.refuse(exc)
        return form, None, query
    return form, filters, query


def _page(form: Form, filters, query: dict, status: int = 200):
    before = request.args.get("before", "")
    before_id = int(before) if before.isdigit() and len(before) < 19 else None
    events, more = [], False
    if filters is not None:
        stmt = filtered_events(filters)
        if before_id is not None:
            stmt = stmt.where(AuditEvent.id < before_id)
        rows = get_session().scalars(stmt.order_by(AuditEvent.id.desc()).limit(PAGE_SIZE + 1)).all()
        events, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
    return render_template("audit/index.html", form=form, query=query, events=events, more=more,
                           before=before_id, action_options=[(a, a) for a in ACTIONS], downloads=DOWNLOADS,
                           zone=present.program_zone()), status


@bp.get("/")
def index():
    form, filters, query = _filters()
    return _page(form, filters, query, form.status if form.invalid else 200)


@bp.get("/export")
def export():
    form, filters, query = _filters()
    fmt = request.args.get("format", "csv")
    if fmt not in EXPORT_FORMATS:
        form.message = "Choose CSV, NDJSON or FHIR."
        form.status = 422
    if form.invalid:
        return _page(form, filters, query, form.status)
    ctx = make_ctx(current_user().actor)
    # Recorded in the request's transaction, which commits before the first byte is streamed.
    append_event(ctx.session, action="audit.exported", actor=ctx.actor, subject="audit:export", now=ctx.now,
                 payload={"format": fmt, **query})
    factory = current_app.extensions["pharmsafe"]["session_factory"]
    mimetype, extension = EXPORT_FORMATS[fmt]
    response = Response(export_rows(factory, filters, fmt), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="audit-events.{extension}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/verification")
def verification():
    with read_only_session(current_app.extensions["pharmsafe"]["session_factory"]) as session:
        try:
            result = verify_chain(session)
        finally:
            session.rollback()
    return render_template("audit/verification.html", result=result)
