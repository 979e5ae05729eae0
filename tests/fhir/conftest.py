"""What the FHIR tests share: the world, FHIR requests, and builders of inbound resources."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pharmsafe.models import AuditEvent
from pharmsafe.runtime import runtime_of
from tests.support import World

BASE = "http://127.0.0.1:5000"
# HL7's own R4 example resources and StructureDefinitions (CC0), kept in the repository as they were
# published: tests/fhir/hl7/MANIFEST.md lists each file with its sha256.
FIXTURES = Path(__file__).resolve().parent / "hl7"
LOINC, SNOMED, UCUM = "http://loinc.org", "http://snomed.info/sct", "http://unitsofmeasure.org"
NPI = "http://hl7.org/fhir/sid/us-npi"
NCPDP = "http://terminology.hl7.org/CodeSystem/NCPDPProviderIdentificationNumber"
CLIA = "urn:oid:2.16.840.1.113883.4.7"
REMS = f"{BASE}/fhir/sid/rems-patient-id"
ORDER = "urn:oid:2.16.840.1.113883.3.1.5"  # the sender's order and observation identifiers in these tests


@pytest.fixture
def world(app, client):
    return World(app, client)


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def send(api, method: str, path: str, body: dict | str | None = None, status: int | None = None, **headers):
    h = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/fhir+json", **headers}
    data = body if isinstance(body, str) or body is None else json.dumps(body)
    resp = api.client.open(f"/fhir/R4{path}", method=method, data=data, headers=h)
    if status is not None:
        assert resp.status_code == status, resp.get_data(as_text=True)
    return resp


def counts(app) -> dict[str, int]:
    """Rows of every table a FHIR write touches, and audit events."""
    from pharmsafe.models import Attestation, ExternalIdentifier, LabResult, Patient, PregnancyTest, Prescription

    with runtime_of(app).session_factory() as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m))
                for m in (Attestation, ExternalIdentifier, LabResult, Patient, PregnancyTest, Prescription,
                          AuditEvent)}


def subject(rems_id: str) -> dict:
    return {"identifier": {"system": REMS, "value": rems_id}}


def pregnancy_test(rems_id: str, day: str, *, ident: str = "hcg-1", code: str = "2118-8",
                   result: str = "260385009", clia: str = "05D1234567", status: str = "final") -> dict:
    return {"resourceType": "Observation", "identifier": [{"system": ORDER, "value": ident}], "status": status,
            "code": {"coding": [{"system": LOINC, "code": code}]}, "subject": subject(rems_id),
            "effectiveDateTime": day,
            "performer": [{"identifier": {"system": CLIA, "value": clia}}],
            "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": result}]}}


def lab(rems_id: str, day: str | None, code: str, value, unit: str, *, ident: str) -> dict:
    resource = {"resourceType": "Observation", "identifier": [{"system": ORDER, "value": ident}], "status": "final",
                "code": {"coding": [{"system": LOINC, "code": code}]}, "subject": subject(rems_id),
                "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}
    if day:
        resource["effectiveDateTime"] = day
    return resource


def attestation(rems_id: str, npi: str, day: str, kind: str, *, ident: str, methods=(), note=None,
                status: str = "completed") -> dict:
    items = [{"linkId": "kind", "answer": [{"valueCoding": {"system": f"{BASE}/fhir/CodeSystem/attestation-kind",
                                                            "code": kind}}]},
             {"linkId": "attested-on", "answer": [{"valueDate": day}]}]
    if methods:
        items.append({"linkId": "methods", "answer": [
            {"valueCoding": {"system": f"{BASE}/fhir/CodeSystem/contraception-method", "code": m}} for m in methods]})
    if note is not None:
        items.append({"linkId": "note", "answer": [{"valueString": note}]})
    items.append({"linkId": "confirmed", "answer": [{"valueBoolean": True}]})
    return {"resourceType": "QuestionnaireResponse", "identifier": {"system": ORDER, "value": ident},
            "questionnaire": f"{BASE}/fhir/Questionnaire/isotretinoin-attestation|1", "status": status,
            "subject": subject(rems_id), "author": {"identifier": {"system": NPI, "value": npi}},
            "authored": f"{day}T10:00:00-05:00", "item": items}


def medication_request(rems_id: str, npi: str, ncpdp: str, day: str, *, ident: str = "rx-1",
                       coding=None, days=30, quantity=60, refills=None) -> dict:
    dispense = {"quantity": {"value": quantity, "system": "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm",
                             "code": "CAP"},
                "expectedSupplyDuration": {"value": days, "unit": "days", "system": UCUM, "code": "d"},
                "performer": {"identifier": {"system": NCPDP, "value": ncpdp}}}
    if refills is not None:
        dispense["numberOfRepeatsAllowed"] = refills
    return {"resourceType": "MedicationRequest", "identifier": [{"system": ORDER, "value": ident}],
            "status": "active", "intent": "order",
            "medicationCodeableConcept": {"coding": coding or [
                {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197844"}]},
            "subject": subject(rems_id), "authoredOn": day,
            "requester": {"identifier": {"system": NPI, "value": npi}}, "dispenseRequest": dispense}


def entry(resource: dict, n: int, method: str = "POST", url: str | None = None, if_none_exist: str | None = None):
    request = {"method": method, "url": url or resource["resourceType"]}
    if if_none_exist:
        request["ifNoneExist"] = if_none_exist
    return {"fullUrl": f"urn:uuid:00000000-0000-4000-8000-{n:012d}", "resource": resource, "request": request}


def bundle(*entries, identifier: str | None = None) -> dict:
    body = {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}
    if identifier:
        body["identifier"] = {"system": ORDER, "value": identifier}
    return body
