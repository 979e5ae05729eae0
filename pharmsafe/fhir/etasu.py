"""`$rems-etasu` (INTEROP.md §4.2, the US Medication REMS IG's shape): is this patient's
prescription clear to dispense now? The evaluation-stage gates run at `now`; no decision is recorded
and no authorization issued; one `check.performed` event records the answer."""
from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from pharmsafe.audit import append_event
from pharmsafe.audit.chain import format_instant
from pharmsafe.errors import Conflict, MultipleMatches
from pharmsafe.fhir.guidance import guidance_response
from pharmsafe.fhir.inbound import FhirInvalid
from pharmsafe.gates.ndc import is_isotretinoin, is_isotretinoin_name, listed_rxcuis
from pharmsafe.models import Patient, Prescription, User
from pharmsafe.models.statuses import PrescriptionStatus
from pharmsafe.services.access import can_see_prescription, visible_patients
from pharmsafe.services.context import Ctx
from pharmsafe.services.evaluation import run_gates

INPUTS = ("patient", "case_number", "authNumber", "medication", "prescription")
# One note for every answer that finds nothing the caller may see: whether a REMS id or a
# prescription exists elsewhere is not the caller's to learn.
NOTHING_VISIBLE = "No patient or prescription to check was found among those you may see."
_UNSTORABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
MAX_ID_DIGITS = 9
CHECKABLE = (PrescriptionStatus.SUBMITTED, PrescriptionStatus.AUTHORIZED, PrescriptionStatus.BLOCKED)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"


def _invalid(where: str, message: str, issue: str = "value"):
    return FhirInvalid({where: [message]}, {where: issue}, "The $rems-etasu inputs cannot be used.")


