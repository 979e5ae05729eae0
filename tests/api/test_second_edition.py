"""The rulebook's second edition through the JSON API, on both engines: each finding of the review
as the case it protects. The clock is 2026-11-26 10:00 in New York unless a test moves it."""
from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from pharmsafe.models import AuditEvent, Decision
from pharmsafe.runtime import runtime_of
from tests.support import Api, World

RMA_DATE = "2027-12-31"


@pytest.fixture
def world(app, client):
    return World(app, client)


def dispense_body(rma_number: str, **extra) -> dict:
    return {"quantity": 60, "rma_number": rma_number, "rma_do_not_dispense_after": RMA_DATE, **extra}


def evaluate(rph: Api, rx: dict) -> dict:
    return rph.ok("POST", f"/prescriptions/{rx['id']}/evaluations")


def test_second_edition_decision_names_the_policys_effective_date(world):
    _, _, _, _, decision = world.authorized()
    assert decision["policy"] == {"name": "ipledge-2026", "version": "2026-08-08", "effective_from": "2026-08-08"}


# --- finding 1: negative, positive, negative never releases the drug -----------------------------------

def test_negative_positive_negative_is_blocked_until_the_prescriber_clears_it(world, clock):
    rph, doc, patient, rx, decision = world.authorized()
    pid = patient["id"]
    positive = doc.ok("POST", f"/patients/{pid}/pregnancy-tests", {
        "specimen_collected_on": world.day(-1), "result": "positive", "specimen": "urine", "setting": "medical"})
    # Recording the positive reversed the authorization at once.
    auth = rph.ok("GET", f"/authorizations/{decision['authorization']['id']}")
    assert auth["status"] == "reversed"
    doc.ok("POST", f"/patients/{pid}/pregnancy-tests", {
        "specimen_collected_on": world.day(0), "result": "negative", "specimen": "serum", "setting": "medical",
        "clia_number": "05D1234567"})
    blocked = evaluate(rph, rx)
    gate = next(g for g in blocked["gates"] if g["gate"] == "pregnancy_test")
    assert blocked["outcome"] == "blocked"
    assert gate["code"] == "PREGNANCY_TEST_POSITIVE"
    assert gate["evidence"]["positive_pregnancy_test"] == [positive["id"]]
    assert "pregnancy_excluded" in gate["unblock"] and "entered in error" in gate["unblock"]

    clock.advance(minutes=20)  # the prescriber reviews the positive after it was recorded
    # The clearance needs its note; with it, the lock lifts, and the next dispense is a new course
    # whose tests must be collected after the positive's day.
    missing_note = doc.post(f"/patients/{pid}/attestations", json={"kind": "pregnancy_excluded",
                                                                   "attested_on": world.day(0)})
    assert missing_note.status_code == 422 and "note" in missing_note.get_json()["error"]["fields"]
    cleared = doc.ok("POST", f"/patients/{pid}/attestations", {
        "kind": "pregnancy_excluded", "attested_on": world.day(0), "note": "Quantitative serum hCG < 1 mIU/mL"})
    assert cleared["note"] == "Quantitative serum hCG < 1 mIU/mL"
    after = evaluate(rph, rx)
    gate = next(g for g in after["gates"] if g["gate"] == "pregnancy_test")
    assert gate["code"] != "PREGNANCY_TEST_POSITIVE"
    assert gate["evidence"]["attestation"] == cleared["id"]
    assert gate["code"] == "SCREENING_TEST_MISSING"  # a first dispense again: screening needed after the positive


def test_a_note_only_belongs_to_a_clearance(world):
    _, doc = world.prescriber_api()
    patient = world.patient(doc)
    resp = doc.post(f"/patients/{patient['id']}/attestations",
                    json={"kind": "counseling", "attested_on": world.day(0), "note": "x"})
    assert resp.status_code == 422 and "note" in resp.get_json()["error"]["fields"]


# --- finding 4: RMA numbers normalised; a race for one is refused and recorded ------------------------

