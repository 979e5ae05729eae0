"""`$rems-etasu` (INTEROP.md §4.2): read-only, one check.performed event, the REMS IG's answer."""
from __future__ import annotations

import json

from fhir.resources.R4B.parameters import Parameters
from sqlalchemy import func, select

from pharmsafe.models import AuditEvent, Decision
from pharmsafe.runtime import runtime_of
from tests.fhir.conftest import BASE


def etasu(api, parameters: list[dict], status: int = 200, **kw) -> dict:
    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/fhir+json"}
    headers.update(kw.pop("headers", {}))
    body = kw.pop("data", None) or json.dumps({"resourceType": "Parameters", "parameter": parameters})
    resp = api.client.post("/fhir/R4/GuidanceResponse/$rems-etasu", data=body, headers=headers)
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/fhir+json"
    return resp.get_json(force=True)


def patient_param(rems_id: str) -> dict:
    return {"name": "patient", "resource": {"resourceType": "Patient", "identifier": [
        {"system": f"{BASE}/fhir/sid/rems-patient-id", "value": rems_id}]}}


def counts(app) -> tuple[int, int]:
    with runtime_of(app).session_factory() as s:
        return (s.scalar(select(func.count()).select_from(Decision)),
                s.scalar(select(func.count()).where(AuditEvent.action == "check.performed")))


def last_check(app) -> AuditEvent:
    with runtime_of(app).session_factory() as s:
        return s.scalars(select(AuditEvent).where(AuditEvent.action == "check.performed")
                         .order_by(AuditEvent.id.desc())).first()


def test_a_clear_prescription_says_success_records_no_decision_and_one_check(world, app):
    pharmacy, rph = world.pharmacist_api()
    _, doc = world.prescriber_api()
    patient = world.patient(doc)
    world.ready_evidence(doc, patient)
    rx = world.prescription(doc, patient, pharmacy)
    before = counts(app)
    body = etasu(doc, [patient_param(patient["rems_patient_id"]),
                       {"name": "medication", "valueCodeableConcept": {"coding": [
                           {"system": "http://hl7.org/fhir/sid/ndc", "code": "0591-2434-15"}]}}])
    Parameters.model_validate(body)
    [answer] = body["parameter"]
    guidance = answer["resource"]
    assert answer["name"] == "rems-etasu" and "id" not in guidance
    assert guidance["status"] == "success" and guidance["outputParameters"] == {"reference": "#etasuOutputParameters"}
    assert counts(app) == (before[0], before[1] + 1)
    event = last_check(app)
    assert event.subject == f"prescription:{rx['id']}"
    assert json.loads(event.payload) == {"outcome": "success", "failing": [], "source": "fhir"}
    assert rph.ok("GET", f"/prescriptions/{rx['id']}")["status"] == "submitted"  # nothing issued


def test_a_prescription_that_is_not_clear_says_data_required_with_the_failing_codes(world, app):
    pharmacy, rph = world.pharmacist_api()
    _, doc = world.prescriber_api()
    patient = world.patient(doc)
    rx = world.prescription(doc, patient, pharmacy)
    body = etasu(rph, [{"name": "prescription", "valueReference": {"reference": f"MedicationRequest/{rx['id']}"}}])
    guidance = body["parameter"][0]["resource"]
    assert guidance["status"] == "data-required"
    payload = json.loads(last_check(app).payload)
    assert payload["outcome"] == "data-required" and "PREGNANCY_TEST_MISSING" in payload["failing"]


def test_nobody_to_check_is_a_failure_answer_and_still_recorded(world, app):
    _, doc = world.prescriber_api()
    _, other_doc = world.prescriber_api()
    patient = world.patient(doc)
    for api, rems_id in ((doc, "NO-SUCH-PATIENT"), (other_doc, patient["rems_patient_id"])):
        body = etasu(api, [patient_param(rems_id)])
        guidance = body["parameter"][0]["resource"]
        assert guidance["status"] == "failure" and guidance["note"][0]["text"]
        assert last_check(app).subject == "etasu:unresolved"


def test_inputs_that_cannot_be_used_are_422_and_several_prescriptions_412(world, app):
    pharmacy, rph = world.pharmacist_api()
    _, doc = world.prescriber_api()
    patient = world.patient(doc)
    world.prescription(doc, patient, pharmacy)
    before = counts(app)
    assert etasu(doc, [], 422)["issue"][0]["code"] == "required"
    assert etasu(doc, [{"name": "favourite_colour", "valueString": "blue"}], 422)["issue"][0]["code"] == "value"
    not_iso = etasu(doc, [patient_param(patient["rems_patient_id"]),
                          {"name": "medication", "valueCodeableConcept": {"text": "amoxicillin 500 mg"}}], 422)
    assert not_iso["issue"][0]["code"] == "code-invalid"
    unknown = etasu(doc, [{"name": "patient", "resource": {"resourceType": "Patient", "bogus": 1}}], 400)
    assert unknown["issue"][0]["code"] == "structure"
    assert etasu(doc, [], 415, headers={"Content-Type": "text/plain"})["issue"][0]["code"] == "not-supported"
    assert counts(app) == before  # nothing recorded for a refused request
    world.prescription(doc, patient, pharmacy)
    several = etasu(doc, [patient_param(patient["rems_patient_id"])], 412)
    assert several["issue"][0]["code"] == "multiple-matches"
    assert etasu(world.user("auditor")[1], [patient_param(patient["rems_patient_id"])], 403)["issue"][0]["code"] == \
        "forbidden"


