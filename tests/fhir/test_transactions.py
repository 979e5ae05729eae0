"""Inbound FHIR (INTEROP.md §3, §6, §8): transaction Bundles all or nothing, references, replays,
duplicates, amendments and retractions, and the round trip to a dispense."""
from __future__ import annotations

import json

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.guidanceresponse import GuidanceResponse
from fhir.resources.R4B.medicationdispense import MedicationDispense
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.parameters import Parameters
from sqlalchemy import select

from pharmsafe.models import AuditEvent
from pharmsafe.runtime import runtime_of
from tests.fhir.conftest import (
    BASE,
    REMS,
    attestation,
    bundle,
    counts,
    entry,
    lab,
    medication_request,
    pregnancy_test,
    send,
)

EXT = f"{BASE}/fhir/StructureDefinition/"


def new_patient(rems_id: str, enrolled_on: str, *, can_get_pregnant: bool = True) -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": REMS, "value": rems_id}],
            "name": [{"family": "Rivera", "given": ["Maya"]}], "birthDate": "2001-04-05",
            "extension": [{"url": EXT + "can-get-pregnant", "valueBoolean": can_get_pregnant},
                          {"url": EXT + "rems-enrolled-on", "valueDate": enrolled_on}]}


def full_course(world, rems_id: str, npi: str, ncpdp: str) -> dict:
    """One transaction: a new patient who can get pregnant, screening and confirmatory tests, four
    labs, three attestations and the prescription, all by urn:uuid or identifier."""
    d = world.day
    patient_ref = {"reference": "urn:uuid:00000000-0000-4000-8000-000000000000"}

    def own(resource):
        resource["subject"] = patient_ref
        return resource

    resources = [
        own(pregnancy_test(rems_id, d(-32), ident="hcg-screening")),
        own(pregnancy_test(rems_id, f"{d(-2)}T23:30:00-08:00", ident="hcg-confirmatory")),
        own(lab(rems_id, d(-6), "1742-6", 25, "U/L", ident="alt")),
        own(lab(rems_id, d(-6), "1920-8", 22, "U/L", ident="ast")),
        own(lab(rems_id, d(-6), "2571-8", 150, "mg/dL", ident="tg")),
        own(lab(rems_id, d(-6), "2093-3", 180, "mg/dL", ident="chol")),
        own(attestation(rems_id, npi, d(-2), "contraception", ident="att-contra", methods=("iud", "male_condom"))),
        own(attestation(rems_id, npi, d(-2), "comprehension", ident="att-comp")),
        own(attestation(rems_id, npi, d(-2), "counseling", ident="att-couns")),
        own(medication_request(rems_id, npi, ncpdp, d(-1))),
    ]
    return bundle(entry(new_patient(rems_id, d(-60)), 0, if_none_exist=f"identifier={REMS}|{rems_id}"),
                  *[entry(r, n) for n, r in enumerate(resources, start=1)])


@pytest.fixture
def parties(world):
    pharmacy, rph = world.pharmacist_api()
    prescriber, doc = world.prescriber_api()
    return pharmacy, rph, prescriber, doc


