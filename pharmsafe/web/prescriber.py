"""The prescriber's pages: their patients and prescriptions with status and gate results, and the
forms that register a patient and change their record (deactivate, reactivate), record evidence (a
clearance of a positive pregnancy test among it), withdraw it, and submit a prescription. A patient locked by a
positive pregnancy test is shown as locked, with the two ways out."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import select
from werkzeug.exceptions import BadRequest

from pharmsafe.errors import DomainError
from pharmsafe.http.unit import get_session, make_ctx
from pharmsafe.models import (
    Attestation,
    Authorization,
    LabResult,
    Patient,
    Pharmacy,
    PregnancyTest,
    Prescription,
    TransferIn,
)
from pharmsafe.models.statuses import AuthorizationStatus, PatientStatus, values
from pharmsafe.schemas.evidence import AttestationIn, LabResultIn, PregnancyTestIn, ReasonIn
from pharmsafe.schemas.prescriptions import PrescriptionIn
from pharmsafe.schemas.registry import PatientIn, PatientPatch
from pharmsafe.services import evidence, registry
from pharmsafe.services.access import (
    require_patient_access,
    require_prescription_access,
    visible_patients,
    visible_prescriptions,
)
from pharmsafe.services.course import course
from pharmsafe.services.evaluation import get_prescription, reevaluated
from pharmsafe.services.prescriptions import draft_prescription, submit_prescription
from pharmsafe.services.readiness import check_readiness, readiness_event
from pharmsafe.services.reads import latest_decisions
from pharmsafe.web import present
from pharmsafe.web.forms import Form, attempt, flatten
from pharmsafe.web.locks import patient_lock, patient_locks
from pharmsafe.web.notices import report_reversed
from pharmsafe.web.session import current_user, guard, restored_form

bp = Blueprint("prescriber", __name__, url_prefix="/prescriber")
bp.before_request(guard("prescriber"))

YES_NO = {"yes": True, "no": False}
ATTESTATION_KINDS = [("contraception", "Contraception"), ("comprehension", "Comprehension"),
                     ("counseling", "Counseling"),
                     ("pregnancy_excluded", "Pregnancy excluded (clears a positive pregnancy test)")]
STATUS_NAMES = {"active": "Active", "deactivated": "Deactivated"}


def _ctx():
    return make_ctx(current_user().actor)


def _prescription_rows(*criteria) -> list[dict[str, Any]]:
    rows = get_session().execute(
        select(Prescription, Patient, Pharmacy).join(Patient, Patient.id == Prescription.patient_id)
        .join(Pharmacy, Pharmacy.id == Prescription.pharmacy_id)
        .where(visible_prescriptions(current_user()), *criteria).order_by(Prescription.id.desc()).limit(200)).all()
    latest = latest_decisions(get_session(), [rx.id for rx, _, _ in rows])
    out = []
    for rx, patient, pharmacy in rows:
        gates = present.gate_rows(latest.get(rx.id))
        out.append({"rx": rx, "patient": patient, "pharmacy": pharmacy, "decision": latest.get(rx.id),
                    "problems": [g for g in gates if g.status in ("fail", "warn")],
                    "passed": sum(1 for g in gates if g.status == "pass")})
    return out


@bp.get("/")
def index():
    patients = get_session().scalars(select(Patient).where(visible_patients(current_user()))
                                     .order_by(Patient.last_name, Patient.first_name, Patient.id)).all()
    locks = patient_locks(get_session(), [p.id for p in patients], _ctx().today)
    return render_template("prescriber/index.html", patients=patients, prescriptions=_prescription_rows(),
                           zone=present.program_zone(), locks=locks)


def _patient(ctx, patient_id: int, *, write: bool = False) -> Patient:
    patient = registry.get_patient(ctx, patient_id)
    require_patient_access(get_session(), current_user(), patient, write=write)
    return patient


def _form_page(template: str, form: Form, **context):
    return render_template(template, form=form, **context), form.status if form.invalid else 200


def _patient_fields(form: Form) -> dict:
    return {"first_name": form.text("first_name"), "last_name": form.text("last_name"),
            "date_of_birth": form.text("date_of_birth"), "can_get_pregnant": form.choice("can_get_pregnant", YES_NO),
            "rems_patient_id": form.text("rems_patient_id"), "enrolled_on": form.text("enrolled_on"),
            "home_pregnancy_tests_allowed": form.checkbox("home_pregnancy_tests_allowed")}


@bp.route("/patients/new", methods=["GET", "POST"])
def new_patient():
    ctx = _ctx()
    if request.method == "GET":
        return _form_page("prescriber/patient_form.html", Form(restored_form({"enrolled_on": ctx.today.isoformat()})))
    form = Form.from_request()

    def act():
        data = PatientIn().load(_patient_fields(form))
        data["prescriber_id"] = current_user().prescriber_id
        return registry.create_patient(ctx, data)

    ok, patient = attempt(form, act)
    if not ok:
        return _form_page("prescriber/patient_form.html", form)
    flash("Patient registered. Record their evidence below.", "success")
    return redirect(url_for(".patient", patient_id=patient.id), 303)


def _active_authorizations(patient_id: int) -> set[int]:
    return set(get_session().scalars(
        select(Authorization.id).join(Prescription, Prescription.id == Authorization.prescription_id)
        .where(Prescription.patient_id == patient_id, Authorization.status == AuthorizationStatus.ACTIVE)))


@bp.route("/patients/<int:patient_id>/edit", methods=["GET", "POST"])
def edit_patient(patient_id: int):
    """The patient's record, status included: deactivating reverses the patient's active
    authorizations, and no prescription of theirs is authorized until they are reactivated."""
    ctx = _ctx()
    patient = _patient(ctx, patient_id, write=True)
    context = {"patient": patient, "statuses": [(s, STATUS_NAMES.get(s, s)) for s in values(PatientStatus)]}
    if request.method == "GET":
        form = Form({"first_name": patient.first_name, "last_name": patient.last_name,
                     "date_of_birth": patient.date_of_birth.isoformat(),
                     "can_get_pregnant": "yes" if patient.can_get_pregnant else "no",
                     "rems_patient_id": patient.rems_patient_id or "", "enrolled_on": patient.enrolled_on.isoformat(),
                     "home_pregnancy_tests_allowed": "yes" if patient.home_pregnancy_tests_allowed else None,
                     "status": patient.status})
        return _form_page("prescriber/patient_form.html", form, **context)
    form = Form.from_request()
    before_status = patient.status
    before = _active_authorizations(patient.id)

    def act():
        data = PatientPatch().load({**_patient_fields(form), "status": form.text("status")})
        return registry.update_patient(ctx, patient.id, data)

    ok, updated = attempt(form, act)
    if not ok:
        return _form_page("prescriber/patient_form.html", form, **context)
    if updated.status != before_status and updated.status == PatientStatus.DEACTIVATED:
        flash("Patient deactivated: no prescription of theirs can be authorized until they are reactivated.",
              "success")
    elif updated.status != before_status:
        flash("Patient reactivated: their prescriptions can be evaluated again.", "success")
    else:
        flash("Patient saved.", "success")
    report_reversed(sorted(before - _active_authorizations(updated.id)))
    return redirect(url_for(".patient", patient_id=updated.id), 303)


@bp.get("/patients/<int:patient_id>")
def patient(patient_id: int):
    ctx = _ctx()
    patient = _patient(ctx, patient_id)
    session = get_session()

    def rows(model):
        return session.scalars(select(model).where(model.patient_id == patient.id).order_by(model.id.desc())).all()

    transfers = session.execute(
        select(TransferIn, Pharmacy).join(Pharmacy, Pharmacy.id == TransferIn.pharmacy_id)
        .where(TransferIn.patient_id == patient.id).order_by(TransferIn.id.desc())).all()
    return render_template(
        "prescriber/patient.html", patient=patient, tests=rows(PregnancyTest), labs=rows(LabResult),
        attestations=rows(Attestation), transfers=transfers,
        prescriptions=_prescription_rows(Prescription.patient_id == patient.id),
        lock=patient_lock(session, patient.id, ctx.today), zone=present.program_zone())


@bp.get("/patients/<int:patient_id>/course")
def patient_course(patient_id: int):
    ctx = _ctx()
    patient = _patient(ctx, patient_id)
    entries = course(get_session(), patient.id, visible=visible_prescriptions(current_user()))
    return render_template("course.html", patient=patient, entries=entries, zone=present.program_zone(),
                           back=url_for(".patient", patient_id=patient.id))


# Evidence: one form per kind, loaded with the API's schema, recorded by the same service.
def _pregnancy_test(form: Form) -> dict:
    return PregnancyTestIn().load({
        "specimen_collected_on": form.text("specimen_collected_on"), "result": form.text("result"),
        "specimen": form.text("specimen"), "setting": form.text("setting"), "clia_number": form.text("clia_number")})


def _lab_result(form: Form) -> dict:
    return LabResultIn().load({
        "test": form.text("test"), "value": form.text("value"), "unit": form.text("unit"),
        "collected_on": form.text("collected_on"), "reference_upper": form.text("reference_upper")})


def _attestation(form: Form) -> dict:
    return AttestationIn().load({"kind": form.text("kind"), "attested_on": form.text("attested_on"),
                                 "methods": form.many("methods"), "note": form.text("note")})


EVIDENCE_FORMS: dict[str, tuple[str, Callable[[Form], dict], Callable, str]] = {
    "pregnancy-tests": ("Record a pregnancy test", _pregnancy_test, evidence.record_pregnancy_test,
                        "Pregnancy test recorded."),
    "lab-results": ("Record a lab result", _lab_result, evidence.record_lab_result, "Lab result recorded."),
    "attestations": ("Record an attestation", _attestation, evidence.record_attestation, "Attestation recorded."),
}
EVIDENCE_DATE = {"pregnancy-tests": "specimen_collected_on", "lab-results": "collected_on",
                 "attestations": "attested_on"}


# A monthly visit's evidence on one page: the pregnancy test, the labs, the attestations, recorded
# together in one transaction (all or nothing).
VISIT_LABS = (("ALT", "alt", "U/L"), ("AST", "ast", "U/L"), ("TRIGLYCERIDES", "tg", "mg/dL"),
              ("TOTAL_CHOLESTEROL", "tc", "mg/dL"), ("LDL", "ldl", "mg/dL"))
VISIT_TEST_FIELDS = {"specimen_collected_on": "test_collected_on", "result": "test_result", "specimen": "test_specimen",
                     "setting": "test_setting", "clia_number": "test_clia"}


def _visit_records(form: Form) -> tuple[list[tuple[str, Callable, dict, dict[str, str]]], dict[str, list[str]]]:
    """(what to record: label, service, data, the form's name for each field), and the refusals."""
    records, errors = [], {}

    def load(schema, raw: dict, names: dict[str, str]):
        try:
            return schema.load(raw)
        except ValidationError as exc:
            for field, messages in flatten(exc.messages).items():
                errors.setdefault(names.get(field, field), []).extend(messages)
            return None

    if any(form.text(name) for name in VISIT_TEST_FIELDS.values()):
        data = load(PregnancyTestIn(), {k: form.text(v) for k, v in VISIT_TEST_FIELDS.items()}, VISIT_TEST_FIELDS)
        if data is not None:
            records.append(("pregnancy test", evidence.record_pregnancy_test, data, VISIT_TEST_FIELDS))
    for test, prefix, _unit in VISIT_LABS:
        if form.text(f"{prefix}_value"):
            names = {"value": f"{prefix}_value", "unit": f"{prefix}_unit", "collected_on": "labs_collected_on"}
            data = load(LabResultIn(), {"test": test, "value": form.text(f"{prefix}_value"),
                                        "unit": form.text(f"{prefix}_unit"),
                                        "collected_on": form.text("labs_collected_on")}, names)
            if data is not None:
                records.append(("lab result", evidence.record_lab_result, data, names))
    for kind in ("contraception", "comprehension", "counseling"):
        if form.checkbox(kind):
            names = {"attested_on": "attested_on", "methods": "methods", "kind": kind}
            data = load(AttestationIn(), {"kind": kind, "attested_on": form.text("attested_on"),
                                          "methods": form.many("methods") if kind == "contraception" else []}, names)
            if data is not None:
                records.append(("attestation", evidence.record_attestation, data, names))
    return records, errors


@bp.route("/patients/<int:patient_id>/visit", methods=["GET", "POST"])
def visit(patient_id: int):
    ctx = _ctx()
    patient = _patient(ctx, patient_id, write=True)
    context = {"patient": patient, "method_groups": present.method_groups(), "labs": VISIT_LABS,
               "lab_units": [(u, u) for u in present.LAB_UNITS],
               "lab_tests_label": lambda test: present.LAB_TESTS.get(test, test)}
    today = ctx.today.isoformat()
    if request.method == "GET":
        values = {"test_collected_on": today, "labs_collected_on": today, "attested_on": today,
                  **{f"{prefix}_unit": unit for _t, prefix, unit in VISIT_LABS}}
        return _form_page("prescriber/visit.html", Form(restored_form(values)), **context)
    form = Form.from_request(lists=("methods",))
    records, errors = _visit_records(form)
    if not records and not errors:
        form.message = "Fill in at least one part of the visit: the pregnancy test, a lab value or an attestation."
        form.status = 422
    elif errors:
        form.add_errors(errors)
        form.status = 422
        form.message = "Nothing was recorded: some fields need attention (see the messages next to them)."
    else:
        for _label, record, data, names in records:
            try:
                record(ctx, patient.id, data)
            except DomainError as exc:  # nothing of the visit is kept: the request answers 4xx
                if exc.status in (403, 404):
                    raise
                form.add_errors({names.get(k, k): v for k, v in (exc.fields or {}).items()})
                form.message = "Nothing was recorded: " + exc.message
                form.status = exc.status
                break
    if form.invalid:
        return _form_page("prescriber/visit.html", form, **context)
    said = Counter(label for label, *_ in records)
    flash("Visit recorded: " + ", ".join(f"{n} {label}{'s' if n > 1 else ''}" for label, n in said.items()) + ".",
          "success")
    notice = present.reevaluation_notice(reevaluated(ctx))
    if notice:
        flash(notice, "success")
    return redirect(url_for(".patient", patient_id=patient.id), 303)


@bp.route("/patients/<int:patient_id>/<any('pregnancy-tests', 'lab-results', 'attestations'):collection>/new",
          methods=["GET", "POST"])
def new_evidence(patient_id: int, collection: str):
    ctx = _ctx()
    patient = _patient(ctx, patient_id, write=True)
    title, load, record, done = EVIDENCE_FORMS[collection]
    context = {"patient": patient, "collection": collection, "title": title,
               "method_groups": present.method_groups(), "lab_tests": present.LAB_TESTS,
               "lab_units": [(u, u) for u in present.LAB_UNITS], "attestation_kinds": ATTESTATION_KINDS}
    template = f"prescriber/{collection}.html"
    if request.method == "GET":
        values = {EVIDENCE_DATE[collection]: ctx.today.isoformat()}
        # A link may open the form on one kind (the lock banner opens it on the clearance).
        if collection == "attestations" and request.args.get("kind") in dict(ATTESTATION_KINDS):
            values["kind"] = request.args["kind"]
        values = restored_form(values)
        return _form_page(template, Form(values), **context)
    form = Form.from_request(lists=("methods",))
    ok, _row = attempt(form, lambda: record(ctx, patient.id, load(form)))
    if not ok:
        return _form_page(template, form, **context)
    flash(done, "success")
    notice = present.reevaluation_notice(reevaluated(ctx))
    if notice:
        flash(notice, "success")
    return redirect(url_for(".patient", patient_id=patient.id), 303)


@bp.route("/patients/<int:patient_id>/<any('pregnancy-tests', 'lab-results', 'attestations'):collection>"
          "/<int:evidence_id>/entered-in-error", methods=["GET", "POST"])
def entered_in_error(patient_id: int, collection: str, evidence_id: int):
    ctx = _ctx()
    patient = _patient(ctx, patient_id, write=True)
    row = evidence.get_evidence(ctx, collection, patient.id, evidence_id)
    context = {"patient": patient, "collection": collection, "row": row}
    if request.method == "GET":
        return _form_page("prescriber/entered_in_error.html", Form(restored_form()), **context)
    form = Form.from_request()

    def act():
        reason = ReasonIn().load({"reason": form.text("reason")})["reason"]
        return evidence.mark_entered_in_error(ctx, collection, patient.id, evidence_id, reason)

    ok, _row = attempt(form, act)
    if not ok:
        return _form_page("prescriber/entered_in_error.html", form, **context)
    flash("Marked entered-in-error: it no longer counts, and authorizations that relied on it are reversed.",
          "success")
    return redirect(url_for(".patient", patient_id=patient.id), 303)


@bp.route("/prescriptions/new", methods=["GET", "POST"])
def new_prescription():
    ctx = _ctx()
    session = get_session()
    patients = session.scalars(select(Patient).where(visible_patients(current_user()))
                               .order_by(Patient.last_name, Patient.first_name, Patient.id)).all()
    pharmacies = session.scalars(select(Pharmacy).order_by(Pharmacy.name, Pharmacy.id)).all()
    context = {"patients": patients, "pharmacies": pharmacies}
    if request.method == "GET":
        form = Form(restored_form({"patient_id": request.args.get("patient_id", ""), "drug": "isotretinoin",
                                   "refills": "0", "written_on": ctx.today.isoformat()}))
        return _form_page("prescriber/prescription_form.html", form, **context)
    form = Form.from_request()

    def load():
        return PrescriptionIn().load({
            "patient_id": form.record_id("patient_id"), "pharmacy_id": form.record_id("pharmacy_id"),
            "drug": form.text("drug"), "ndc": form.text("ndc"), "strength_mg": form.text("strength_mg"),
            "quantity": form.text("quantity"), "days_supply": form.integer("days_supply"),
            "refills": form.integer("refills"), "written_on": form.text("written_on"),
            "first_of_course": form.choice("first_of_course", YES_NO)})

    if form.text("intent") == "check":
        # The readiness check before sending: the same gates, nothing stored but the check.
        def check():
            data = load()
            return check_readiness(ctx, draft_prescription(ctx, current_user().prescriber_id, data), draft=data)

        ok, checked = attempt(form, check)
        readiness = _readiness(checked[1].gates, form.record_id("patient_id"), checked[0]) if ok else None
        return _form_page("prescriber/prescription_form.html", form, readiness=readiness, zone=present.program_zone(),
                          **context)

    ok, rx = attempt(form, lambda: submit_prescription(ctx, current_user().prescriber_id, load()))
    if not ok:
        return _form_page("prescriber/prescription_form.html", form, **context)
    flash("Prescription submitted to the pharmacy.", "success")
    return redirect(url_for(".prescription", prescription_id=rx.id), 303)


# The form that supplies what a failing gate needs, for the readiness check's links.
SUPPLIED_BY = {"pregnancy_test": ("pregnancy-tests", None, "Record a pregnancy test"),
               "labs": ("lab-results", None, "Record a lab result"),
               "contraception": ("attestations", "contraception", "Record the contraception attestation"),
               "comprehension": ("attestations", "comprehension", "Record the comprehension attestation"),
               "counseling": ("attestations", "counseling", "Record the counseling attestation")}
# What no form of the prescriber's supplies: who does.
SUPPLIED_ELSEWHERE = {"pharmacy": "The pharmacy's REMS activation is recorded by an administrator.",
                      "prescriber": "Your license and certification are recorded by an administrator.",
                      "prescription": "Change the prescription: a new one with the fields the rules allow."}


def _readiness(gate_results, patient_id, event) -> dict:
    """The check as the page shows it: each failing or warning gate with the link that supplies it."""
    rows = present.gate_rows(SimpleNamespace(gates=[g if isinstance(g, dict) else g.to_dict() for g in gate_results]))
    items = []
    for row in rows:
        if row.status not in ("fail", "warn"):
            continue
        link = label = None
        if row.gate in SUPPLIED_BY:
            collection, kind, label = SUPPLIED_BY[row.gate]
            if row.gate == "pregnancy_test" and "PREGNANCY_TEST_POSITIVE" in {f.code for f in row.findings} | {row.code}:
                collection, kind, label = "attestations", "pregnancy_excluded", "Record a pregnancy-excluded clearance"
            link = url_for(".new_evidence", patient_id=patient_id, collection=collection, **({"kind": kind} if kind else {}))
        elif row.gate == "patient":
            link, label = url_for(".edit_patient", patient_id=patient_id), "Edit the patient's enrolment"
        items.append({"row": row, "link": link, "label": label, "elsewhere": SUPPLIED_ELSEWHERE.get(row.gate)})
    return {"event_id": event.id, "ready": not any(i["row"].status == "fail" for i in items), "items": items,
            "checked_at": event.occurred_at, "passed": sum(1 for r in rows if r.status == "pass")}


@bp.post("/prescriptions/<int:prescription_id>/readiness")
def check_prescription(prescription_id: int):
    """The readiness check after sending: shown back from its audit event (post, redirect, get)."""
    ctx = _ctx()
    rx = get_prescription(ctx, prescription_id)
    require_prescription_access(current_user(), rx)
    event, _result = check_readiness(ctx, rx)
    return redirect(url_for(".prescription", prescription_id=rx.id, check=event.id), 303)


@bp.get("/prescriptions/<int:prescription_id>")
def prescription(prescription_id: int):
    ctx = _ctx()
    rx = get_prescription(ctx, prescription_id)
    require_prescription_access(current_user(), rx)
    readiness = None
    check_id = request.args.get("check", "")
    if check_id:
        if not (check_id.isascii() and check_id.isdigit() and len(check_id) <= 12):
            raise BadRequest("The check must be a readiness check's number, such as 12.")
        event = readiness_event(ctx, int(check_id), actor=current_user().actor, subject=f"prescription:{rx.id}")
        readiness = _readiness(json.loads(event.payload)["gates"], rx.patient_id, event)
    session = get_session()
    pharmacy = session.get(Pharmacy, rx.pharmacy_id)
    latest = latest_decisions(get_session(), [rx.id]).get(rx.id)
    return render_template(
        "prescriber/prescription.html", rx=rx, patient=session.get(Patient, rx.patient_id), pharmacy=pharmacy,
        lock=patient_lock(session, rx.patient_id, ctx.today),
        latest=latest, gates=present.gate_rows(latest), failures=present.failures(latest),
        current_through=present.other_evidence_current_through(latest),
        zone=present.pharmacy_zone(ctx, pharmacy), readiness=readiness)