@pytest.mark.parametrize("again", ["R-9 ", "r-9", "\u3000R-9\t", "\uff32-9"])
def test_a_used_rma_number_in_another_form_is_refused_and_recorded(world, again):
    rph, _, _, _, first = world.authorized()
    done = rph.ok("POST", f"/authorizations/{first['authorization']['id']}/dispense", dispense_body("R-9"))
    assert done["rma_number"] == "R-9"
    rph2, _, _, _, second = world.authorized()
    resp = rph2.post(f"/authorizations/{second['authorization']['id']}/dispense", json=dispense_body(again))
    assert resp.status_code == 409
    error = resp.get_json()["error"]
    assert error["code"] == "rma_already_used"
    with runtime_of(world.app).session_factory() as s:
        refused = s.get(Decision, error["decision_id"])
        assert (refused.stage, refused.outcome) == ("dispense", "blocked")


def test_a_blank_rma_number_or_a_missing_date_is_409_rma_missing_never_422(world):
    rph, _, _, _, decision = world.authorized()
    path = f"/authorizations/{decision['authorization']['id']}/dispense"
    for body in ({"quantity": 60, "rma_number": "", "rma_do_not_dispense_after": RMA_DATE},
                 {"quantity": 60, "rma_number": " \u3000 ", "rma_do_not_dispense_after": RMA_DATE},
                 {"quantity": 60, "rma_number": "R-10"}):
        resp = rph.post(path, json=body)
        assert (resp.status_code, resp.get_json()["error"]["code"]) == (409, "rma_missing"), body
    too_long = rph.post(path, json=dispense_body("  " + "R" * 65 + "  "))
    assert too_long.status_code == 422 and "rma_number" in too_long.get_json()["error"]["fields"]
    at_limit = rph.post(path, json=dispense_body("  " + "r" * 64 + "  "))
    assert at_limit.status_code == 201 and at_limit.get_json()["rma_number"] == "R" * 64


def test_two_dispenses_racing_for_one_rma_both_leave_a_record(world, app):
    """One dispense wins; the other is refused with rma_already_used and its refusal is recorded,
    whichever engine (SQLite serialises writers; PostgreSQL serialises on the number)."""
    pairs = [world.authorized() for _ in range(2)]
    start = threading.Barrier(2)
    results: list = [None, None]

    def go(i):
        rph, _, _, _, decision = pairs[i]
        client = app.test_client()
        start.wait()
        results[i] = client.post(f"/api/v1/authorizations/{decision['authorization']['id']}/dispense",
                                 json=dispense_body("RACE-1"), headers={"Authorization": f"Bearer {rph.token}"})

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201, 409], [r.get_json() for r in results]
    loser = next(r for r in results if r.status_code == 409).get_json()["error"]
    assert loser["code"] == "rma_already_used"
    with runtime_of(app).session_factory() as s:
        assert s.get(Decision, loser["decision_id"]).outcome == "blocked"


# --- finding 6: a patient can be deactivated, and that reverses and blocks -----------------------------

def test_deactivating_a_patient_reverses_the_authorization_and_blocks(world):
    rph, doc, patient, rx, decision = world.authorized()
    changed = doc.ok("PATCH", f"/patients/{patient['id']}", {"status": "deactivated"})
    assert changed["status"] == "deactivated"
    auth = rph.ok("GET", f"/authorizations/{decision['authorization']['id']}")
    assert (auth["status"], auth["reversal"]["reason"]) == ("reversed", "patient_deactivated")
    again = evaluate(rph, rx)
    gate = next(g for g in again["gates"] if g["gate"] == "patient")
    assert (again["outcome"], gate["code"]) == ("blocked", "PATIENT_DEACTIVATED")
    assert doc.patch(f"/patients/{patient['id']}", json={"status": "gone"}).status_code == 422
    doc.ok("PATCH", f"/patients/{patient['id']}", {"status": "active"})
    assert evaluate(rph, rx)["outcome"] == "authorized"


# --- transfers-in -------------------------------------------------------------------------------------

def transfer(world, days_ago: int, **over) -> dict:
    return {"dispensed_on": world.day(-days_ago), "days_supply": 30, "quantity": 60,
            "source_ncpdp_id": "7654321", "rma_number": f"T-{days_ago}", **over}


def continuation_scene(world):
    """A patient with one home test today and no dispense here: a first dispense unless a transfer-in
    shows the course."""
    pharmacy, rph = world.pharmacist_api()
    _, doc = world.prescriber_api()
    patient = world.patient(doc, home_pregnancy_tests_allowed=True)
    world.ready_evidence(doc, patient)
    doc.ok("POST", f"/patients/{patient['id']}/pregnancy-tests", {
        "specimen_collected_on": world.day(0), "result": "negative", "specimen": "urine", "setting": "home"})
    rx = world.prescription(doc, patient, pharmacy, first_of_course=False)
    return pharmacy, rph, doc, patient, rx