def test_one_transaction_takes_a_patient_to_a_dispense_read_back_as_fhir(world, app, parties):
    pharmacy, rph, prescriber, doc = parties
    body = full_course(world, "RT-1", prescriber["npi"], pharmacy["ncpdp_id"])
    Bundle.model_validate(body)
    resp = send(doc, "POST", "", body, 200)
    answer = resp.get_json(force=True)
    Bundle.model_validate(answer)
    assert answer["type"] == "transaction-response" and len(answer["entry"]) == 11
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["201 Created"] * 11
    locations = [e["response"]["location"] for e in answer["entry"]]
    assert locations[0].startswith("Patient/") and locations[1].startswith("Observation/pregnancy-test-")
    assert locations[3].startswith("Observation/lab-result-") and locations[7].startswith("QuestionnaireResponse/")
    assert all(e["response"]["etag"] == 'W/"1"' for e in answer["entry"])
    rx_id = int(locations[10].split("/")[1])
    # The records read back through the JSON API, as sent.
    patient_id = int(locations[0].split("/")[1])
    detail = doc.ok("GET", f"/patients/{patient_id}")
    assert detail["rems_patient_id"] == "RT-1" and detail["can_get_pregnant"] is True
    tests = sorted(t["specimen_collected_on"] for t in detail["pregnancy_tests"])
    assert tests == [world.day(-32), world.day(-2)]  # the -08:00 dateTime keeps its own date
    assert {(r["test"], str(r["value"]), r["unit"]) for r in detail["lab_results"]} == {
        ("ALT", "25", "U/L"), ("AST", "22", "U/L"), ("TRIGLYCERIDES", "150", "mg/dL"),
        ("TOTAL_CHOLESTEROL", "180", "mg/dL")}
    rx = doc.ok("GET", f"/prescriptions/{rx_id}")
    assert (float(rx["strength_mg"]), float(rx["quantity"]), rx["days_supply"], rx["refills"], rx["status"],
            rx["drug"]) == (20, 60, 30, 0, "submitted", "isotretinoin")
    # $rems-etasu: success, no decision, one check.performed.
    before = counts(app)
    etasu = send(rph, "POST", "/GuidanceResponse/$rems-etasu", {"resourceType": "Parameters", "parameter": [
        {"name": "patient", "resource": {"resourceType": "Patient", "identifier": [{"system": REMS, "value": "RT-1"}]}}]},
        200).get_json(force=True)
    Parameters.model_validate(etasu)
    assert etasu["parameter"][0]["resource"]["status"] == "success"
    after = counts(app)
    assert after["audit_events"] == before["audit_events"] + 1
    # $evaluate authorizes; its GuidanceResponse reads back.
    guidance = send(rph, "POST", f"/MedicationRequest/{rx_id}/$evaluate", None, 201).get_json(force=True)
    assert guidance["status"] == "success"
    again = send(rph, "GET", f"/GuidanceResponse/{guidance['id']}", None, 200).get_json(force=True)
    GuidanceResponse.model_validate(again)
    assert again["id"] == guidance["id"]
    # A refused dispense attempt reads back declined, the dispense completed with its RMA.
    auth_id = rph.ok("GET", f"/prescriptions/{rx_id}")["authorization"]["id"]
    refused = rph.post(f"/authorizations/{auth_id}/dispense", {"quantity": 60})
    assert refused.status_code == 409
    rph.ok("POST", f"/authorizations/{auth_id}/dispense",
           {"quantity": 60, "rma_number": "RMA-RT-1", "rma_do_not_dispense_after": world.day(5)})
    decisions = rph.ok("GET", f"/prescriptions/{rx_id}")["decisions"]
    declined_id = next(d["id"] for d in decisions if d["stage"] == "dispense" and d["outcome"] == "blocked")
    declined = send(rph, "GET", f"/MedicationDispense/decision-{declined_id}", None, 200).get_json(force=True)
    MedicationDispense.model_validate(declined)
    assert declined["status"] == "declined"
    with runtime_of(app).session_factory() as s:
        dispense_subject = s.scalars(select(AuditEvent.subject).where(AuditEvent.action == "dispense.recorded")).one()
    completed = send(rph, "GET", f"/MedicationDispense/dispense-{dispense_subject.split(':')[1]}", None,
                     200).get_json(force=True)
    assert completed["status"] == "completed" and completed["identifier"][0]["value"] == "RMA-RT-1"


