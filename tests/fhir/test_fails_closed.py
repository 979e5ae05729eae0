"""Inbound FHIR that contradicts itself, names two patients at once, amends a positive away or gives
a strength no capsule has is refused (422, nothing written), never read one way and stored."""
from __future__ import annotations

import pytest

from tests.fhir.conftest import (
    BASE,
    REMS,
    SNOMED,
    bundle,
    counts,
    entry,
    lab,
    medication_request,
    pregnancy_test,
    send,
)
from tests.fhir.test_transactions import EXT, new_patient

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


@pytest.fixture
def parties(world):
    pharmacy, rph = world.pharmacist_api()
    prescriber, doc = world.prescriber_api()
    return pharmacy, rph, prescriber, doc


def issue(resp) -> dict:
    return resp.get_json(force=True)["issue"][0]


def recorded_tests(doc, patient) -> list[dict]:
    return doc.ok("GET", f"/patients/{patient['id']}")["pregnancy_tests"]


@pytest.mark.parametrize("value, interpretation, status", [
    ("10828004", "NEG", 422),  # a positive value beside a NEG interpretation
    ("260385009", "POS", 422),
    ("260385009", "NEG", 201),
    (None, "POS", 201),
])
def test_a_quantitative_hcg_whose_value_and_interpretation_disagree_is_refused(world, app, parties, value,
                                                                                 interpretation, status):
    _, _, _, doc = parties
    patient = world.patient(doc)
    body = pregnancy_test(patient["rems_patient_id"], world.day(-1), code="21198-7")
    body["interpretation"] = [{"coding": [{"system": INTERPRETATION, "code": interpretation}]}]
    if value is None:
        del body["valueCodeableConcept"]
    else:
        body["valueCodeableConcept"] = {"coding": [{"system": SNOMED, "code": value}]}
    before = counts(app)
    resp = send(doc, "POST", "/Observation", body, status)
    if status == 422:
        assert issue(resp)["code"] == "value" and counts(app) == before
    else:
        assert [t["result"] for t in recorded_tests(doc, patient)] == [{"NEG": "negative", "POS": "positive"}[interpretation]]


def test_a_patient_with_a_repeated_extension_is_refused(world, app, parties):
    _, _, _, doc = parties
    resource = new_patient("RPT-1", world.day(-60))
    resource["extension"].append({"url": EXT + "can-get-pregnant", "valueBoolean": False})
    before = counts(app)
    resp = send(doc, "POST", "", bundle(entry(resource, 0, if_none_exist=f"identifier={REMS}|RPT-1")), 422)
    assert "can-get-pregnant" in resp.get_data(as_text=True) and counts(app) == before


def test_a_subject_whose_reference_and_identifier_name_two_patients_is_refused(world, app, parties):
    _, _, _, doc = parties
    named = world.patient(doc)
    other = world.patient(doc)
    test = pregnancy_test(named["rems_patient_id"], world.day(-1))
    test["subject"] = {"reference": "urn:uuid:00000000-0000-4000-8000-000000000000",
                       "identifier": {"system": REMS, "value": named["rems_patient_id"]}}
    patient_entry = new_patient(other["rems_patient_id"], other["enrolled_on"])
    patient_entry["birthDate"] = other["date_of_birth"]
    before = counts(app)
    send(doc, "POST", "", bundle(entry(patient_entry, 0, if_none_exist=f"identifier={REMS}|{other['rems_patient_id']}"),
                                 entry(test, 1)), 422)
    assert counts(app) == before and recorded_tests(doc, other) == [] and recorded_tests(doc, named) == []
    # The same reference and identifier agreeing is fine.
    test["subject"]["identifier"]["value"] = other["rems_patient_id"]
    send(doc, "POST", "", bundle(entry(patient_entry, 0, if_none_exist=f"identifier={REMS}|{other['rems_patient_id']}"),
                                 entry(test, 1)), 200)
    assert len(recorded_tests(doc, other)) == 1


def test_a_patient_entry_whose_identifier_is_not_its_if_none_exist_is_refused(world, app, parties):
    _, _, _, doc = parties
    matched = world.patient(doc)
    named = world.patient(doc)
    resource = new_patient(named["rems_patient_id"], matched["enrolled_on"])
    resource["birthDate"] = matched["date_of_birth"]
    test = pregnancy_test(matched["rems_patient_id"], world.day(-1))
    test["subject"] = {"reference": "urn:uuid:00000000-0000-4000-8000-000000000000"}
    before = counts(app)
    resp = send(doc, "POST", "", bundle(entry(resource, 0, if_none_exist=f"identifier={REMS}|{matched['rems_patient_id']}"),
                                        entry(test, 1)), 422)
    assert issue(resp)["expression"] == ["Bundle.entry[0].resource.identifier[0]"]
    assert counts(app) == before
    # A new patient: the resource's REMS id must be the one it is matched on.
    fresh = new_patient("FRESH-2", world.day(-60))
    send(doc, "POST", "", bundle(entry(fresh, 0, if_none_exist=f"identifier={REMS}|FRESH-1")), 422)
    assert counts(app) == before