@pytest.mark.parametrize(("days_ago", "first"), [(45, False), (46, True)])
def test_a_transfer_in_45_days_old_continues_the_course_and_46_does_not(world, days_ago, first):
    pharmacy, rph, doc, patient, rx = continuation_scene(world)
    # The confirmatory of world.ready_evidence is 2 days old; make today's home test the one judged
    # for a continuation by withdrawing the medical ones.
    for test in doc.ok("GET", f"/patients/{patient['id']}")["pregnancy_tests"]:
        if test["setting"] == "medical":
            doc.ok("POST", f"/patients/{patient['id']}/pregnancy-tests/{test['id']}/entered-in-error",
                   {"reason": "scene"}, status=200)
    created = rph.ok("POST", f"/patients/{patient['id']}/transfers-in", transfer(world, days_ago))
    assert created["pharmacy_id"] == pharmacy["id"] and created["rma_number"] == f"T-{days_ago}"
    detail = rph.ok("GET", f"/patients/{patient['id']}")
    assert [t["id"] for t in detail["transfers_in"]] == [created["id"]]
    decision = evaluate(rph, rx)
    gate = next(g for g in decision["gates"] if g["gate"] == "pregnancy_test")
    assert gate["evidence"]["first_of_course"] is first
    assert decision["outcome"] == ("blocked" if first else "authorized")
    if not first:
        # The continuation rests on the transfer-in: withdrawing it reverses the authorization.
        rph.ok("POST", f"/patients/{patient['id']}/transfers-in/{created['id']}/entered-in-error",
               {"reason": "Wrong patient"}, status=200)
        auth = rph.ok("GET", f"/authorizations/{decision['authorization']['id']}")
        assert auth["status"] == "reversed"


def test_transfer_in_validation(world):
    pharmacy, rph, doc, patient, rx = continuation_scene(world)
    path = f"/patients/{patient['id']}/transfers-in"
    cases = [
        (transfer(world, 10, rma_number=None), "rma_number"),  # required under iPLEDGE
        (transfer(world, 10, rma_number="  "), "rma_number"),
        (transfer(world, -1), "dispensed_on"),  # in the future
        (transfer(world, 10, days_supply=0), "days_supply"),
        (transfer(world, 10, days_supply=366), "days_supply"),
        (transfer(world, 10, source_ncpdp_id=pharmacy["ncpdp_id"]), "source_ncpdp_id"),
        (transfer(world, 10, source_ncpdp_id="12345"), "source_ncpdp_id"),
    ]
    for body, field in cases:
        resp = rph.post(path, json=body)
        assert resp.status_code == 422, (body, resp.get_json())
        assert field in resp.get_json()["error"]["fields"], (body, resp.get_json())
    assert rph.post(path, json=transfer(world, 10, days_supply=365)).status_code == 201
    # Its RMA number is now used, in any form, by a transfer-in or a dispense.
    reused = rph.post(path, json=transfer(world, 11, rma_number=" t-10 "))
    assert (reused.status_code, reused.get_json()["error"]["code"]) == (409, "rma_already_used")
    assert doc.post(path, json=transfer(world, 12)).status_code == 403
    _, other_rph = world.pharmacist_api()
    assert other_rph.post(path, json=transfer(world, 12)).status_code == 403


def test_only_the_recording_pharmacy_withdraws_a_transfer_in(world):
    pharmacy, rph, doc, patient, rx = continuation_scene(world)
    created = rph.ok("POST", f"/patients/{patient['id']}/transfers-in", transfer(world, 10))
    other_pharmacy, other_rph = world.pharmacist_api()
    world.prescription(doc, patient, other_pharmacy)  # routed there too: it may see the patient
    resp = other_rph.post(f"/patients/{patient['id']}/transfers-in/{created['id']}/entered-in-error",
                          json={"reason": "not ours"})
    assert resp.status_code == 403


# --- finding 10: "today" in the gates' zone ----------------------------------------------------------

@pytest.fixture
def eu_settings(settings):
    return dict(settings, PROGRAM="eu-ppp", TIME_ZONE="America/New_York")


