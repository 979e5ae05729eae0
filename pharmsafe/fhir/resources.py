"""The resources PharmSafe serves whatever the request: the CapabilityStatement and the attestation
Questionnaire (INTEROP.md §3.4, §4.5). Plain dicts, validated against the R4B models in the tests."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pharmsafe.gates import CONTRACEPTION_METHODS

try:
    SOFTWARE_VERSION = version("pharmsafe")
except PackageNotFoundError:  # run from sources that were never installed
    SOFTWARE_VERSION = "0+unknown"
# The date this statement was last changed (CapabilityStatement.date is required).
CAPABILITY_DATE = "2026-12-07"
ATTESTATION_KINDS = (
    ("contraception", "Contraception: the methods the patient uses"),
    ("comprehension", "Comprehension: the patient understood the program's risks and rules"),
    ("counseling", "Counseling: the patient was counselled about pregnancy prevention"),
    ("pregnancy_excluded", "Pregnancy ruled out after a positive test (a note says how)"),
)
QUESTIONNAIRE_ID = "isotretinoin-attestation"
QUESTIONNAIRE_VERSION = "1"


def questionnaire_url(base_url: str) -> str:
    return f"{base_url}/fhir/Questionnaire/{QUESTIONNAIRE_ID}"


def questionnaire(base_url: str) -> dict[str, Any]:
    kinds = f"{base_url}/fhir/CodeSystem/attestation-kind"
    methods = f"{base_url}/fhir/CodeSystem/contraception-method"
    return {
        "resourceType": "Questionnaire",
        "id": QUESTIONNAIRE_ID,
        "url": questionnaire_url(base_url),
        "version": QUESTIONNAIRE_VERSION,
        "name": "IsotretinoinAttestation",
        "title": "Isotretinoin: the prescriber's attestation",
        "status": "active",
        "subjectType": ["Patient"],
        "item": [
            {"linkId": "kind", "text": "What is attested", "type": "choice", "required": True,
             "answerOption": [{"valueCoding": {"system": kinds, "code": code, "display": display}}
                              for code, display in ATTESTATION_KINDS]},
            {"linkId": "attested-on", "text": "Attested on", "type": "date", "required": True},
            {"linkId": "methods", "text": "Contraception methods (contraception only)", "type": "choice",
             "repeats": True,
             "enableWhen": [{"question": "kind", "operator": "=",
                             "answerCoding": {"system": kinds, "code": "contraception"}}],
             "answerOption": [{"valueCoding": {"system": methods, "code": code}}
                              for code in sorted(CONTRACEPTION_METHODS)]},
            {"linkId": "note", "text": "How pregnancy was ruled out (pregnancy_excluded only; 1-500 characters)",
             "type": "string", "maxLength": 500,
             "enableWhen": [{"question": "kind", "operator": "=",
                             "answerCoding": {"system": kinds, "code": "pregnancy_excluded"}}]},
            {"linkId": "confirmed", "text": "I confirm this attestation", "type": "boolean", "required": True},
        ],
    }


def capability_statement(base_url: str) -> dict[str, Any]:
    """Exactly what INTEROP.md §2 serves under /fhir/R4: its types, interactions, search
    parameters and operations (their OperationDefinitions are named, not served)."""
    writes = [{"code": "create"}]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": CAPABILITY_DATE,
        "kind": "instance",
        "software": {"name": "PharmSafe", "version": SOFTWARE_VERSION},
        "implementation": {"description": "PharmSafe dispensing-safety gates for isotretinoin",
                           "url": f"{base_url}/fhir/R4"},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "security": {"description": "Authorization: Bearer <token>, as the JSON API (docs/api.md)."},
            "interaction": [{"code": "transaction"}],
            "resource": [
                {"type": "GuidanceResponse", "interaction": [{"code": "read"}],
                 "operation": [{"name": "rems-etasu",
                                "definition": f"{base_url}/fhir/OperationDefinition/rems-etasu"}]},
                {"type": "MedicationDispense", "interaction": [{"code": "read"}, {"code": "search-type"}],
                 "searchParam": [
                     {"name": "patient:identifier", "type": "token",
                      "documentation": "A REMS or PharmSafe patient id, as system|value."},
                     {"name": "prescription:identifier", "type": "token",
                      "documentation": "A PharmSafe prescription id, as system|value."},
                     {"name": "status", "type": "token", "documentation": "completed or declined."}]},
                {"type": "MedicationRequest", "interaction": writes,
                 "operation": [{"name": "evaluate", "definition": f"{base_url}/fhir/OperationDefinition/evaluate"}]},
                {"type": "Observation", "interaction": writes + [{"code": "update"}], "conditionalUpdate": True,
                 "documentation": "Pregnancy tests and lab results; update only retracts (entered-in-error)."},
                {"type": "Questionnaire", "interaction": [{"code": "read"}]},
                {"type": "QuestionnaireResponse", "interaction": writes + [{"code": "update"}],
                 "conditionalUpdate": True,
                 "documentation": "Attestations on the isotretinoin-attestation form; update only retracts."},
            ],
        }],
    }
