"""The whole path a prescription takes through the API, on every configured engine."""
from __future__ import annotations

import contextlib
from datetime import UTC

import pytest
from sqlalchemy import event

from pharmsafe.runtime import runtime_of
from tests.support import World


@pytest.fixture
def world(app, client):
    return World(app, client)


def test_register_evaluate_dispense_and_refuse_second_dispense(world, clock):
    rph, doc, patient, rx, decision = world.authorized()

    assert decision["policy"] == {"name": "ipledge-2026", "version": "2026-08-08", "effective_from": "2026-08-08"}
    assert {g["gate"] for g in decision["gates"]} == {
        "pharmacy", "prescriber", "patient", "pregnancy_test", "contraception", "comprehension", "counseling",
        "labs", "prescription", "rems_authorization"}
    statuses = {g["gate"]: g["status"] for g in decision["gates"]}
    assert statuses["rems_authorization"] == "not_applicable"
    assert all(s in ("pass", "not_applicable") for s in statuses.values()), statuses
    # Confirmatory test collected 2026-11-24: its 7-day window ends 2026-11-30 at 23:59:59 New York.
    assert decision["dispense_by"] == "2026-12-01T04:59:59Z"
    assert decision["dispense_by_source"]["gate"] == "pregnancy_test"
    assert decision["dispense_by_source"]["last_day"] == "2026-11-30"
    auth = decision["authorization"]
    assert auth["status"] == "active" and auth["dispense_by"] == decision["dispense_by"]

    dispensed = rph.ok("POST", f"/authorizations/{auth['id']}/dispense", {"quantity": 60, "rma_number": "RMA-1", "rma_do_not_dispense_after": "2027-12-31"})
    assert dispensed["quantity"] == 60 and dispensed["rma_number"] == "RMA-1"

    again = rph.post(f"/authorizations/{auth['id']}/dispense", json={"quantity": 60, "rma_number": "RMA-2", "rma_do_not_dispense_after": "2027-12-31"})
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "already_dispensed"

    got = rph.ok("GET", f"/authorizations/{auth['id']}")
    assert got["status"] == "dispensed" and got["dispense"]["id"] == dispensed["id"]
    assert rph.ok("GET", f"/prescriptions/{rx['id']}")["status"] == "dispensed"
    # A dispensed prescription cannot be evaluated again.
    assert rph.post(f"/prescriptions/{rx['id']}/evaluations").status_code == 409


def test_dispense_requires_rma_under_ipledge(world):
    rph, *_, decision = world.authorized()
    resp = rph.post(f"/authorizations/{decision['authorization']['id']}/dispense", json={"quantity": 60})
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "rma_missing"
    # The refusal is on the record; the authorization stays usable.
    assert rph.ok("GET", f"/authorizations/{decision['authorization']['id']}")["status"] == "active"


def test_rma_cannot_be_reused(world):
    rph, *_, first = world.authorized()
    rph.ok("POST", f"/authorizations/{first['authorization']['id']}/dispense", {"quantity": 60, "rma_number": "R-9", "rma_do_not_dispense_after": "2027-12-31"})
    pharmacy_id = first["authorization"]["pharmacy_id"]
    _, doc = world.prescriber_api()
    patient = world.patient(doc)
    world.ready_evidence(doc, patient)
    rx = world.prescription(doc, patient, {"id": pharmacy_id})
    second = rph.ok("POST", f"/prescriptions/{rx['id']}/evaluations")
    resp = rph.post(f"/authorizations/{second['authorization']['id']}/dispense", json={"quantity": 60, "rma_number": "R-9", "rma_do_not_dispense_after": "2027-12-31"})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "rma_already_used"


def test_quantity_must_equal_prescription(world):
    rph, *_, decision = world.authorized()
    resp = rph.post(f"/authorizations/{decision['authorization']['id']}/dispense", json={"quantity": 59, "rma_number": "R", "rma_do_not_dispense_after": "2027-12-31"})
    assert resp.status_code == 422
    assert "quantity" in resp.get_json()["error"]["fields"]


def test_dispense_at_midnight_after_dispense_by_is_refused_without_the_scheduler(world, clock):
    from datetime import datetime

    rph, *_, decision = world.authorized()
    auth_id = decision["authorization"]["id"]
    clock.set(datetime(2026, 12, 1, 5, 0, 0, tzinfo=UTC))
    resp = rph.post(f"/authorizations/{auth_id}/dispense", json={"quantity": 60, "rma_number": "R", "rma_do_not_dispense_after": "2027-12-31"})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "authorization_expired"


def test_dispense_at_last_second_succeeds(world, clock):
    from datetime import datetime

    rph, *_, decision = world.authorized()
    clock.set(datetime(2026, 12, 1, 4, 59, 59, 900000, tzinfo=UTC))
    rph.ok("POST", f"/authorizations/{decision['authorization']['id']}/dispense", {"quantity": 60, "rma_number": "R", "rma_do_not_dispense_after": "2027-12-31"})