def test_a_paris_pharmacy_records_same_day_evidence_before_six(eu_settings, clock):
    """05:30 in Paris on 2026-11-26 is 23:30 on 11-25 in New York: a prescription written today in
    Paris and routed to the Paris pharmacy is not in the future, nor is a transfer-in dated today."""
    from pharmsafe import create_app

    clock.set(datetime(2026, 11, 26, 4, 30, tzinfo=UTC))
    app = create_app(eu_settings, clock=clock)
    try:
        world = World(app, app.test_client())
        pharmacy, rph = world.pharmacist_api(world.pharmacy(time_zone="Europe/Paris"))
        _, doc = world.prescriber_api()
        patient = world.patient(doc, rems_patient_id=None, enrolled_on="2026-09-01")
        rx = doc.post("/prescriptions", json={
            "patient_id": patient["id"], "pharmacy_id": pharmacy["id"], "drug": "isotretinoin", "strength_mg": 20,
            "quantity": 60, "days_supply": 30, "refills": 0, "written_on": "2026-11-26"})
        assert rx.status_code == 201, rx.get_json()
        moved = rph.post(f"/patients/{patient['id']}/transfers-in",
                         json={"dispensed_on": "2026-11-26", "days_supply": 30, "quantity": 60,
                               "source_ncpdp_id": "7654321"})
        assert moved.status_code == 201, moved.get_json()
        tomorrow = doc.post("/prescriptions", json={
            "patient_id": patient["id"], "pharmacy_id": pharmacy["id"], "drug": "isotretinoin", "strength_mg": 20,
            "quantity": 60, "days_supply": 30, "refills": 0, "written_on": "2026-11-27"})
        assert tomorrow.status_code == 422 and "written_on" in tomorrow.get_json()["error"]["fields"]
    finally:
        runtime_of(app).engine.dispose()


# --- finding 11: the 2026 rules' date is configuration; until then ipledge-2023 ----------------------

def test_a_postponed_2026_rule_leaves_ipledge_2023_in_force(settings, clock):
    from pharmsafe import create_app

    app = create_app(dict(settings, POLICY_EFFECTIVE="ipledge-2026=2027-03-01"), clock=clock)
    try:
        world = World(app, app.test_client())
        _, _, _, _, decision = world.authorized()
        assert decision["policy"] == {"name": "ipledge-2023", "version": "2023-10-01",
                                      "effective_from": "2023-10-01"}
        with runtime_of(app).session_factory() as s:
            event = s.scalars(select(AuditEvent).where(AuditEvent.action == "decision.recorded")
                              .order_by(AuditEvent.id.desc())).first()
            assert json.loads(event.payload)["policy_effective_from"] == "2023-10-01"
    finally:
        runtime_of(app).engine.dispose()


def test_ipledge_2023_takes_a_home_test_for_a_later_dispense(settings, clock):
    """What iPLEDGE authorizes today under FDA's 2023 discretion: a continuation on a home test the
    prescriber allowed, without a CLIA number."""
    from pharmsafe import create_app

    app = create_app(dict(settings, POLICY="ipledge-2023"), clock=clock)
    try:
        world = World(app, app.test_client())
        pharmacy, rph = world.pharmacist_api()
        _, doc = world.prescriber_api()
        patient = world.patient(doc, home_pregnancy_tests_allowed=True)
        world.ready_evidence(doc, patient)
        for test in doc.ok("GET", f"/patients/{patient['id']}")["pregnancy_tests"]:
            doc.ok("POST", f"/patients/{patient['id']}/pregnancy-tests/{test['id']}/entered-in-error",
                   {"reason": "scene"}, status=200)
        doc.ok("POST", f"/patients/{patient['id']}/pregnancy-tests", {
            "specimen_collected_on": world.day(0), "result": "negative", "specimen": "urine", "setting": "home"})
        rx = world.prescription(doc, patient, pharmacy)
        rph.ok("POST", f"/patients/{patient['id']}/transfers-in",
               {"dispensed_on": world.day(-28), "days_supply": 30, "quantity": 60, "source_ncpdp_id": "7654321",
                "rma_number": "T-1"})
        decision = evaluate(rph, rx)
        assert decision["outcome"] == "authorized", decision["gates"]
        assert decision["policy"]["name"] == "ipledge-2023"
    finally:
        runtime_of(app).engine.dispose()
