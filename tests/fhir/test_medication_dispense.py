"""Dispenses and refused dispense attempts read as MedicationDispense (INTEROP.md §4.3), valid R4B."""
from __future__ import annotations

import pytest
from fhir.resources.R4B.medicationdispense import MedicationDispense

from tests.fhir.conftest import BASE


def read(api, logical_id: str, status: int = 200) -> dict:
    resp = api.client.get(f"/fhir/R4/MedicationDispense/{logical_id}",
                          headers={"Authorization": f"Bearer {api.token}"} if api.token else {})
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/fhir+json"
    return resp.get_json(force=True)


def test_a_dispense_reads_back_completed_with_its_rma_product_and_pharmacy(world):
    rph, doc, patient, rx, decision = world.authorized()
    dispense = rph.ok("POST", f"/authorizations/{decision['authorization']['id']}/dispense",
                      {"quantity": 60, "rma_number": "rma-fhir-7", "rma_do_not_dispense_after": "2027-12-31"})
    body = read(rph, f"dispense-{dispense['id']}")
    MedicationDispense.model_validate(body)
    assert (body["id"], body["status"]) == (f"dispense-{dispense['id']}", "completed")
    assert body["identifier"] == [{"system": f"{BASE}/fhir/sid/rma", "value": "RMA-FHIR-7"}]
    assert body["medicationCodeableConcept"] == {"text": "isotretinoin 20 mg", "coding": [
        {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197844"},
        {"system": "http://hl7.org/fhir/sid/ndc", "code": "0591-2434-15"}]}
    assert body["subject"]["reference"] == f"Patient/{patient['id']}"
    assert body["authorizingPrescription"][0]["reference"] == f"MedicationRequest/{rx['id']}"
    assert body["performer"][0]["actor"]["identifier"]["system"] == \
        "http://terminology.hl7.org/CodeSystem/NCPDPProviderIdentificationNumber"
    assert body["type"]["coding"][0]["code"] == "FFC"
    assert body["quantity"]["value"] == 60 and body["quantity"]["code"] == "CAP"
    assert body["daysSupply"] == {"value": 30, "unit": "d", "system": "http://unitsofmeasure.org", "code": "d"}
    assert body["whenHandedOver"] == dispense["dispensed_at"]
    assert "detectedIssue" not in body and "statusReasonCodeableConcept" not in body
    read(doc, f"dispense-{dispense['id']}")  # the prescriber who wrote it
    read(world.admin, f"dispense-{dispense['id']}")


def test_a_refused_dispense_attempt_reads_back_declined_with_its_reasons(world):
    rph, _, _, _, decision = world.authorized()
    refused = rph.post(f"/authorizations/{decision['authorization']['id']}/dispense",
                       json={"quantity": 60, "rma_number": "", "rma_do_not_dispense_after": "2027-12-31"})
    assert refused.status_code == 409
    decision_id = refused.get_json()["error"]["decision_id"]
    body = read(rph, f"decision-{decision_id}")
    MedicationDispense.model_validate(body)
    assert (body["id"], body["status"]) == (f"decision-{decision_id}", "declined")
    reason = body["statusReasonCodeableConcept"]
    assert reason["coding"][0] == {"system": f"{BASE}/fhir/CodeSystem/gate-code", "code": "RMA_MISSING"}
    assert reason["coding"][-1] == {"system": "http://terminology.hl7.org/fhir/CodeSystem/medicationdispense-status-reason",
                                    "code": "frr03"}
    assert reason["text"]
    [issue] = body["contained"]
    assert issue["resourceType"] == "DetectedIssue" and issue["severity"] == "high"
    assert body["detectedIssue"] == [{"reference": f"#{issue['id']}"}]
    assert "quantity" not in body and "whenHandedOver" not in body


def test_a_blocked_evaluation_is_no_medication_dispense(world):
    pharmacy, rph = world.pharmacist_api()
    _, doc = world.prescriber_api()
    patient = world.patient(doc)
    rx = world.prescription(doc, patient, pharmacy)
    blocked = rph.ok("POST", f"/prescriptions/{rx['id']}/evaluations")
    assert blocked["outcome"] == "blocked"
    for logical_id in (f"decision-{blocked['id']}", "dispense-999999", "dispense-１", "other-1", "dispense-",
                       "decision-99999999999999999999"):
        assert read(rph, logical_id, 404)["issue"][0]["code"] == "not-found"


def test_another_pharmacy_may_not_read_a_dispense(world):
    rph, _, _, _, decision = world.authorized()
    dispense = rph.ok("POST", f"/authorizations/{decision['authorization']['id']}/dispense",
                      {"quantity": 60, "rma_number": "RMA-FHIR-8", "rma_do_not_dispense_after": "2027-12-31"})
    _, other = world.pharmacist_api()
    _, auditor = world.user("auditor")
    assert read(other, f"dispense-{dispense['id']}", 403)["issue"][0]["code"] == "forbidden"
    assert read(auditor, f"dispense-{dispense['id']}", 403)["issue"][0]["code"] == "forbidden"
    assert read(world.anon, f"dispense-{dispense['id']}", 401)["issue"][0]["code"] == "login"


@pytest.mark.parametrize("code,reason", [
    ("PREGNANCY_TEST_POSITIVE", "preg"), ("LAB_STALE", "frr03"), ("PREGNANCY_TEST_MISSING", "frr03"),
    ("PRESCRIPTION_WINDOW_EXPIRED", "frr02"), ("REFILLS_NOT_ALLOWED", "clarif"), ("NDC_NOT_IN_REFERENCE", "clarif"),
    ("PRESCRIBER_NOT_CERTIFIED", None),
])
def test_the_first_failing_gate_gives_the_status_reason(code, reason):
    from pharmsafe.fhir.dispense import status_reason

    assert status_reason(code) == reason


def test_a_prescription_without_an_ndc_still_names_the_listed_rxnorm_concept(app):
    from decimal import Decimal
    from types import SimpleNamespace

    from pharmsafe.fhir.dispense import medication

    assert medication(SimpleNamespace(ndc=None, strength_mg=Decimal("20"))) == {
        "text": "isotretinoin 20 mg", "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                  "code": "197844"}]}
    assert medication(SimpleNamespace(ndc=None, strength_mg=Decimal("35"))) == {"text": "isotretinoin 35 mg"}


def test_an_id_with_a_leading_zero_names_no_dispense(world):
    rph, _, _, _, decision = world.authorized()
    dispense = rph.ok("POST", f"/authorizations/{decision['authorization']['id']}/dispense",
                      {"quantity": 60, "rma_number": "RMA-FHIR-9", "rma_do_not_dispense_after": "2027-12-31"})
    assert read(rph, f"dispense-0{dispense['id']}", 404)["issue"][0]["code"] == "not-found"
