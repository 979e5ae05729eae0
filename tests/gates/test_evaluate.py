"""evaluate(): every gate runs, the outcome, dispense_by and its source (DESIGN.md §2, §5)."""
import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from pharmsafe.gates import GATE_ORDER, POLICIES, Status, evaluate

from .builders import (
    BASE,
    EU,
    IPLEDGE_2021,
    IPLEDGE_2026,
    NOW,
    PARIS,
    TODAY,
    at,
    att,
    d,
    eu_facts,
    lab,
    make_facts,
    neg,
    normal_labs,
    plus,
    pos,
    rma,
)

PASS, WARN, FAIL, NA = Status.PASS, Status.WARN, Status.FAIL, Status.NOT_APPLICABLE


def test_the_design_example():
    decision = evaluate(BASE, policy=IPLEDGE_2026, now=datetime(2026, 12, 10, 17, 0, tzinfo=UTC))
    assert decision.outcome == "authorized" and decision.authorized
    assert decision.evaluated_at == datetime(2026, 12, 10, 17, 0, tzinfo=UTC)
    assert (decision.policy_name, decision.policy_version) == ("ipledge-2026", "2026-08-08")
    assert decision.dispense_by.isoformat() == "2026-12-12T04:59:59+00:00"
    assert decision.dispense_by_source == {"gate": "pregnancy_test", "evidence": "pregnancy_test:17",
                                           "last_day": "2026-12-11"}
    assert tuple(g.gate for g in decision.gates) == GATE_ORDER
    assert decision.gate("pregnancy_test").evidence["pregnancy_test"] == [17, 12]
    assert decision.gate("rems_authorization").status is NA


def test_cited_evidence_covers_every_record_relied_on():
    refs = evaluate(BASE, policy=IPLEDGE_2026, now=NOW).cited_evidence()
    assert refs == {"pharmacy:1", "prescriber:3", "patient:9", "pregnancy_test:17", "pregnancy_test:12",
                    "lab_result:31", "lab_result:32", "lab_result:33", "lab_result:34", "attestation:51",
                    "attestation:52", "attestation:53", "prescription:5"}


def test_gate_results_are_json_ready():
    for policy, facts, now in ((IPLEDGE_2026, BASE, NOW), (EU, eu_facts(), at(TODAY, zone=PARIS))):
        for gate in evaluate(facts, policy=policy, now=now).gates:
            json.dumps(gate.to_dict())


EXPECTED_BASELINE = {
    "ipledge-2026": ("authorized", {"rems_authorization": NA}),
    "ipledge-2021": ("authorized", {"rems_authorization": NA}),
    "ipledge-2023": ("authorized", {"rems_authorization": NA}),
    "eu-ppp-2018": ("authorized", {"pharmacy": NA, "rems_authorization": NA}),
}


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_gate_of_every_policy_on_its_baseline(name):
    policy = POLICIES[name]
    facts, now = (eu_facts(), at(TODAY, zone=PARIS)) if policy is EU else (BASE, NOW)
    decision = evaluate(facts, policy=policy, now=now)
    outcome, not_applicable = EXPECTED_BASELINE[name]
    assert decision.outcome == outcome
    for gate in decision.gates:
        assert gate.status is not_applicable.get(gate.gate, PASS), gate


def test_no_short_circuit_every_failure_is_reported():
    facts = make_facts(pharmacy={"activated_until": d("2026-11-01")}, pregnancy_tests=(),
                       lab_results=normal_labs("2026-10-01"), prescription={"days_supply": 31})
    decision = evaluate(facts, policy=IPLEDGE_2026, now=NOW)
    assert decision.outcome == "blocked"
    assert (decision.dispense_by, decision.dispense_by_source) == (None, None)
    failed = {g.gate: g.code for g in decision.gates if g.status is FAIL}
    assert failed == {"pharmacy": "PHARMACY_ACTIVATION_EXPIRED", "pregnancy_test": "PREGNANCY_TEST_MISSING",
                      "labs": "LAB_STALE", "prescription": "DAYS_SUPPLY_EXCEEDED"}
    for gate in decision.gates:
        if gate.status is FAIL:
            assert gate.unblock


def test_warnings_do_not_block():
    results = normal_labs()[:2] + (lab(33, "TRIGLYCERIDES", "650", "mg/dL"), normal_labs()[3])
    decision = evaluate(make_facts(lab_results=results), policy=IPLEDGE_2026, now=NOW)
    assert decision.outcome == "authorized"
    assert [g.gate for g in decision.warnings()] == ["labs"]