def _inputs(parameters: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for n, parameter in enumerate(parameters.get("parameter") or []):
        if not isinstance(parameter, dict):
            raise _invalid(f"Parameters.parameter[{n}]", "Each parameter is an object.")
        name = parameter.get("name")
        where = f"Parameters.parameter[{n}]"
        if name not in INPUTS:
            raise _invalid(f"{where}.name", f"Unknown input {name!r}: give patient, case_number (or authNumber), "
                                            "medication or prescription.")
        if name in found:
            raise _invalid(f"{where}.name", f"The input {name!r} is given twice.")
        found[name] = dict(parameter, _where=where)
    if not {"patient", "case_number", "authNumber", "prescription"} & set(found):
        raise _invalid("Parameters.parameter", "Name the patient (a patient identifier, or case_number) or the "
                                               "prescription.", "required")
    return found


def _patient_keys(base_url: str, given: dict[str, dict[str, Any]]) -> tuple[set[str], set[int]]:
    """The REMS ids and PharmSafe patient ids the inputs name."""
    rems, ours = set(), set()
    patient = given.get("patient")
    if patient is not None:
        resource = patient.get("resource") or {}
        if resource.get("resourceType") != "Patient":
            raise _invalid(f"{patient['_where']}.resource", "The patient input is a Patient resource.")
        for n, identifier in enumerate(resource.get("identifier") or []):
            system, value = identifier.get("system"), _value(identifier.get("value"),
                                                            f"{patient['_where']}.resource.identifier[{n}].value")
            if system == f"{base_url}/fhir/sid/rems-patient-id" and value:
                rems.add(value)
            elif system == f"{base_url}/fhir/sid/patient" and value:
                if not (value.isascii() and value.isdigit() and len(value) <= MAX_ID_DIGITS):
                    raise _invalid(f"{patient['_where']}.resource.identifier[{n}].value", "A patient id is a number.")
                ours.add(int(value))
        if not rems and not ours:
            raise _invalid(f"{patient['_where']}.resource.identifier",
                           f"Identify the patient by {base_url}/fhir/sid/rems-patient-id or {base_url}/fhir/sid/patient.",
                           "required")
    for name in ("case_number", "authNumber"):
        case = given.get(name)
        if case is not None:
            value = _value(case.get("valueString") or (case.get("valueIdentifier") or {}).get("value"),
                           case["_where"])
            if not value:
                raise _invalid(case["_where"], "The case number is a valueString (the REMS patient id).", "required")
            rems.add(str(value))
    if len(rems) > 1 or len(ours) > 1:
        raise _invalid("Parameters.parameter", "The inputs name more than one patient.")
    return rems, ours


def _value(raw: Any, where: str) -> str:
    """An identifier's value as text: 1-64 characters, none of them a control character (INTEROP.md §6)."""
    value = "" if raw is None else str(raw)
    if len(value) > 64 or _UNSTORABLE.search(value):
        raise _invalid(where, "An identifier's value is 1 to 64 characters, with no control characters.")
    return value


def _medication_is_isotretinoin(medication: dict[str, Any]) -> bool:
    """Listed by its NDC or its RxNorm concept, or named isotretinoin (or a listed brand) in its text."""
    concept = medication.get("valueCodeableConcept") or (medication.get("resource") or {}).get("code") or {}
    for coding in concept.get("coding") or []:
        code = str(coding.get("code") or "")
        if coding.get("system") == NDC and is_isotretinoin(None, code):
            return True
        if coding.get("system") == RXNORM and code in listed_rxcuis():
            return True
    text = str(concept.get("text") or "")
    return "isotretinoin" in text.lower() or is_isotretinoin_name(text)


def _prescription_id(base_url: str, given: dict[str, Any]) -> int | None:
    prescription = given.get("prescription")
    if prescription is None:
        return None
    identifier = prescription.get("valueIdentifier")
    reference = (prescription.get("valueReference") or {}).get("reference") or ""
    if identifier and identifier.get("system") == f"{base_url}/fhir/sid/prescription":
        value = str(identifier.get("value") or "")
    elif reference.startswith("MedicationRequest/"):
        value = reference.removeprefix("MedicationRequest/")
    else:
        raise _invalid(prescription["_where"], f"The prescription is a valueIdentifier in {base_url}/fhir/sid/"
                                               "prescription or a valueReference to MedicationRequest/{id}.")
    if not (value.isascii() and value.isdigit() and len(value) <= MAX_ID_DIGITS) or value.startswith("0"):
        raise _invalid(prescription["_where"], "A prescription id is a number.")
    return int(value)


def check(ctx: Ctx, user: User, parameters: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The Parameters answer; the check.performed event is appended in ``ctx``'s unit of work.

    In the contract's order: the inputs themselves (422), then the records, among those the caller
    may see only (a failure answer, never a hint that one exists elsewhere), several prescriptions
    (412), the inputs against each other (422), a dispensed prescription (409), the medication (422)."""
    given = _inputs(parameters)
    rems, ours = _patient_keys(base_url, given)
    rx_id = _prescription_id(base_url, given)
    session = ctx.session
    patients = _visible_patients(session, user, rems, ours)
    if len(patients) > 1:
        raise _invalid("Parameters.parameter", "The patient's identifiers name different patients.")

    def visible(rx: Prescription | None) -> bool:
        return rx is not None and (user.role == "admin" or can_see_prescription(user, rx))

    if rx_id is not None:
        rx = session.get(Prescription, rx_id)
        if not visible(rx) or ((rems or ours) and not patients):
            return _failure(ctx, base_url)
        if (rems or ours) and rx.patient_id not in {p.id for p in patients}:
            raise _invalid(given["prescription"]["_where"], "The prescription is not this patient's.")
    else:
        if not patients:
            return _failure(ctx, base_url)
        candidates = [rx for rx in session.scalars(
            select(Prescription).where(Prescription.patient_id.in_([p.id for p in patients]),
                                       Prescription.status.in_(CHECKABLE)).order_by(Prescription.id))
            if visible(rx)]
        if not candidates:
            return _failure(ctx, base_url)
        if len(candidates) > 1:
            raise MultipleMatches(f"The patient has {len(candidates)} prescriptions to check: name one with the "
                                  "prescription input.")
        rx = candidates[0]
    if rx.status == PrescriptionStatus.DISPENSED:
        raise Conflict(f"Prescription {rx.id} has been dispensed.", code="already_dispensed")
    if "medication" in given and not _medication_is_isotretinoin(given["medication"]):
        raise _invalid(given["medication"]["_where"], "The medication is not isotretinoin of the reference list.",
                       "code-invalid")
    result = run_gates(ctx, rx)
    failing = [g.code for g in result.gates if g.status.value == "fail"]
    append_event(ctx.session, action="check.performed", actor=ctx.actor, subject=f"prescription:{rx.id}",
                 now=ctx.now, policy=result.policy_name,
                 payload={"outcome": "success" if result.authorized else "data-required", "failing": failing,
                          "source": "fhir"})
    decision = SimpleNamespace(id=None, policy_name=result.policy_name, policy_version=result.policy_version,
                               outcome=result.outcome, gates=[g.to_dict() for g in result.gates],
                               evaluated_at=ctx.now, dispense_by=result.dispense_by,
                               dispense_by_source=result.dispense_by_source)
    patient = session.get(Patient, rx.patient_id)
    guidance = guidance_response(base_url, decision, rx, patient, None, outputs_id="etasuOutputParameters")
    return {"resourceType": "Parameters", "parameter": [{"name": "rems-etasu", "resource": guidance}]}


def _visible_patients(session, user: User, rems: set[str], ours: set[int]) -> list[Patient]:
    """The patients the identifiers name, among those the caller may see: one, or two when a REMS id
    and a PharmSafe id disagree."""
    found: dict[int, Patient] = {}
    for criterion in ([Patient.rems_patient_id == next(iter(rems))] if rems else []) + \
            ([Patient.id == next(iter(ours))] if ours else []):
        for patient in session.scalars(select(Patient).where(criterion, visible_patients(user))):
            found[patient.id] = patient
    if rems and ours and len(found) == 1:
        only = next(iter(found.values()))
        if only.rems_patient_id != next(iter(rems)) or only.id != next(iter(ours)):
            return []  # one of the two names nobody the caller may see
    return list(found.values())


def _failure(ctx: Ctx, base_url: str, note: str = NOTHING_VISIBLE) -> dict[str, Any]:
    append_event(ctx.session, action="check.performed", actor=ctx.actor, subject="etasu:unresolved", now=ctx.now,
                 payload={"outcome": "failure", "failing": [], "source": "fhir"})
    guidance = {"resourceType": "GuidanceResponse", "moduleUri": f"{base_url}/fhir/OperationDefinition/rems-etasu",
                "status": "failure", "occurrenceDateTime": format_instant(ctx.now), "note": [{"text": note}]}
    return {"resourceType": "Parameters", "parameter": [{"name": "rems-etasu", "resource": guidance}]}
