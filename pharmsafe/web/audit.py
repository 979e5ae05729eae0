"""The audit trail for auditors and admins: filter and page through events, download an export
(recorded as audit.exported, exactly as the API's), and verify the hash chain."""
from __future__ import annotations

import json

from flask import Blueprint, render_template, request, url_for
from marshmallow import ValidationError

from pharmsafe.audit.export import EXPORT_FORMATS, AuditExport, export_payload
from pharmsafe.audit.query import filtered_events, parse_filters
from pharmsafe.audit.verify import verify_trail
from pharmsafe.errors import NotFound, ValidationFailed
from pharmsafe.http.download import download
from pharmsafe.http.unit import get_session
from pharmsafe.models import AuditEvent, Patient, Prescription
from pharmsafe.runtime import current_runtime
from pharmsafe.schemas.audit import AuditFilterQuery
from pharmsafe.services.course import actor_names, course
from pharmsafe.web import present
from pharmsafe.web.forms import Form
from pharmsafe.web.session import current_user, guard

bp = Blueprint("audit", __name__, url_prefix="/audit")
bp.before_request(guard("auditor", "admin"))

PAGE_SIZE = 50
FILTERS = ("since", "until", "action", "subject", "source")
SOURCE_OPTIONS = tuple(present.SOURCE_LABELS.items())
ACTIONS = ("decision.recorded", "authorization.issued", "authorization.expired", "authorization.reversed",
           "dispense.recorded", "evidence.recorded", "evidence.entered_in_error", "prescription.submitted",
           "registry.changed", "user.created", "user.changed", "user.login", "user.login_failed", "token.issued",
           "token.revoked", "audit.exported", "audit.checkpoint", "check.performed", "notification.sent",
           "dispense.reversed", "session.ended", "user.lock_lifted", "policy.loaded", "authorization.prepared")
DOWNLOADS = (("csv", "Download CSV"), ("ndjson", "Download NDJSON"), ("fhir", "Download FHIR"))


@bp.get("/prescriptions/<int:prescription_id>")
def prescription_course(prescription_id: int):
    """One prescription's course for the auditor: the patient's evidence and the prescription's
    records, each with its audit events (linked to the trail) and people's names beside their ids."""
    session = get_session()
    rx = session.get(Prescription, prescription_id)
    if rx is None:
        raise NotFound(f"Prescription {prescription_id} does not exist.")
    patient = session.get(Patient, rx.patient_id)
    entries = course(session, patient.id, visible=Prescription.id == rx.id)
    actors = {e.by for e in entries} | {actor for e in entries for _id, _action, actor in e.events}
    return render_template("course.html", patient=patient, entries=entries, zone=present.program_zone(),
                           names=actor_names(session, actors), audit_links=True, rx=rx,
                           back=url_for(".index", subject=f"prescription:{rx.id}"))


def _filters():
    """The filter form as typed, the parsed filters (None when refused), and the query to repeat."""
    form = Form({name: request.args.get(name, "") for name in FILTERS})
    query = {name: form.text(name) for name in FILTERS if form.text(name)}
    try:
        loaded = AuditFilterQuery().load(query)
        filters = parse_filters(loaded, current_runtime().program.time_zone)
    except (ValidationError, ValidationFailed) as exc:
        form.refuse(exc)
        return form, None, query
    return form, filters, query


def _before(form: Form) -> int | None:
    """?before= (the next page's link): an event id in ASCII digits. Anything else shows the page
    with a message (400) and no events; an id past any event's means "from the newest"."""
    before = request.args.get("before", "")
    if not before:
        return None
    if not (before.isascii() and before.isdigit()):
        form.message = ("The 'before' value must be an event number in digits 0-9, as the Next page link "
                        "gives it.")
        form.status = 400
        return None
    return int(before) if len(before) < 19 else None


def _page(form: Form, filters, query: dict, status: int = 200):
    before_id = _before(form)
    if form.status == 400:
        filters, status = None, 400
    events, more = [], False
    if filters is not None:
        stmt = filtered_events(filters)
        if before_id is not None:
            stmt = stmt.where(AuditEvent.id < before_id)
        rows = get_session().scalars(stmt.order_by(AuditEvent.id.desc()).limit(PAGE_SIZE + 1)).all()
        events, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
    sources = {ev.id: _source_of(ev.payload) for ev in events}
    return render_template("audit/index.html", form=form, query=query, events=events, more=more,
                           before=before_id, action_options=[(a, a) for a in ACTIONS], source_options=SOURCE_OPTIONS,
                           sources=sources,
                           downloads=DOWNLOADS,
                           zone=present.program_zone()), status


def _source_of(payload: str) -> str:
    try:
        value = json.loads(payload).get("source")
    except (ValueError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""


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
    # Recorded only once the stream completed, exactly as the API's export.
    export = AuditExport(current_runtime(), filters, fmt, actor=current_user().actor,
                         payload=export_payload(fmt, query, "web"))
    return download(export, fmt)


@bp.get("/verification")
def verification():
    return render_template("audit/verification.html", result=verify_trail(current_runtime()))
