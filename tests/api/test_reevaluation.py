"""New evidence for a patient with a blocked prescription re-evaluates it at once, in the same unit
of work, as `system:reevaluation`, the decision naming the evidence that triggered it; the
authorization it may issue is still dispensed by a pharmacist. Through every edge that records
evidence: a pregnancy test, a lab result, an attestation, a transfer-in, a FHIR Observation."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from pharmsafe.models import AuditEvent, Decision
from pharmsafe.runtime import runtime_of
from tests.support import World

SYSTEM = "system:reevaluation"


@pytest.fixture
def world(app, client):
    return World(app, client)


def negative_test(world, day: int) -> dict:
    return {"specimen_collected_on": world.day(day), "result": "negative", "specimen": "serum",
            "setting": "medical", "clia_number": "05D1234567"}


def blocked_by_a_stale_test(world):
    """A prescription blocked because its confirmatory test was collected 8 days ago (window: 7)."""
    pharmacy, rph = world.pharmacist_api()
    _, doc = world.prescriber_api()
    patient = world.patient(doc)
    world.ready_evidence(doc, patient, test_day=-8)
    rx = world.prescription(doc, patient, pharmacy)
    decision = rph.ok("POST", f"/prescriptions/{rx['id']}/evaluations")
    assert decision["outcome"] == "blocked"
    return rph, doc, patient, rx, pharmacy


def decisions(app, rx_id: int) -> list[Decision]:
    with runtime_of(app).session_factory() as s:
        return s.scalars(select(Decision).where(Decision.prescription_id == rx_id).order_by(Decision.id)).all()


def events(app, actor: str) -> list[AuditEvent]:
    with runtime_of(app).session_factory() as s:
        return s.scalars(select(AuditEvent).where(AuditEvent.actor == actor).order_by(AuditEvent.id)).all()


def test_a_new_test_authorizes_the_blocked_prescription_as_the_system_naming_the_test(app, world):
    rph, doc, patient, rx, _ = blocked_by_a_stale_test(world)
    test = doc.ok("POST", f"/patients/{patient['id']}/pregnancy-tests", negative_test(world, 0))

    shown = rph.ok("GET", f"/prescriptions/{rx['id']}")
    assert shown["status"] == "authorized" and shown["authorization"]["status"] == "active"
    latest = decisions(app, rx["id"])[-1]
    assert (latest.outcome, latest.evaluated_by, latest.triggered_by) == \
        ("authorized", SYSTEM, f"pregnancy_test:{test['id']}")
    trail = events(app, SYSTEM)
    assert [e.action for e in trail] == ["decision.recorded", "authorization.issued"]
    payload = json.loads(trail[0].payload)
    assert payload["triggered_by"] == f"pregnancy_test:{test['id']}"
    assert payload["source"] == "api"  # the unit of work the evidence came in by
    # The JSON API says who evaluated and why.
    listed = next(d for d in shown["decisions"] if d["id"] == latest.id)
    assert listed["evaluated_by"] == SYSTEM and listed["triggered_by"] == f"pregnancy_test:{test['id']}"
    # A pharmacist still dispenses it.
    rph.ok("POST", f"/authorizations/{shown['authorization']['id']}/dispense",
           {"quantity": 60, "rma_number": "RMA-RE-1", "rma_do_not_dispense_after": world.day(3)})
    assert [e.action for e in events(app, SYSTEM)] == ["decision.recorded", "authorization.issued"]


def test_evidence_that_is_not_enough_records_a_blocked_decision_and_the_status_stays(app, world):
    _, doc, patient, rx, _ = blocked_by_a_stale_test(world)
    before = len(decisions(app, rx["id"]))
    lab = doc.ok("POST", f"/patients/{patient['id']}/lab-results",
                 {"test": "ALT", "value": "30", "unit": "U/L", "collected_on": world.day(0)})
    after = decisions(app, rx["id"])
    assert len(after) == before + 1
    assert (after[-1].outcome, after[-1].evaluated_by, after[-1].triggered_by) == \
        ("blocked", SYSTEM, f"lab_result:{lab['id']}")
    assert doc.ok("GET", f"/prescriptions/{rx['id']}")["status"] == "blocked"


def test_an_attestation_and_a_transfer_in_trigger_it_too(app, world):
    rph, doc, patient, rx, _ = blocked_by_a_stale_test(world)
    att = doc.ok("POST", f"/patients/{patient['id']}/attestations", {"kind": "counseling", "attested_on": world.day(0)})
    transfer = rph.ok("POST", f"/patients/{patient['id']}/transfers-in", {
        "dispensed_on": world.day(-40), "days_supply": 30, "quantity": 60, "source_ncpdp_id": "7654321",
        "rma_number": "RMA-T-RE-1"})
    assert [d.triggered_by for d in decisions(app, rx["id"])][-2:] == \
        [f"attestation:{att['id']}", f"transfer_in:{transfer['id']}"]


def test_only_blocked_prescriptions_of_that_patient_are_re_evaluated(app, world):
    _, _, patient, blocked, pharmacy = blocked_by_a_stale_test(world)
    _, other_doc, _, other_blocked, _ = blocked_by_a_stale_test(world)
    rph, doc, authorized_patient, authorized, _ = world.authorized()
    _, waiting_doc = world.prescriber_api()
    waiting_patient = world.patient(waiting_doc)
    waiting = world.prescription(waiting_doc, waiting_patient, pharmacy)
    counts = {rx["id"]: len(decisions(app, rx["id"])) for rx in (other_blocked, authorized, waiting)}

    doc.ok("POST", f"/patients/{authorized_patient['id']}/pregnancy-tests", negative_test(world, 0))
    waiting_doc.ok("POST", f"/patients/{waiting_patient['id']}/pregnancy-tests", negative_test(world, 0))

    assert {rx_id: len(decisions(app, rx_id)) for rx_id in counts} == counts
    assert rph.ok("GET", f"/prescriptions/{authorized['id']}")["status"] == "authorized"
    assert other_doc.ok("GET", f"/prescriptions/{other_blocked['id']}")["status"] == "blocked"
    assert waiting_doc.ok("GET", f"/prescriptions/{waiting['id']}")["status"] == "submitted"
    assert events(app, SYSTEM) == []
    assert blocked["id"] not in counts and patient["id"] != authorized_patient["id"]


def test_a_positive_test_keeps_it_blocked_with_the_lock_as_the_reason(app, world):
    _, doc, patient, rx, _ = blocked_by_a_stale_test(world)
    doc.ok("POST", f"/patients/{patient['id']}/pregnancy-tests", dict(negative_test(world, 0), result="positive"))
    latest = decisions(app, rx["id"])[-1]
    assert latest.outcome == "blocked" and latest.evaluated_by == SYSTEM
    test = next(g for g in latest.gates if g["gate"] == "pregnancy_test")
    assert test["status"] == "fail" and "PREGNANCY_TEST_POSITIVE" in [f["code"] for f in test.get("findings") or
                                                                      [test]], test


def test_refused_evidence_re_evaluates_nothing(app, world):
    _, doc, patient, rx, _ = blocked_by_a_stale_test(world)
    before = len(decisions(app, rx["id"]))
    resp = doc.post(f"/patients/{patient['id']}/pregnancy-tests", json=dict(negative_test(world, 1)))  # tomorrow
    assert resp.status_code == 422
    assert len(decisions(app, rx["id"])) == before and events(app, SYSTEM) == []