def test_lab_warning_must_be_acknowledged(world):
    pharmacy, rph = world.pharmacist_api()
    _, doc = world.prescriber_api()
    patient = world.patient(doc, can_get_pregnant=False)
    world.ready_evidence(doc, patient, triglycerides="612")
    rx = world.prescription(doc, patient, pharmacy)
    decision = rph.ok("POST", f"/prescriptions/{rx['id']}/evaluations")
    assert decision["outcome"] == "authorized"
    labs = next(g for g in decision["gates"] if g["gate"] == "labs")
    assert labs["status"] == "warn" and labs["code"] == "TRIGLYCERIDES_ELEVATED"
    auth_id = decision["authorization"]["id"]
    resp = rph.post(f"/authorizations/{auth_id}/dispense", json={"quantity": 60, "rma_number": "R1", "rma_do_not_dispense_after": "2027-12-31"})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "warning_not_acknowledged"
    rph.ok("POST", f"/authorizations/{auth_id}/dispense",
           {"quantity": 60, "rma_number": "R1", "rma_do_not_dispense_after": "2027-12-31", "acknowledged_warnings": ["TRIGLYCERIDES_ELEVATED", "EXTRA"]})


def test_blocked_by_stale_test_names_what_unblocks(world):
    pharmacy, rph = world.pharmacist_api()
    _, doc = world.prescriber_api()
    patient = world.patient(doc)
    world.ready_evidence(doc, patient, test_day=-7)  # collected 2026-11-19: day 8 today
    rx = world.prescription(doc, patient, pharmacy)
    decision = rph.ok("POST", f"/prescriptions/{rx['id']}/evaluations")
    assert decision["outcome"] == "blocked"
    assert decision["authorization"] is None and decision["dispense_by"] is None
    gate = next(g for g in decision["gates"] if g["gate"] == "pregnancy_test")
    assert gate["status"] == "fail" and gate["unblock"]
    assert rph.ok("GET", f"/prescriptions/{rx['id']}")["status"] == "blocked"


def test_reevaluation_supersedes_the_active_authorization(world):
    rph, doc, patient, rx, first = world.authorized()
    second = rph.ok("POST", f"/prescriptions/{rx['id']}/evaluations")
    assert second["authorization"]["id"] != first["authorization"]["id"]
    old = rph.ok("GET", f"/authorizations/{first['authorization']['id']}")
    assert old["status"] == "reversed" and old["reversal"]["reason"] == "superseded"


@contextlib.contextmanager
def statements(app):
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_):
        seen.append(statement)

    engine = runtime_of(app).engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_reevaluation_runs_the_same_statements_however_much_evidence_there_is(world, app):
    rph, doc, patient, rx, _ = world.authorized()
    with statements(app) as before:
        assert rph.ok("POST", f"/prescriptions/{rx['id']}/evaluations")["outcome"] == "authorized"
    for _ in range(10):
        doc.ok("POST", f"/patients/{patient['id']}/lab-results", {"test": "ALT", "value": "20", "unit": "U/L",
                                                                  "collected_on": world.day(-1)})
    with statements(app) as after:
        assert rph.ok("POST", f"/prescriptions/{rx['id']}/evaluations")["outcome"] == "authorized"
    assert len(after) == len(before)
    # BEGIN IMMEDIATE (SQLite) or the chain's advisory lock (PostgreSQL), token, prescription,
    # parties, four kinds of evidence, decision, active authorization read and superseded, new
    # authorization, chain head, audit INSERT: none per piece of evidence, none repeated.
    assert len(before) <= 14, before
    assert sum(s.lstrip().upper().startswith("UPDATE PRESCRIPTIONS") for s in before) == 0, before


def test_positive_test_reverses_active_authorizations(world):
    rph, doc, patient, rx, decision = world.authorized()
    doc.ok("POST", f"/patients/{patient['id']}/pregnancy-tests", {
        "specimen_collected_on": world.day(0), "result": "positive", "specimen": "urine", "setting": "medical"})
    auth = rph.ok("GET", f"/authorizations/{decision['authorization']['id']}")
    assert auth["status"] == "reversed" and auth["reversal"]["reason"] == "positive_pregnancy_test"
    again = rph.ok("POST", f"/prescriptions/{rx['id']}/evaluations")
    assert again["outcome"] == "blocked"
    gate = next(g for g in again["gates"] if g["gate"] == "pregnancy_test")
    assert gate["code"] == "PREGNANCY_TEST_POSITIVE"