def test_fhir_writes_record_their_source_and_identifier(world, app, parties):
    pharmacy, _, prescriber, doc = parties
    send(doc, "POST", "", full_course(world, "RT-2", prescriber["npi"], pharmacy["ncpdp_id"]), 200)
    with runtime_of(app).session_factory() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action.in_(
            ("evidence.recorded", "prescription.submitted", "registry.changed")))).all()
        payloads = [json.loads(e.payload) for e in events if json.loads(e.payload).get("source") == "fhir"]
    assert len(payloads) == 11
    assert {p["identifier"]["value"] for p in payloads if p.get("type") == "pregnancy_test"} == {
        "hcg-screening", "hcg-confirmatory"}
    assert all("identifier" in p for p in payloads)


def test_an_identical_replay_writes_nothing_and_other_content_is_a_duplicate(world, app, parties):
    pharmacy, _, prescriber, doc = parties
    body = full_course(world, "RT-3", prescriber["npi"], pharmacy["ncpdp_id"])
    send(doc, "POST", "", body, 200)
    before = counts(app)
    replay = send(doc, "POST", "", body, 200).get_json(force=True)
    assert [e["response"]["status"] for e in replay["entry"]] == ["200 OK"] * 11
    assert counts(app) == before
    changed = json.loads(json.dumps(body))
    changed["entry"][3]["resource"]["valueQuantity"]["value"] = 26  # the ALT, same identifier
    resp = send(doc, "POST", "", changed, 409)
    outcome = resp.get_json(force=True)
    OperationOutcome.model_validate(outcome)
    assert outcome["issue"][0]["code"] == "duplicate"
    assert counts(app) == before


def test_a_bad_last_entry_leaves_no_row_and_no_audit_event(world, app, parties):
    pharmacy, _, prescriber, doc = parties
    body = full_course(world, "RT-4", prescriber["npi"], pharmacy["ncpdp_id"])
    body["entry"][-1]["resource"]["dispenseRequest"]["expectedSupplyDuration"]["value"] = 400
    before = counts(app)
    outcome = send(doc, "POST", "", body, 422).get_json(force=True)
    assert any("Bundle.entry[10].resource.dispenseRequest.expectedSupplyDuration" in e
               for i in outcome["issue"] for e in i.get("expression", []))
    assert counts(app) == before


@pytest.mark.parametrize("day, status", [("2026", 422), ("2026-11", 422)])
def test_a_date_without_its_day_is_refused(world, parties, day, status):
    pharmacy, _, prescriber, doc = parties
    patient = world.patient(doc)
    resp = send(doc, "POST", "/Observation", pregnancy_test(patient["rems_patient_id"], day), status)
    assert resp.get_json(force=True)["issue"][0]["expression"] == ["Observation.effectiveDateTime"]


def test_dates_keep_their_own_offset_and_tomorrow_is_refused(world, parties):
    """The clock's New York day is world.today: 23:30 at -08:00 on day -1 is day -1, 00:30 at +09:00 on
    today is today, though New York has the day before; tomorrow is the future."""
    pharmacy, _, prescriber, doc = parties
    patient = world.patient(doc)
    rems = patient["rems_patient_id"]
    send(doc, "POST", "/Observation", pregnancy_test(rems, f"{world.day(-1)}T23:30:00-08:00", ident="a"), 201)
    send(doc, "POST", "/Observation", pregnancy_test(rems, f"{world.day(0)}T00:30:00+09:00", ident="b"), 201)
    tomorrow = send(doc, "POST", "/Observation", pregnancy_test(rems, world.day(1), ident="c"), 422)
    assert "future" in tomorrow.get_data(as_text=True)
    days = sorted(t["specimen_collected_on"] for t in doc.ok("GET", f"/patients/{patient['id']}")["pregnancy_tests"])
    assert days == [world.day(-1), world.day(0)]


