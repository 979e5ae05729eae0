"""The FHIR R4 facade under /fhir/R4 (INTEROP.md): the same services, rules and audit trail as the
JSON API, spoken as FHIR. Every failure is an OperationOutcome.

Served so far: the CapabilityStatement, the attestation Questionnaire, and recorded decisions as
GuidanceResponses."""
from __future__ import annotations

import json

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from flask import Blueprint, Flask, Response, current_app, request

from pharmsafe.errors import NotFound
from pharmsafe.fhir import etasu, search, writes
from pharmsafe.fhir.dispense import completed_dispense, declined_dispense
from pharmsafe.fhir.guidance import guidance_response
from pharmsafe.fhir.inbound import read_resource, refuse_other_media
from pharmsafe.fhir.outcome import FHIR_JSON, operation_outcome
from pharmsafe.fhir.resources import QUESTIONNAIRE_ID, capability_statement, questionnaire
from pharmsafe.http.idempotency import idempotent
from pharmsafe.http.respond import render_errors_under
from pharmsafe.http.tokens import ctx, current_user, roles
from pharmsafe.http.unit import get_session
from pharmsafe.models import Decision, Dispense, Patient, Pharmacy, Prescription
from pharmsafe.runtime import current_runtime
from pharmsafe.services.access import require_pharmacy, require_prescription_access
from pharmsafe.services.evaluation import evaluate_prescription, get_prescription
from pharmsafe.services.reads import authorization_of

PREFIX = "/fhir/R4"
fhir_bp = Blueprint("fhir", __name__, url_prefix=PREFIX)


def fhir_response(resource: dict, status: int = 200) -> Response:
    return current_app.response_class(json.dumps(resource, separators=(",", ":")), status=status,
                                      mimetype=FHIR_JSON)


def _base_url() -> str:
    return current_runtime().settings["BASE_URL"]


def _outcome(status, code, message, fields=None, details=None) -> tuple[Response, int]:
    issue_codes = (details or {}).get("fhir_issue_codes")
    body = operation_outcome(status, code, message, base_url=_base_url(), fields=fields, issue_codes=issue_codes)
    return fhir_response(body, status), status


@fhir_bp.get("/GuidanceResponse/<int:decision_id>")
@roles("pharmacist", "technician", "prescriber", "admin")
def read_guidance_response(decision_id: int):
    """A recorded decision (either stage): the pharmacist of the routed pharmacy, the prescriber
    who wrote it, or an admin."""
    session = get_session()
    decision = session.get(Decision, decision_id)
    if decision is None:
        raise NotFound(f"GuidanceResponse {decision_id} does not exist.")
    rx = session.get(Prescription, decision.prescription_id)
    user = current_user()
    if user.role != "admin":
        require_prescription_access(user, rx)
    patient = session.get(Patient, rx.patient_id)
    return fhir_response(guidance_response(_base_url(), decision, rx, patient, authorization_of(session, decision.id)))


@fhir_bp.get("/MedicationDispense/<string:logical_id>")
@roles("pharmacist", "technician", "prescriber", "admin")
def read_medication_dispense(logical_id: str):
    """`dispense-{id}` (a dispense, completed) or `decision-{id}` (a refused dispense attempt,
    declined); a blocked evaluation is no MedicationDispense."""
    session = get_session()
    kind, _, number = logical_id.partition("-")
    missing = NotFound(f"MedicationDispense {logical_id} does not exist.")
    if kind not in ("dispense", "decision") or not (number.isascii() and number.isdigit()) or len(number) > 9 \
            or number.startswith("0"):
        raise missing
    if kind == "dispense":
        dispense = session.get(Dispense, int(number))
        if dispense is None:
            raise missing
        rx = _visible_prescription(session, dispense.prescription_id)
        return fhir_response(completed_dispense(_base_url(), dispense, rx, session.get(Patient, rx.patient_id),
                                                session.get(Pharmacy, dispense.pharmacy_id),
                                                session.get(Decision, dispense.decision_id)))
    decision = session.get(Decision, int(number))
    if decision is None or (decision.stage, decision.outcome) != ("dispense", "blocked"):
        raise missing
    rx = _visible_prescription(session, decision.prescription_id)
    return fhir_response(declined_dispense(_base_url(), decision, rx, session.get(Patient, rx.patient_id),
                                           session.get(Pharmacy, rx.pharmacy_id)))


@fhir_bp.get("/MedicationDispense")
@roles("pharmacist", "technician", "prescriber", "admin")
def search_medication_dispenses():
    """Dispenses and refused dispense attempts the caller may see, newest first, 50 a page."""
    query = search.parse(request.args, _base_url())
    self_url = f"{_base_url()}{PREFIX}/MedicationDispense" + (f"?{request.query_string.decode()}"
                                                              if request.query_string else "")
    return fhir_response(search.search(get_session(), current_user(), query, _base_url(), self_url))