def test_entered_in_error_reverses_authorizations_that_cited_it(world):
    rph, doc, patient, rx, decision = world.authorized()
    tests = doc.ok("GET", f"/patients/{patient['id']}")["pregnancy_tests"]
    confirmatory = max(tests, key=lambda t: t["specimen_collected_on"])
    doc.ok("POST", f"/patients/{patient['id']}/pregnancy-tests/{confirmatory['id']}/entered-in-error",
           {"reason": "wrong patient"}, status=200)
    auth = rph.ok("GET", f"/authorizations/{decision['authorization']['id']}")
    assert auth["status"] == "reversed" and auth["reversal"]["reason"] == "evidence_entered_in_error"


def test_prescriber_license_lapse_reverses_authorizations(world):
    rph, doc, patient, rx, decision = world.authorized()
    rx_full = rph.ok("GET", f"/prescriptions/{rx['id']}")
    changed = world.admin.ok("PATCH", f"/prescribers/{rx_full['prescriber_id']}", {"license_expires_on": world.day(-1)})
    assert changed["reversed_authorizations"] == [decision["authorization"]["id"]]
    assert rph.ok("GET", f"/authorizations/{decision['authorization']['id']}")["status"] == "reversed"


def test_pharmacy_activation_lapse_reverses_authorizations(world):
    rph, doc, patient, rx, decision = world.authorized()
    world.admin.ok("PATCH", f"/pharmacies/{rx['pharmacy_id']}", {"activated_until": world.day(-1)})
    assert rph.ok("GET", f"/authorizations/{decision['authorization']['id']}")["status"] == "reversed"


def test_pharmacist_reversal(world):
    rph, *_, decision = world.authorized()
    auth_id = decision["authorization"]["id"]
    out = rph.ok("POST", f"/authorizations/{auth_id}/reversal", {"reason": "patient postponed"}, status=200)
    assert out["status"] == "reversed" and out["reversal"]["reason"] == "patient postponed"
    resp = rph.post(f"/authorizations/{auth_id}/dispense", json={"quantity": 60, "rma_number": "R", "rma_do_not_dispense_after": "2027-12-31"})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "authorization_reversed"


def test_idempotency_key_replays_and_refuses_different_body(world):
    rph, *_, decision = world.authorized()
    path = f"/authorizations/{decision['authorization']['id']}/dispense"
    body = {"quantity": 60, "rma_number": "R-77", "rma_do_not_dispense_after": "2027-12-31"}
    first = rph.post(path, json=body, headers={"Idempotency-Key": "k1"})
    assert first.status_code == 201
    replay = rph.post(path, json=body, headers={"Idempotency-Key": "k1"})
    assert replay.status_code == 201 and replay.get_json() == first.get_json()
    different = rph.post(path, json={"quantity": 60, "rma_number": "R-78", "rma_do_not_dispense_after": "2027-12-31"}, headers={"Idempotency-Key": "k1"})
    assert different.status_code == 422
    # A new key is a new request: refused because it is already dispensed.
    assert rph.post(path, json=body, headers={"Idempotency-Key": "k2"}).status_code == 409


def test_queue_lists_only_own_pharmacy_and_filters_by_status(world):
    rph, doc, patient, rx, decision = world.authorized()
    other_pharmacy, other_rph = world.pharmacist_api()
    assert [p["id"] for p in rph.ok("GET", "/prescriptions")["items"]] == [rx["id"]]
    assert other_rph.ok("GET", "/prescriptions")["items"] == []
    assert rph.ok("GET", "/prescriptions?status=blocked")["items"] == []
    assert [p["id"] for p in rph.ok("GET", "/prescriptions?status=authorized")["items"]] == [rx["id"]]
    assert other_rph.get(f"/prescriptions/{rx['id']}").status_code == 403
    assert other_rph.post(f"/prescriptions/{rx['id']}/evaluations").status_code == 403
    assert other_rph.post(f"/authorizations/{decision['authorization']['id']}/dispense",
                          json={"quantity": 60}).status_code == 403


def test_audit_trail_records_the_flow_and_verifies(world):
    rph, *_, decision = world.authorized()
    rph.ok("POST", f"/authorizations/{decision['authorization']['id']}/dispense", {"quantity": 60, "rma_number": "R", "rma_do_not_dispense_after": "2027-12-31"})
    _, auditor = world.user("auditor")
    actions = set()
    page = auditor.ok("GET", "/audit-events")
    while True:
        actions.update(e["action"] for e in page["items"])
        if not page["next"]:
            break
        page = auditor.ok("GET", f"/audit-events?cursor={page['next']}")
    assert {"decision.recorded", "authorization.issued", "dispense.recorded", "evidence.recorded",
            "prescription.submitted", "registry.changed", "user.created", "token.issued"} <= actions
    verification = auditor.ok("GET", "/audit-events/verification")
    assert verification["intact"] is True and verification["first_broken"] is None
    assert verification["events"] > 10