def test_one_resource_post_answers_201_with_location_and_no_body_then_200_on_replay(world, app, parties):
    pharmacy, _, prescriber, doc = parties
    patient = world.patient(doc)
    body = pregnancy_test(patient["rems_patient_id"], world.day(-1))
    created = send(doc, "POST", "/Observation", body, 201)
    assert created.get_data() == b"" and created.headers["ETag"] == 'W/"1"' and created.mimetype == "application/fhir+json"
    assert created.headers["Location"].startswith(f"{BASE}/fhir/R4/Observation/pregnancy-test-")
    before = counts(app)
    replay = send(doc, "POST", "/Observation", body, 200)
    assert replay.headers["Location"] == created.headers["Location"] and counts(app) == before


def test_an_amendment_supersedes_and_a_put_retracts(world, app, parties):
    pharmacy, rph, prescriber, doc = parties
    patient = world.patient(doc)
    rems = patient["rems_patient_id"]
    first = send(doc, "POST", "/Observation", pregnancy_test(rems, world.day(-2)), 201).headers["Location"]
    amended = pregnancy_test(rems, world.day(-1), status="amended")
    second = send(doc, "POST", "/Observation", amended, 201).headers["Location"]
    assert first != second
    tests = doc.ok("GET", f"/patients/{patient['id']}")["pregnancy_tests"]
    by_day = {t["specimen_collected_on"]: t for t in tests}
    assert by_day[world.day(-2)]["entered_in_error"] is True
    assert by_day[world.day(-1)]["entered_in_error"] is False
    logical = second.split("/fhir/R4/Observation/")[1].split("/")[0]
    retraction = {"resourceType": "Observation", "status": "entered-in-error", "code": amended["code"],
                  "note": [{"text": "wrong patient"}]}
    send(doc, "PUT", f"/Observation/{logical}", retraction, 200)
    send(doc, "PUT", f"/Observation/{logical}", retraction, 409)
    no_reason = dict(retraction, note=[{"text": " "}])
    send(doc, "PUT", f"/Observation/{logical}", no_reason, 422)
    other = dict(retraction, status="final")
    send(doc, "PUT", f"/Observation/{logical}", other, 422)
    tests = doc.ok("GET", f"/patients/{patient['id']}")["pregnancy_tests"]
    assert all(t["entered_in_error"] for t in tests)
    _, other_doc = world.prescriber_api()
    send(other_doc, "PUT", f"/Observation/{logical}", retraction, 403)


def test_a_put_by_identifier_retracts_an_attestation(world, parties):
    pharmacy, _, prescriber, doc = parties
    patient = world.patient(doc)
    body = attestation(patient["rems_patient_id"], prescriber["npi"], world.day(-1), "counseling", ident="c-1")
    send(doc, "POST", "/QuestionnaireResponse", body, 201)
    retraction = {"resourceType": "QuestionnaireResponse", "status": "entered-in-error",
                  "questionnaire": body["questionnaire"]}
    by_identifier = "/QuestionnaireResponse?identifier=urn:oid:2.16.840.1.113883.3.1.5|c-1"
    send(doc, "PUT", by_identifier, retraction, 422)  # no reason
    assert doc.ok("GET", f"/patients/{patient['id']}")["attestations"][0]["entered_in_error"] is False
    send(doc, "PUT", "/QuestionnaireResponse?identifier=urn:oid:2.16.840.1.113883.3.1.5|nope",
         dict(retraction, text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}),
         404)
    # R4 gives a QuestionnaireResponse no note: its model refuses one (400); the reason travels in
    # PharmSafe's extension instead.
    send(doc, "PUT", by_identifier, dict(retraction, note=[{"text": "wrong form"}]), 400)
    reason = {"url": f"{BASE}/fhir/StructureDefinition/entered-in-error-reason", "valueString": "wrong form"}
    send(doc, "PUT", by_identifier, dict(retraction, extension=[reason]), 200)
    [withdrawn] = doc.ok("GET", f"/patients/{patient['id']}")["attestations"]
    assert withdrawn["entered_in_error"] is True and withdrawn["entered_in_error_reason"] == "wrong form"
    send(doc, "PUT", by_identifier, dict(retraction, extension=[reason]), 409)