def _visible_prescription(session, prescription_id: int) -> Prescription:
    rx = session.get(Prescription, prescription_id)
    user = current_user()
    if user.role != "admin":
        require_prescription_access(user, rx)
    return rx


@fhir_bp.post("/MedicationRequest/<int:prescription_id>/$evaluate")
@roles("pharmacist")
@idempotent
def evaluate_medication_request(prescription_id: int):
    """The JSON API's POST /prescriptions/{id}/evaluations, answered as the decision's
    GuidanceResponse: 201 whether it authorized or blocked, 409 once dispensed."""
    refuse_other_media()
    c = ctx()
    rx = get_prescription(c, prescription_id, for_update=True)
    require_pharmacy(current_user(), rx.pharmacy_id, f"MedicationRequest {rx.id}")
    decision, auth = evaluate_prescription(c, rx)
    patient = c.session.get(Patient, rx.patient_id)
    response = fhir_response(guidance_response(_base_url(), decision, rx, patient, auth), 201)
    response.headers["Location"] = f"{_base_url()}{PREFIX}/GuidanceResponse/{decision.id}"
    return response


@fhir_bp.post("/GuidanceResponse/$rems-etasu")
@roles("prescriber", "pharmacist", "admin")
@idempotent
def rems_etasu():
    """Read-only: the evaluation-stage gates at now, no decision recorded, one check.performed."""
    parameters = read_resource(Parameters, "Parameters")
    c = ctx()
    return fhir_response(etasu.check(c, current_user(), parameters, _base_url()))


MODELS = {"Observation": Observation, "QuestionnaireResponse": QuestionnaireResponse,
          "MedicationRequest": MedicationRequest}


def _bundle_key() -> str | None:
    """Without an Idempotency-Key, a transaction's Bundle.identifier is its key (INTEROP.md §6)."""
    try:
        identifier = json.loads(request.get_data(cache=True)).get("identifier") or {}
    except (ValueError, AttributeError, RecursionError):
        return None
    if isinstance(identifier, dict) and identifier.get("value"):
        return f"{identifier.get('system') or ''}|{identifier['value']}"[:255]
    return None


def _written(written: writes.Written, status: int | None = None) -> Response:
    response = current_app.response_class(status=status or int(written.status.split()[0]), mimetype=FHIR_JSON)
    response.headers["Location"] = f"{_base_url()}{PREFIX}/{written.location}"
    response.headers["ETag"] = written.etag
    return response


@fhir_bp.post("")
@roles("prescriber")
@idempotent(fallback=_bundle_key)
def transaction():
    """A transaction Bundle, all or nothing (INTEROP.md §3.1)."""
    bundle = read_resource(Bundle, "Bundle")
    return fhir_response(writes.transaction(ctx(), current_user(), bundle, _base_url()))


@fhir_bp.post("/<any(Observation, QuestionnaireResponse, MedicationRequest):resource_type>")
@roles("prescriber")
@idempotent
def create_resource(resource_type: str):
    """One resource, its references by identifier: 201 with Location and ETag and no body; 200 for
    a replay of the same identifier and content."""
    resource = read_resource(MODELS[resource_type], resource_type)
    c = ctx()
    return _written(writes.store(c, current_user(), writes.map_one(c, current_user(), resource, _base_url())))


@fhir_bp.put("/<any(Observation, QuestionnaireResponse):resource_type>/<string:logical_id>")
@fhir_bp.put("/<any(Observation, QuestionnaireResponse):resource_type>", defaults={"logical_id": None})
@roles("prescriber")
def retract_resource(resource_type: str, logical_id: str | None):
    """entered-in-error (INTEROP.md §3.6): by logical id or ?identifier=system|value."""
    resource = read_resource(MODELS[resource_type], resource_type)
    c = ctx()
    if logical_id is None and set(request.args) != {"identifier"}:
        raise writes.invalid(f"{resource_type}.identifier", "Name the record as ?identifier=system|value.",
                             "required")
    record = writes.find_for_update(c, current_user(), resource_type, logical_id, request.args.get("identifier"),
                                    _base_url())
    return _written(writes.retract(c, resource, record, resource_type, _base_url()), 200)


@fhir_bp.get("/metadata")
def metadata():
    return fhir_response(capability_statement(_base_url()))


@fhir_bp.get(f"/Questionnaire/{QUESTIONNAIRE_ID}")
def attestation_questionnaire():
    return fhir_response(questionnaire(_base_url()))


def init_app(app: Flask) -> None:
    render_errors_under("/fhir/", _outcome)
    app.register_blueprint(fhir_bp)
