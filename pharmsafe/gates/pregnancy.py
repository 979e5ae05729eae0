"""The pregnancy_test gate (rulebook §2, "Pregnancy tests, for a patient who can get pregnant").

A positive test that is not entered in error locks the patient whatever the category (a positive
proves the category wrong): the gate fails with PREGNANCY_TEST_POSITIVE in every decision until the
prescriber's pregnancy_excluded clearance (pregnancy_evidence.Lock). After a clearance only tests
collected on a later day than the positive count, and the first dispense on or after the clearance
is the first of a new course; the decision cites the clearance.

iPLEDGE (pregnancy_ipledge): the qualifying test is the most recent negative test current on today
(collected X, day 1 is X, current through X+6) that counts for this dispense; a first dispense of a
course also needs a screening test at least 19 days before it. EU PPP (pregnancy_eu): a negative
medically supervised test collected 0..3 days before ``written_on``.
"""
from __future__ import annotations

from datetime import datetime

from pharmsafe.gates.context import make_context
from pharmsafe.gates.course import course_of
from pharmsafe.gates.facts import Facts
from pharmsafe.gates.policy import Policy
from pharmsafe.gates.pregnancy_eu import judge_from_written_on
from pharmsafe.gates.pregnancy_evidence import GATE, Lock, Tests
from pharmsafe.gates.pregnancy_ipledge import judge_ipledge
from pharmsafe.gates.results import GateResult
from pharmsafe.gates.verdict import category_unknown, conclude, not_applicable


def pregnancy_test_gate(facts: Facts, *, policy: Policy, now: datetime) -> GateResult:
    ctx = make_context(facts, policy, now)
    patient = facts.patient
    lock = Lock.of(facts, ctx.today)
    if lock.locked:
        problems = lock.findings(ctx.today)
        if patient.can_get_pregnant is None:
            problems = list(category_unknown(GATE, patient.id).findings) + problems
        return conclude(GATE, problems, evidence={"patient": patient.id, **lock.evidence()})
    if patient.can_get_pregnant is False:
        return not_applicable(GATE, "PREGNANCY_TEST_NOT_REQUIRED",
                              "Not required: the prescriber recorded that the patient cannot get pregnant.",
                              {"patient": patient.id})
    if patient.can_get_pregnant is None:
        return category_unknown(GATE, patient.id)
    tests = Tests.of(facts, ctx.today, after=lock.negatives_after)
    cleared_on = lock.clearance.attested_on if lock.clearance else None
    course = course_of(facts, policy, ctx.today, cleared_on=cleared_on)
    if policy.cgp_window_from == "qualifying_test":
        result = judge_ipledge(ctx, tests, course, lock)
    elif policy.cgp_window_from == "written_on":
        result = judge_from_written_on(ctx, tests, lock)
    else:
        raise ValueError(f"policy {policy.name}: unknown cgp_window_from {policy.cgp_window_from!r}")
    return result
