"""Dispenses and refused dispense attempts as MedicationDispense (INTEROP.md §4.3): a dispense is
`completed`, a blocked dispense-stage decision `declined`; a blocked evaluation is never one. Plain
dicts."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from pharmsafe.audit.chain import format_instant
from pharmsafe.fhir.guidance import ACT_CODE, patient_reference, prescription_identifier
from pharmsafe.gates.ndc import AmbiguousNdc, lookup_ndc, rxcuis_of_strength
from pharmsafe.models import Decision, Dispense, Patient, Pharmacy, Prescription

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
NCPDP = "http://terminology.hl7.org/CodeSystem/NCPDPProviderIdentificationNumber"
STATUS_REASON = "http://terminology.hl7.org/fhir/CodeSystem/medicationdispense-status-reason"
UCUM = "http://unitsofmeasure.org"
DOSE_FORM = "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm"
# The first failing gate's code as a medicationdispense-status-reason: a positive test; evidence
# missing or stale; a window that passed; a prescription to clarify (refills, quantity, NDC).
POSITIVE = {"PREGNANCY_TEST_POSITIVE"}
WINDOW_PASSED = {"PRESCRIPTION_WINDOW_EXPIRED", "RMA_DEADLINE_PASSED", "PREGNANCY_TEST_MISSED_WINDOW_LOCKOUT"}
CLARIFY = {"REFILLS_NOT_ALLOWED", "DISPENSE_QUANTITY_MISMATCH", "DISPENSE_QUANTITY_MISSING", "QUANTITY_INVALID",
           "DAYS_SUPPLY_EXCEEDED", "DAYS_SUPPLY_INVALID", "NDC_AMBIGUOUS", "NDC_NOT_IN_REFERENCE",
           "NDC_STRENGTH_MISMATCH", "NDC_STRENGTH_NOT_LISTED", "STRENGTH_INVALID"}


def status_reason(code: str) -> str | None:
    if code in POSITIVE:
        return "preg"
    if code in WINDOW_PASSED:
        return "frr02"
    if code in CLARIFY:
        return "clarif"
    if code.endswith(("_MISSING", "_STALE", "_OUTSIDE_WINDOW", "_NOT_SEEN", "_TOO_EARLY")):
        return "frr03"
    return None


def _number(value: Decimal | int) -> int | float:
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def medication(rx: Prescription) -> dict[str, Any]:
    """The listed RxNorm SCD (from the NDC's reference row, else the one listed concept of that
    strength), the prescription's own NDC when it has one, and the text "isotretinoin {n} mg"."""
    try:
        product = lookup_ndc(rx.ndc)
    except AmbiguousNdc:
        product = None
    rxcui = product.rxcui if product is not None else None
    if rxcui is None and not rx.ndc:
        by_strength = rxcuis_of_strength(Decimal(rx.strength_mg))
        rxcui = next(iter(by_strength)) if len(by_strength) == 1 else None
    coding = []
    if rxcui:
        coding.append({"system": RXNORM, "code": rxcui})
    if rx.ndc and rx.ndc.strip():
        coding.append({"system": NDC, "code": rx.ndc.strip()})
    concept: dict[str, Any] = {"text": f"isotretinoin {_number(rx.strength_mg)} mg"}
    if coding:
        concept["coding"] = coding
    return concept


def _common(base_url: str, rx: Prescription, patient: Patient, pharmacy: Pharmacy) -> dict[str, Any]:
    return {
        "medicationCodeableConcept": medication(rx),
        "subject": patient_reference(base_url, patient),
        "performer": [{"actor": {"identifier": {"system": NCPDP, "value": pharmacy.ncpdp_id},
                                 "display": pharmacy.name}}],
        "authorizingPrescription": [{"reference": f"MedicationRequest/{rx.id}",
                                     "identifier": prescription_identifier(base_url, rx)}],
    }


def _issue(base_url: str, number: int, code: str, message: str, severity: str, patient: Patient,
           identified, mitigated: bool = False) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "resourceType": "DetectedIssue", "id": f"issue-{number}", "status": "final",
        "code": {"coding": [{"system": f"{base_url}/fhir/CodeSystem/gate-code", "code": code}]},
        "severity": severity, "patient": patient_reference(base_url, patient),
        "identifiedDateTime": format_instant(identified),
    }
    if message:
        issue["detail"] = message
    if mitigated:
        issue["mitigation"] = [{"action": {"coding": [{"system": ACT_CODE, "code": "1"}]}}]
    return issue


def completed_dispense(base_url: str, dispense: Dispense, rx: Prescription, patient: Patient,
                       pharmacy: Pharmacy, decision: Decision | None) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "MedicationDispense", "id": f"dispense-{dispense.id}"}
    warnings = {g["code"]: g for g in (decision.gates if decision else []) if g["status"] == "warn"}
    acknowledged = [code for code in (dispense.acknowledged_warnings or []) if code]
    if acknowledged:
        resource["contained"] = [
            _issue(base_url, n, code, (warnings.get(code) or {}).get("message", ""), "moderate", patient,
                   dispense.dispensed_at, mitigated=True) for n, code in enumerate(acknowledged, start=1)]
    if dispense.rma_number:
        resource["identifier"] = [{"system": f"{base_url}/fhir/sid/rma", "value": dispense.rma_number}]
    # A dispense reversed as entered by mistake (DESIGN.md §2) reads as entered-in-error.
    resource["status"] = "entered-in-error" if dispense.reversed_at is not None else "completed"
    resource.update(_common(base_url, rx, patient, pharmacy))
    resource.update({
        "type": {"coding": [{"system": ACT_CODE, "code": "FFC"}]},
        "quantity": {"value": _number(dispense.quantity), "system": DOSE_FORM, "code": "CAP"},
        "daysSupply": {"value": dispense.days_supply, "unit": "d", "system": UCUM, "code": "d"},
        "whenHandedOver": format_instant(dispense.dispensed_at),
    })
    if acknowledged:
        resource["detectedIssue"] = [{"reference": f"#issue-{n}"} for n in range(1, len(acknowledged) + 1)]
    return resource


def declined_dispense(base_url: str, decision: Decision, rx: Prescription, patient: Patient,
                      pharmacy: Pharmacy) -> dict[str, Any]:
    failing = [g for g in decision.gates if g["status"] == "fail"]
    coding = [{"system": f"{base_url}/fhir/CodeSystem/gate-code", "code": g["code"]} for g in failing]
    reason = status_reason(failing[0]["code"]) if failing else None
    if reason:
        coding.append({"system": STATUS_REASON, "code": reason})
    concept: dict[str, Any] = {"coding": coding} if coding else {}
    text = " ".join(g["message"] for g in failing if g.get("message"))
    if text:
        concept["text"] = text
    resource: dict[str, Any] = {"resourceType": "MedicationDispense", "id": f"decision-{decision.id}"}
    if failing:
        resource["contained"] = [_issue(base_url, n, g["code"], g.get("message", ""), "high", patient,
                                        decision.evaluated_at) for n, g in enumerate(failing, start=1)]
    resource["status"] = "declined"
    if concept:
        resource["statusReasonCodeableConcept"] = concept
    resource.update(_common(base_url, rx, patient, pharmacy))
    if failing:
        resource["detectedIssue"] = [{"reference": f"#issue-{n}"} for n in range(1, len(failing) + 1)]
    return resource
