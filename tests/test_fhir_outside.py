"""The FHIR PharmSafe serves, validated outside it: every kind of resource the facade answers with
(the CapabilityStatement, the Questionnaire, GuidanceResponses, $rems-etasu's Parameters,
MedicationDispenses completed and declined, a transaction-response Bundle, OperationOutcomes) and
every line of the FHIR audit export, read in a fresh virtual environment that holds fhir.resources
alone, each by the R4B model of its resourceType (tests/fhir/outside.py)."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.fhir.conftest import REMS, bundle, entry, pregnancy_test, send
from tests.fhir.outside import outside_python, validate_outside
from tests.support import World

pytestmark = pytest.mark.slow

NDC = "http://hl7.org/fhir/sid/ndc"


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    """One outside environment for the module (the test runs once per database engine)."""
    return outside_python(tmp_path_factory.mktemp("outside"))


@pytest.fixture
def world(app, client):
    return World(app, client)


def fhir_json(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/fhir+json", resp.mimetype
    return json.loads(resp.get_data(as_text=True))


def get(api, path: str, status: int = 200) -> dict:
    headers = {"Authorization": f"Bearer {api.token}"} if api.token else {}
    return fhir_json(api.client.get(f"/fhir/R4{path}", headers=headers), status)


def etasu(api, parameters: list[dict], status: int = 200) -> dict:
    return fhir_json(send(api, "POST", "/GuidanceResponse/$rems-etasu",
                          {"resourceType": "Parameters", "parameter": parameters}), status)


def by_reference(rx: dict) -> dict:
    return {"name": "prescription", "valueReference": {"reference": f"MedicationRequest/{rx['id']}"}}


def served_resources(world) -> list[dict]:
    """What the facade answers, one of each kind and outcome, then the FHIR audit export's lines."""
    served = [get(world.anon, "/metadata"), get(world.anon, "/Questionnaire/isotretinoin-attestation")]

    # A decision that authorized, read back; the check on it; then its dispense, completed.
    rph, doc, patient, rx, decision = world.authorized()
    served.append(get(rph, f"/GuidanceResponse/{decision['id']}"))
    served.append(etasu(doc, [{"name": "patient", "resource": {"resourceType": "Patient", "identifier": [
        {"system": REMS, "value": patient["rems_patient_id"]}]}},
        {"name": "medication", "valueCodeableConcept": {"coding": [{"system": NDC, "code": "0591-2434-15"}]}},
        by_reference(rx)]))
    dispense = rph.ok("POST", f"/authorizations/{decision['authorization']['id']}/dispense",
                      {"quantity": 60, "rma_number": "rma-outside-1", "rma_do_not_dispense_after": "2027-12-31"})
    served.append(get(rph, f"/MedicationDispense/dispense-{dispense['id']}"))

    # Another authorized one, re-evaluated through the facade, then a dispense attempt refused.
    rph2, _, _, rx2, decision2 = world.authorized(can_get_pregnant=False)
    served.append(fhir_json(send(rph2, "POST", f"/MedicationRequest/{rx2['id']}/$evaluate"), 201))
    assert decision2["outcome"] == "authorized"
    authorization = rph2.ok("GET", f"/prescriptions/{rx2['id']}")["authorization"]
    refused = rph2.post(f"/authorizations/{authorization['id']}/dispense",
                        json={"quantity": 60, "rma_number": "", "rma_do_not_dispense_after": "2027-12-31"})
    assert refused.status_code == 409, refused.get_json()
    served.append(get(rph2, f"/MedicationDispense/decision-{refused.get_json()['error']['decision_id']}"))

    # A prescription that is not clear: blocked, with its detected issues; the check says so.
    pharmacy, rph3 = world.pharmacist_api()
    _, doc3 = world.prescriber_api()
    patient3 = world.patient(doc3)
    rx3 = world.prescription(doc3, patient3, pharmacy)
    served.append(etasu(rph3, [by_reference(rx3)]))
    blocked = rph3.ok("POST", f"/prescriptions/{rx3['id']}/evaluations")
    assert blocked["outcome"] == "blocked"
    served.append(get(rph3, f"/GuidanceResponse/{blocked['id']}"))
    # The check for a patient nobody may see: a failure, with its note.
    served.append(etasu(doc3, [{"name": "case_number", "valueString": "NO-SUCH-PATIENT"}]))

    # A transaction, answered as a transaction-response Bundle.
    served.append(fhir_json(send(doc3, "POST", "", bundle(
        entry(pregnancy_test(patient3["rems_patient_id"], world.day(-1), ident="outside-hcg"), 1),
        identifier="outside-bundle-1")), 200))

    # Failures, each an OperationOutcome: 404, 401, 415, 400 structure, 422.
    served.append(get(rph, "/Patient/1", 404))
    served.append(get(world.anon, f"/GuidanceResponse/{decision['id']}", 401))
    served.append(fhir_json(send(rph, "POST", "/GuidanceResponse/$rems-etasu", "x", **{"Content-Type": "text/plain"}),
                            415))
    served.append(fhir_json(send(rph, "POST", "/GuidanceResponse/$rems-etasu",
                                 {"resourceType": "Parameters", "unknownElement": 1}), 400))
    served.append(etasu(rph, [{"name": "colour", "valueString": "blue"}], 422))

    _, auditor = world.user("auditor")
    export = auditor.get("/audit-events/export?format=fhir")
    assert export.status_code == 200
    lines = [json.loads(line) for line in export.get_data(as_text=True).splitlines() if line.strip()]
    return served + lines


def test_every_served_resource_validates_in_an_environment_with_fhir_resources_alone(world, tmp_path, outside):
    resources = served_resources(world)
    kinds = Counter(r["resourceType"] for r in resources)
    served_kinds = {"CapabilityStatement": 1, "Questionnaire": 1, "GuidanceResponse": 3, "Parameters": 3,
                    "MedicationDispense": 2, "Bundle": 1, "OperationOutcome": 5}
    assert {k: kinds[k] for k in served_kinds} == served_kinds, kinds
    assert kinds["AuditEvent"] > 20 and set(kinds) == set(served_kinds) | {"AuditEvent"}, kinds
    statuses = [r["status"] for r in resources if r["resourceType"] == "MedicationDispense"]
    assert statuses == ["completed", "declined"]

    result = validate_outside(tmp_path, resources, python=outside)

    assert result.returncode == 0, result.output
    assert result.failures == [] and result.validated == len(resources) == sum(served_kinds.values()) + \
        kinds["AuditEvent"], result.output
    assert result.version.startswith("8.") and "outside-venv" in result.location, result.output


def test_the_outside_check_lists_what_it_refuses(tmp_path, outside):
    refused = [{"resourceType": "Observation", "status": "final"},  # no code
               {"resourceType": "NoSuchResource"},
               {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found",
                                                               "madeUp": True}]}]
    result = validate_outside(tmp_path, [{"resourceType": "Basic", "code": {"text": "fine"}}, *refused],
                              python=outside)
    assert result.returncode == 1 and result.validated == 1, result.output
    assert [f.split(":")[0] for f in result.failures] == ["0001-Observation.json", "0002-NoSuchResource.json",
                                                          "0003-OperationOutcome.json"], result.output