@pytest.mark.parametrize(("facts", "policy", "now", "gate", "evidence", "last_day", "instant"), [
    # the earliest of everything wins
    # tie between the pregnancy window and the labs on 2026-12-11: pregnancy_test comes first
    (make_facts(lab_results=normal_labs("2026-11-12")), IPLEDGE_2026, NOW,
     "pregnancy_test", "pregnancy_test:17", "2026-12-11", "2026-12-12T04:59:59+00:00"),
    (make_facts(lab_results=normal_labs("2026-11-11")), IPLEDGE_2026, NOW,
     "labs", "lab_result:31", "2026-12-10", "2026-12-11T04:59:59+00:00"),
    # tie with an attestation on 2026-12-11: pregnancy_test comes first in GATE_ORDER
    (make_facts(attestations=(att(51, "contraception", "2026-11-12", ("iud", "male_condom")),
                              att(52, "comprehension", "2026-11-12"), att(53, "counseling", "2026-12-01"))),
     IPLEDGE_2026, NOW, "pregnancy_test", "pregnancy_test:17", "2026-12-11", "2026-12-12T04:59:59+00:00"),
    # tie between comprehension and counseling: comprehension first
    (make_facts(pregnancy_tests=(neg(12, "2026-11-10"), neg(17, "2026-12-07")),
                attestations=(att(51, "contraception", "2026-12-05", ("iud", "male_condom")),
                              att(52, "comprehension", "2026-11-12"), att(53, "counseling", "2026-11-12"))),
     IPLEDGE_2026, NOW, "comprehension", "attestation:52", "2026-12-11", None),
    # tie between the pharmacy's activation and the prescriber's license: pharmacy first
    (make_facts(pharmacy={"activated_until": TODAY}, prescriber={"license_expires_on": TODAY}),
     IPLEDGE_2026, NOW, "pharmacy", "pharmacy:1", "2026-12-10", "2026-12-11T04:59:59+00:00"),
    # a patient who cannot get pregnant: the prescription window (30 days from written_on)
    (make_facts(patient={"can_get_pregnant": False}, prescription={"written_on": d("2026-11-21")},
                lab_results=normal_labs("2026-12-01"), attestations=(att(53, "counseling", "2026-10-01"),)),
     IPLEDGE_2026, NOW, "prescription", "prescription:5", "2026-12-20", "2026-12-21T04:59:59+00:00"),
    # EU: the prescription window in the pharmacy's zone
    (eu_facts(), EU, at(TODAY, zone=PARIS), "prescription", "prescription:5", "2026-12-14",
     "2026-12-14T22:59:59+00:00"),
    # EU tie between labs and the prescription window: labs first
    (eu_facts(lab_results=normal_labs("2026-11-15")), EU, at(TODAY, zone=PARIS), "labs", "lab_result:31",
     "2026-12-14", "2026-12-14T22:59:59+00:00"),
    # at dispense the RMA's deadline can be the earliest
    (make_facts(stage="dispense", dispense_quantity=30, rma=rma("RMA-9", do_not_dispense_after=TODAY)),
     IPLEDGE_2026, NOW, "rems_authorization", "rma:RMA-9", "2026-12-10", "2026-12-11T04:59:59+00:00"),
])
def test_dispense_by_and_its_source(facts, policy, now, gate, evidence, last_day, instant):
    decision = evaluate(facts, policy=policy, now=now)
    assert decision.outcome == "authorized", [g for g in decision.gates if g.status is FAIL]
    assert decision.dispense_by_source == {"gate": gate, "evidence": evidence, "last_day": last_day}
    if instant:
        assert decision.dispense_by.isoformat() == instant


def test_dispense_by_is_the_minimum_over_all_gates():
    decision = evaluate(BASE, policy=IPLEDGE_2026, now=NOW)
    instants = [g.current_until.instant for g in decision.gates if g.current_until]
    assert decision.dispense_by == min(instants)
    assert len(instants) == 8  # every gate but patient and the RMA (the prescription's currency counts)


def test_a_gate_that_raises_fails_closed_and_the_others_still_run():
    broken = replace(neg(17, "2026-12-05"), specimen_collected_on="2026-12-05")
    decision = evaluate(make_facts(pregnancy_tests=(neg(12, "2026-11-10"), broken)), policy=IPLEDGE_2026, now=NOW)
    gate = decision.gate("pregnancy_test")
    assert (gate.status, gate.code) == (FAIL, "GATE_ERROR")
    assert "pregnancy test" in gate.unblock
    assert decision.outcome == "blocked"
    assert all(g.status is not FAIL for g in decision.gates if g.gate != "pregnancy_test")