def test_nothing_tells_a_caller_what_exists_beyond_what_they_may_see(world, app):
    """Another prescriber's prescription id beside one's own patient, an unknown REMS id and someone
    else's REMS id all answer the same failure (a 422 or a second note once told them apart)."""
    pharmacy, _ = world.pharmacist_api()
    _, doc = world.prescriber_api()
    _, other_doc = world.prescriber_api()
    mine = world.patient(other_doc)
    theirs = world.patient(doc)
    their_rx = world.prescription(doc, theirs, pharmacy)
    answers = [
        etasu(other_doc, [patient_param(mine["rems_patient_id"]),
                          {"name": "prescription", "valueReference": {"reference": f"MedicationRequest/{their_rx['id']}"}}]),
        etasu(other_doc, [{"name": "prescription", "valueReference": {"reference": "MedicationRequest/999999"}}]),
        etasu(other_doc, [patient_param(theirs["rems_patient_id"])]),
        etasu(other_doc, [patient_param("NOBODY-AT-ALL")]),
    ]
    guidance = [a["parameter"][0]["resource"] for a in answers]
    assert {g["status"] for g in guidance} == {"failure"}
    assert len({g["note"][0]["text"] for g in guidance}) == 1


def test_hostile_inputs_are_4xx_never_a_500(world, app):
    _, doc = world.prescriber_api()
    patient = world.patient(doc)
    before = counts(app)
    odd = [
        ([{"name": "patient", "resource": {"resourceType": "Foo"}}], 400),
        ([{"name": "patient", "resource": {"resourceType": 5}}], 400),
        ([{"name": "patient", "resource": {"resourceType": "Patient", "identifier": [
            {"system": f"{BASE}/fhir/sid/patient", "value": "9" * 40}]}}], 422),
        ([patient_param("P1\u0000")], 422),
        ([{"name": "case_number", "valueString": "x" * 65}], 422),
        ([{"name": "prescription", "valueReference": {"reference": "MedicationRequest/007"}}], 422),
        ([{"name": "prescription", "valueReference": {"reference": "MedicationRequest/١٢"}}], 422),
    ]
    for parameters, status in odd:
        body = etasu(doc, parameters, status)
        assert body["resourceType"] == "OperationOutcome", parameters
    assert etasu(doc, [], 400, data=b"[1, 2]")["issue"][0]["code"] == "structure"
    # Two identifiers that name different patients are inputs that disagree.
    other = world.patient(doc)
    both = {"name": "patient", "resource": {"resourceType": "Patient", "identifier": [
        {"system": f"{BASE}/fhir/sid/rems-patient-id", "value": patient["rems_patient_id"]},
        {"system": f"{BASE}/fhir/sid/patient", "value": str(other["id"])}]}}
    assert etasu(doc, [both], 422)["issue"][0]["code"] == "value"
    assert counts(app) == before


def test_several_prescriptions_are_412_before_the_medication_is_judged(world):
    pharmacy, _ = world.pharmacist_api()
    _, doc = world.prescriber_api()
    patient = world.patient(doc)
    world.prescription(doc, patient, pharmacy)
    world.prescription(doc, patient, pharmacy)
    body = etasu(doc, [patient_param(patient["rems_patient_id"]),
                       {"name": "medication", "valueCodeableConcept": {"text": "amoxicillin"}}], 412)
    assert body["issue"][0]["code"] == "multiple-matches"


def test_an_admin_checks_any_patient_and_any_prescription(world, app):
    """An admin may check every patient (INTEROP.md §2): the same answer the patient's prescriber gets,
    by REMS id and by prescription, each recorded as a check on the prescription."""
    pharmacy, _ = world.pharmacist_api()
    _, doc = world.prescriber_api()
    patient = world.patient(doc)
    world.ready_evidence(doc, patient)
    rx = world.prescription(doc, patient, pharmacy)
    by_patient = etasu(world.admin, [patient_param(patient["rems_patient_id"])])
    assert by_patient["parameter"][0]["resource"]["status"] == "success"
    assert last_check(app).subject == f"prescription:{rx['id']}"
    by_rx = etasu(world.admin, [{"name": "prescription",
                                 "valueReference": {"reference": f"MedicationRequest/{rx['id']}"}}])
    assert by_rx["parameter"][0]["resource"]["status"] == "success"
    assert last_check(app).subject == f"prescription:{rx['id']}"
    assert etasu(doc, [patient_param(patient["rems_patient_id"])])["parameter"][0]["resource"]["status"] == "success"