def test_references_resolve_by_urn_and_identifier_never_by_literal_id(world, app, parties):
    pharmacy, _, prescriber, doc = parties
    patient = world.patient(doc)
    literal = pregnancy_test(patient["rems_patient_id"], world.day(-1))
    literal["subject"] = {"reference": f"Patient/{patient['id']}"}
    assert send(doc, "POST", "/Observation", literal, 404).get_json(force=True)["issue"][0]["code"] == "not-found"
    dangling = bundle(entry(dict(literal, subject={"reference": "urn:uuid:00000000-0000-4000-8000-000000000009"}), 1))
    send(doc, "POST", "", dangling, 404)
    unknown = pregnancy_test("NO-SUCH", world.day(-1))
    send(doc, "POST", "/Observation", unknown, 404)


def test_several_matches_are_412_and_repeated_if_none_exist_422(world, app, parties):
    pharmacy, _, prescriber, doc = parties
    world.patient(doc, rems_patient_id="TWIN")
    world.patient(doc, rems_patient_id="TWIN")
    send(doc, "POST", "/Observation", pregnancy_test("TWIN", world.day(-1)), 412)
    patient = world.patient(doc)
    rems = patient["rems_patient_id"]
    twice = bundle(entry(new_patient(rems, world.day(-60)), 0, if_none_exist=f"identifier={REMS}|{rems}"),
                   entry(new_patient(rems, world.day(-60)), 1, if_none_exist=f"identifier={REMS}|{rems}"))
    send(doc, "POST", "", twice, 422)


def test_a_matched_patient_must_be_the_prescribers_and_agree(world, app, parties):
    pharmacy, _, prescriber, doc = parties
    patient = world.patient(doc, enrolled_on=world.day(-60))
    rems = patient["rems_patient_id"]
    same = new_patient(rems, world.day(-60))
    resp = send(doc, "POST", "", bundle(entry(same, 0, if_none_exist=f"identifier={REMS}|{rems}")), 200)
    assert resp.get_json(force=True)["entry"][0]["response"]["status"] == "200 OK"
    send(doc, "POST", "", bundle(entry(dict(same, birthDate="1999-01-01"), 0,
                                       if_none_exist=f"identifier={REMS}|{rems}")), 422)
    differing = new_patient(rems, world.day(-60), can_get_pregnant=False)
    send(doc, "POST", "", bundle(entry(differing, 0, if_none_exist=f"identifier={REMS}|{rems}")), 409)
    _, other_doc = world.prescriber_api()
    send(other_doc, "POST", "", bundle(entry(same, 0, if_none_exist=f"identifier={REMS}|{rems}")), 403)