def test_an_unusable_pharmacy_zone_blocks_with_a_reason():
    facts = eu_facts(pharmacy={"time_zone": "Mars/Olympus"})
    decision = evaluate(facts, policy=EU, now=NOW)
    assert decision.outcome == "blocked"
    assert {g.code for g in decision.gates} == {"TIME_ZONE_UNKNOWN"}
    assert "IANA" in decision.gates[0].unblock


def test_eu_reads_today_in_the_pharmacy_zone():
    late_evening = datetime(2026, 12, 10, 23, 30, tzinfo=UTC)  # 00:30 on 12-11 in Paris
    facts = eu_facts(prescription={"written_on": d("2026-12-04")}, pregnancy_tests=(neg(17, "2026-12-03"),))
    in_paris = evaluate(facts, policy=EU, now=late_evening)
    assert in_paris.gate("prescription").code == "PRESCRIPTION_WINDOW_EXPIRED"
    in_new_york = evaluate(replace(facts, pharmacy=replace(facts.pharmacy, time_zone="America/New_York")),
                           policy=EU, now=late_evening)
    assert in_new_york.outcome == "authorized"


def test_ipledge_ignores_the_pharmacy_zone():
    facts = make_facts(pharmacy={"time_zone": "Asia/Tokyo"})
    decision = evaluate(facts, policy=IPLEDGE_2026, now=at("2026-12-11", "23:59:59"))
    assert decision.outcome == "authorized"
    assert decision.dispense_by.isoformat() == "2026-12-12T04:59:59+00:00"


@pytest.mark.parametrize(("changes", "outcome"), [
    ({"rma": None}, "blocked"),
    ({"rma": rma("RMA-1")}, "blocked"),  # no do-not-dispense-after date
    ({"rma": rma("RMA-1", do_not_dispense_after=TODAY)}, "authorized"),
    ({"rma": rma("RMA-1", already_used=True)}, "blocked"),
    ({"rma": rma("RMA-1"), "dispense_quantity": 29}, "blocked"),
])
def test_dispense_stage(changes, outcome):
    facts = make_facts(**({"stage": "dispense", "dispense_quantity": 30} | changes))
    assert evaluate(facts, policy=IPLEDGE_2026, now=NOW).outcome == outcome


def test_unknown_stage_is_a_programming_error():
    with pytest.raises(ValueError, match="stage"):
        evaluate(make_facts(stage="review"), policy=IPLEDGE_2026, now=NOW)


def test_a_positive_test_blocks_the_whole_decision():
    facts = make_facts(pregnancy_tests=BASE.pregnancy_tests + (pos(20, "2026-12-09"),))
    decision = evaluate(facts, policy=IPLEDGE_2026, now=NOW)
    assert decision.outcome == "blocked"
    assert decision.gate("pregnancy_test").code == "PREGNANCY_TEST_POSITIVE"


@pytest.mark.parametrize(("policy", "can_get_pregnant", "applies"), [
    (IPLEDGE_2026, False, {"pharmacy", "prescriber", "patient", "counseling", "labs", "prescription"}),
    (IPLEDGE_2021, False, {"pharmacy", "prescriber", "patient", "counseling", "labs", "prescription"}),
    (EU, False, {"prescriber", "patient", "counseling", "labs", "prescription"}),
    (EU, True, {"prescriber", "patient", "pregnancy_test", "contraception", "comprehension", "counseling", "labs",
                "prescription"}),
])
def test_which_gates_apply(policy, can_get_pregnant, applies):
    builder = eu_facts if policy is EU else make_facts
    facts = builder(patient={"can_get_pregnant": can_get_pregnant}, attestations=(att(53, "counseling", "2026-12-01"),)
                    if not can_get_pregnant else builder().attestations)
    now = at(TODAY, zone=PARIS) if policy is EU else NOW
    decision = evaluate(facts, policy=policy, now=now)
    assert {g.gate for g in decision.gates if g.status is not NA} == applies
    assert decision.outcome == "authorized"


def test_evaluate_never_mutates_or_needs_a_clock():
    first = evaluate(BASE, policy=IPLEDGE_2026, now=NOW)
    second = evaluate(BASE, policy=IPLEDGE_2026, now=NOW)
    assert first == second
    later = evaluate(BASE, policy=IPLEDGE_2026, now=at(plus(TODAY, 2)))
    assert later.gate("pregnancy_test").code == "PREGNANCY_TEST_OUTSIDE_WINDOW"