def test_a_positive_test_is_not_amended_away_and_an_amendment_keeps_its_kind(world, app, parties):
    pharmacy, rph, prescriber, doc = parties
    patient = world.patient(doc)
    rems = patient["rems_patient_id"]
    send(doc, "POST", "/Observation", pregnancy_test(rems, world.day(-2), ident="hcg-p", result="10828004"), 201)
    before = counts(app)
    negative = pregnancy_test(rems, world.day(-2), ident="hcg-p", status="corrected")
    resp = send(doc, "POST", "/Observation", negative, 422)
    assert issue(resp)["code"] == "business-rule" and "entered-in-error" in resp.get_data(as_text=True)
    as_lab = lab(rems, world.day(-2), "1742-6", 25, "U/L", ident="hcg-p")
    as_lab["status"] = "amended"
    send(doc, "POST", "/Observation", as_lab, 422)
    assert counts(app) == before
    assert [(t["result"], t["entered_in_error"]) for t in recorded_tests(doc, patient)] == [("positive", False)]
    # Amended, still positive (another day): the old one is superseded, the lock stays.
    send(doc, "POST", "/Observation", pregnancy_test(rems, world.day(-1), ident="hcg-p", result="10828004",
                                                     status="amended"), 201)
    assert sorted((t["result"], t["entered_in_error"]) for t in recorded_tests(doc, patient)) == [
        ("positive", False), ("positive", True)]
    # A negative test amended to another negative supersedes as before.
    send(doc, "POST", "/Observation", pregnancy_test(rems, world.day(-3), ident="hcg-n"), 201)
    send(doc, "POST", "/Observation", pregnancy_test(rems, world.day(-2), ident="hcg-n", status="amended"), 201)


@pytest.mark.parametrize("strength, denominator, status", [
    (20, {"value": 1, "unit": "capsule"}, 201),
    (10000, None, 201),
    (10001, None, 422),  # one over the JSON API's limit
    (5000000, None, 422),
    (20, {"value": 1, "unit": "mL", "system": "http://unitsofmeasure.org", "code": "mL"}, 422),
    ("0.0001", None, 422),  # more decimals than are stored: never rounded to 0
])
def test_a_contained_medications_strength_keeps_the_json_apis_limits(world, app, parties, strength, denominator,
                                                                     status):
    import json
    from decimal import Decimal
    pharmacy, _, prescriber, doc = parties
    patient = world.patient(doc)
    ratio = {"numerator": {"value": Decimal(str(strength)), "unit": "mg", "system": "http://unitsofmeasure.org",
                           "code": "mg"}}
    if denominator is not None:
        ratio["denominator"] = denominator
    body = medication_request(patient["rems_patient_id"], prescriber["npi"], pharmacy["ncpdp_id"], world.day(-1))
    del body["medicationCodeableConcept"]
    body["contained"] = [{"resourceType": "Medication", "id": "m", "code": {"coding": [
        {"system": RXNORM, "code": "6064"}]}, "ingredient": [{"itemCodeableConcept": {"coding": [
            {"system": RXNORM, "code": "6064"}]}, "strength": ratio}]}]
    body["medicationReference"] = {"reference": "#m"}
    before = counts(app)
    text = json.dumps(body, default=lambda d: float(d) if d == d.to_integral_value() else str(d))
    text = text.replace('"0.0001"', "0.0001")
    resp = send(doc, "POST", "/MedicationRequest", text, status)
    if status == 422:
        assert counts(app) == before and issue(resp)["expression"][0].startswith("MedicationRequest.contained")


@pytest.mark.parametrize("query", ["patient:identifier={base}/fhir/sid/patient|%C2%B2",
                                   "prescription:identifier={base}/fhir/sid/prescription|%C2%B2"])
def test_a_search_for_a_superscript_digit_matches_nothing_and_is_no_500(world, query):
    """An identifier that is no record id matches nothing (docs/fhir.md), like any unknown one; the
    same search by the real id finds the dispense."""
    rph, _, patient, rx, decision = world.authorized()
    rph.ok("POST", f"/authorizations/{decision['authorization']['id']}/dispense",
           {"quantity": 60, "rma_number": "RMA-SUP-1", "rma_do_not_dispense_after": "2027-12-31"})

    def found(value: str) -> list:
        path = "/MedicationDispense?" + query.format(base=BASE).replace("%C2%B2", value)
        body = send(rph, "GET", path, None, 200).get_json(force=True)
        assert body["resourceType"] == "Bundle"
        return body.get("entry", [])

    real = str(patient["id"]) if query.startswith("patient") else str(rx["id"])
    assert len(found(real)) == 1
    assert found("%C2%B2") == []


@pytest.mark.parametrize("kind", ["pregnancy", "lab"])
def test_an_effective_period_without_a_start_is_422_required(world, app, parties, kind):
    _, _, _, doc = parties
    patient = world.patient(doc)
    rems = patient["rems_patient_id"]
    body = pregnancy_test(rems, world.day(-1)) if kind == "pregnancy" else lab(rems, None, "1742-6", 25, "U/L",
                                                                                ident="alt-p")
    body.pop("effectiveDateTime", None)
    body["effectivePeriod"] = {"end": f"{world.day(-1)}T10:00:00Z"}
    before = counts(app)
    resp = send(doc, "POST", "/Observation", body, 422)
    assert issue(resp)["code"] == "required" and counts(app) == before