def test_the_bundle_identifier_is_the_key_without_an_idempotency_key(world, app, parties):
    pharmacy, _, prescriber, doc = parties
    body = full_course(world, "RT-5", prescriber["npi"], pharmacy["ncpdp_id"])
    body["identifier"] = {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:6b1b5a0c-0d6e-4c2b-9c53-3d2b1e7f0a11"}
    first = send(doc, "POST", "", body, 200).get_json(force=True)
    again = send(doc, "POST", "", body, 200)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.get_json(force=True) == first
    assert again.mimetype == "application/fhir+json"


def test_only_a_prescriber_writes(world, parties):
    pharmacy, rph, prescriber, doc = parties
    send(rph, "POST", "", bundle(), 403)
    send(world.anon, "POST", "", bundle(), 401)
    assert send(doc, "POST", "", "{", 400).get_json(force=True)["issue"][0]["code"] == "structure"
    send(doc, "POST", "", bundle(), 200)
    send(doc, "POST", "", {"resourceType": "Bundle", "type": "collection"}, 422)


def test_a_missing_reference_is_404_before_another_prescribers_patient_is_403(world, parties):
    """INTEROP.md §2's order: references (404) before ownership (403) before values (422)."""
    pharmacy, _, prescriber, doc = parties
    _, other_doc = world.prescriber_api()
    theirs = world.patient(other_doc)
    rx = medication_request(theirs["rems_patient_id"], prescriber["npi"], "9999999", world.day(-1))
    assert send(doc, "POST", "/MedicationRequest", rx, 404).get_json(force=True)["issue"][0]["code"] == "not-found"
    rx = medication_request(theirs["rems_patient_id"], prescriber["npi"], pharmacy["ncpdp_id"], world.day(-1),
                            days=400)
    assert send(doc, "POST", "/MedicationRequest", rx, 403).get_json(force=True)["issue"][0]["code"] == "forbidden"
    mine = world.patient(doc)
    rx = medication_request(mine["rems_patient_id"], prescriber["npi"], pharmacy["ncpdp_id"], world.day(-1), days=400)
    send(doc, "POST", "/MedicationRequest", rx, 422)


def test_every_fhir_post_honours_an_idempotency_key(world, app, parties):
    pharmacy, rph, prescriber, doc = parties
    patient = world.patient(doc)
    world.ready_evidence(doc, patient)
    rx = world.prescription(doc, patient, pharmacy)
    key = {"Idempotency-Key": "evaluate-once"}
    first = send(rph, "POST", f"/MedicationRequest/{rx['id']}/$evaluate", None, 201, **key)
    before = counts(app)
    again = send(rph, "POST", f"/MedicationRequest/{rx['id']}/$evaluate", None, 201, **key)
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json(force=True) == first.get_json(force=True)
    assert again.headers["Location"] == first.headers["Location"] and again.mimetype == "application/fhir+json"
    assert counts(app) == before
    body = pregnancy_test(patient["rems_patient_id"], world.day(-1), ident="keyed")
    created = send(doc, "POST", "/Observation", body, 201, **{"Idempotency-Key": "obs-1"})
    replayed = send(doc, "POST", "/Observation", body, 201, **{"Idempotency-Key": "obs-1"})
    assert replayed.headers["Location"] == created.headers["Location"] and counts(app)["pregnancy_tests"] == \
        before["pregnancy_tests"] + 1
    check = {"resourceType": "Parameters", "parameter": [{"name": "case_number",
                                                          "valueString": patient["rems_patient_id"]}]}
    send(rph, "POST", "/GuidanceResponse/$rems-etasu", check, 200, **{"Idempotency-Key": "etasu-1"})
    events = counts(app)["audit_events"]
    send(rph, "POST", "/GuidanceResponse/$rems-etasu", check, 200, **{"Idempotency-Key": "etasu-1"})
    assert counts(app)["audit_events"] == events  # the answer replayed, no second check.performed


def test_what_cannot_be_stored_whole_is_refused_never_cut(world, app, parties):
    pharmacy, _, prescriber, doc = parties
    patient = world.patient(doc)
    long_unit = lab(patient["rems_patient_id"], world.day(-1), "1742-6", 25, "U/L", ident="alt-long")
    long_unit["valueQuantity"].update(unit="units per litre of serum", code="units per litre of serum")
    send(doc, "POST", "/Observation", long_unit, 422)
    long_unit["valueQuantity"].update(unit="U/L" + "x" * 17, code="U/L" + "x" * 17)  # 20 characters: stored whole
    send(doc, "POST", "/Observation", long_unit, 201)
    [stored] = doc.ok("GET", f"/patients/{patient['id']}")["lab_results"]
    assert stored["unit"] == "U/L" + "x" * 17
    named = new_patient("LONG-NAME", world.day(-60))
    named["name"][0]["family"] = "R" * 101
    before = counts(app)
    send(doc, "POST", "", bundle(entry(named, 0, if_none_exist=f"identifier={REMS}|LONG-NAME")), 422)
    assert counts(app) == before
