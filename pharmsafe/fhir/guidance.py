"""A recorded decision as FHIR (INTEROP.md §4.1): a GuidanceResponse whose contained Parameters
hold, per gate in the rulebook's order, a GuidanceResponse of its own, then the outcome, the
prescription, the REMS case number, the dispense-by instant and its source, the authorization, and
a DetectedIssue per gate that failed or warned. Plain dicts."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pharmsafe.audit.chain import format_instant
from pharmsafe.models import Authorization, Decision, Patient, Prescription

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
# The v3-ActCode of a gate's detected issue: a pregnancy test, a lab, else a validation.
ISSUE_ACT = {"pregnancy_test": "PREG", "labs": "LAB"}
# Cited evidence ("pregnancy_test:17") as the FHIR resource that carries it (INTEROP.md §1).
EVIDENCE_REFERENCES = {
    "pregnancy_test": "Observation/pregnancy-test-{}",
    "lab_result": "Observation/lab-result-{}",
    "attestation": "QuestionnaireResponse/{}",
    "dispense": "MedicationDispense/dispense-{}",
    "prescription": "MedicationRequest/{}",
    "patient": "Patient/{}",
}


def policy_canonical(base_url: str, name: str, version: str) -> str:
    return f"{base_url}/fhir/PlanDefinition/{name}|{version}"


def patient_reference(base_url: str, patient: Patient) -> dict[str, Any]:
    """A patient's reference carries its identifier: the REMS id, else PharmSafe's own."""
    if patient.rems_patient_id:
        identifier = {"system": f"{base_url}/fhir/sid/rems-patient-id", "value": patient.rems_patient_id}
    else:
        identifier = {"system": f"{base_url}/fhir/sid/patient", "value": str(patient.id)}
    return {"reference": f"Patient/{patient.id}", "identifier": identifier}


def prescription_identifier(base_url: str, rx: Prescription) -> dict[str, Any]:
    return {"system": f"{base_url}/fhir/sid/prescription", "value": str(rx.id)}


def evidence_reference(cited: str) -> dict[str, Any]:
    kind, _, number = cited.partition(":")
    pattern = EVIDENCE_REFERENCES.get(kind)
    return {"reference": pattern.format(number)} if pattern and number.isdigit() else {"display": cited}


def _notes(gate: dict[str, Any]) -> list[dict[str, str]]:
    return [{"text": text} for text in (gate.get("message"), gate.get("unblock")) if text]


def _gate_guidance(base_url: str, module: str, gate: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "GuidanceResponse",
        "moduleCanonical": module,
        "status": "data-required" if gate["status"] == "fail" else "success",
        "reasonCode": [{"coding": [{"system": f"{base_url}/fhir/CodeSystem/gate-code", "code": gate["code"]}]}],
    }
    notes = _notes(gate)
    if notes:
        resource["note"] = notes
    return resource


def _detected_issue(base_url: str, gate: dict[str, Any], patient: Patient, rx: Prescription,
                    identified: datetime, cited: list[str]) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "status": "final",
        "code": {"coding": [{"system": ACT_CODE, "code": ISSUE_ACT.get(gate["gate"], "VALIDAT")},
                            {"system": f"{base_url}/fhir/CodeSystem/gate-code", "code": gate["code"]}]},
        "severity": "high" if gate["status"] == "fail" else "moderate",
        "patient": patient_reference(base_url, patient),
        "identifiedDateTime": format_instant(identified),
        "implicated": [{"reference": f"MedicationRequest/{rx.id}",
                        "identifier": prescription_identifier(base_url, rx)}],
    }
    if cited:
        issue["evidence"] = [{"detail": [evidence_reference(ref) for ref in cited]}]
    if gate.get("message"):
        issue["detail"] = gate["message"]
    return issue


def guidance_response(base_url: str, decision: Decision, rx: Prescription, patient: Patient,
                      authorization: Authorization | None, *, outputs_id: str = "outputs") -> dict[str, Any]:
    """``decision`` is a recorded Decision, or anything with its fields (a check that records none has
    ``id`` None: the answer then has no id)."""
    module = policy_canonical(base_url, decision.policy_name, decision.policy_version)
    parameters: list[dict[str, Any]] = [
        {"name": gate["gate"], "resource": _gate_guidance(base_url, module, gate)} for gate in decision.gates]
    parameters.append({"name": "outcome", "valueCode": decision.outcome})
    parameters.append({"name": "prescription", "valueIdentifier": prescription_identifier(base_url, rx)})
    if patient.rems_patient_id:
        parameters.append({"name": "case_number", "valueString": patient.rems_patient_id})
    if decision.outcome == "authorized" and decision.dispense_by is not None:
        parameters.append({"name": "dispense-by", "valueInstant": format_instant(decision.dispense_by)})
        source = decision.dispense_by_source or {}
        parts = [part for part in (
            {"name": "gate", "valueCode": source.get("gate")} if source.get("gate") else None,
            {"name": "evidence", "valueString": source.get("evidence")} if source.get("evidence") else None,
            {"name": "last-day", "valueDate": source.get("last_day")} if source.get("last_day") else None,
        ) if part]
        if parts:
            parameters.append({"name": "dispense-by-source", "part": parts})
    if authorization is not None and decision.id is not None and authorization.decision_id == decision.id:
        parameters.append({"name": "authorization", "valueString": str(authorization.id)})
    for gate in decision.gates:
        if gate["status"] in ("fail", "warn"):
            cited = sorted(_cited_by(gate))
            parameters.append({"name": "detected-issue", "resource": _detected_issue(
                base_url, gate, patient, rx, decision.evaluated_at, cited)})
    resource: dict[str, Any] = {"resourceType": "GuidanceResponse"}
    if decision.id is not None:
        resource["id"] = str(decision.id)
    resource.update({
        "contained": [{"resourceType": "Parameters", "id": outputs_id, "parameter": parameters}],
        "moduleCanonical": module,
        "status": "success" if decision.outcome == "authorized" else "data-required",
        "subject": patient_reference(base_url, patient),
        "occurrenceDateTime": format_instant(decision.evaluated_at),
        "outputParameters": {"reference": f"#{outputs_id}"},
    })
    return resource


def _cited_by(gate: dict[str, Any]) -> set[str]:
    """The evidence this gate relied on, named as the decision cites it ("pregnancy_test:17")."""
    refs: set[str] = set()
    for key, value in (gate.get("evidence") or {}).items():
        values = value if isinstance(value, (list, tuple)) else [value]
        refs.update(f"{key}:{v}" for v in values if isinstance(v, int) and not isinstance(v, bool))
    return refs
