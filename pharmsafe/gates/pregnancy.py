"""The pregnancy_test gate (rulebook §2, "Pregnancy tests, for a patient who can get pregnant").

iPLEDGE: the qualifying test is the most recent negative test, current on today (collected X, day 1
is X, current through X+6), that counts for this dispense:
- first dispense of a course: a medical-setting test (ipledge-2021: with a CLIA number), and a
  screening test, the most recent negative medical-setting test collected at least 19 days before
  that confirmatory test;
- later dispenses: a medical-setting test, or a home test when both the policy and the patient's
  prescriber allow it (ipledge-2021: any test must carry a CLIA number, so never a home test).
The gate is current until the qualifying test's last day: that is the prescription's window.

EU PPP: the qualifying test is a negative medically supervised test collected 0..3 days before
``written_on``; the 7-day window runs from ``written_on`` and belongs to the prescription gate.

A positive test blocks when collected on or after the earliest collection date of the tests this
decision relies on; with no qualifying test, a positive collected on or after the latest negative
is cited. A result that is neither negative nor positive blocks the same way (fail closed), and so
does a positive dated after today. Negative tests dated after today are ignored.

The iPLEDGE rule is in pregnancy_ipledge, the EU rule in pregnancy_eu.
"""
from __future__ import annotations

from datetime import datetime

from pharmsafe.gates.context import make_context
from pharmsafe.gates.course import course_of
from pharmsafe.gates.facts import Facts
from pharmsafe.gates.policy import Policy
from pharmsafe.gates.pregnancy_eu import judge_from_written_on
from pharmsafe.gates.pregnancy_evidence import GATE, Tests
from pharmsafe.gates.pregnancy_ipledge import judge_ipledge
from pharmsafe.gates.results import GateResult
from pharmsafe.gates.verdict import category_unknown, not_applicable


def pregnancy_test_gate(facts: Facts, *, policy: Policy, now: datetime) -> GateResult:
    ctx = make_context(facts, policy, now)
    patient = facts.patient
    if patient.can_get_pregnant is False:
        return not_applicable(GATE, "PREGNANCY_TEST_NOT_REQUIRED",
                              "Not required: the prescriber recorded that the patient cannot get pregnant.",
                              {"patient": patient.id})
    if patient.can_get_pregnant is None:
        return category_unknown(GATE, patient.id)
    tests = Tests.of(facts, ctx.today)
    course = course_of(facts, policy, ctx.today)
    if policy.cgp_window_from == "qualifying_test":
        return judge_ipledge(ctx, tests, course)
    if policy.cgp_window_from == "written_on":
        return judge_from_written_on(ctx, tests)
    raise ValueError(f"policy {policy.name}: unknown cgp_window_from {policy.cgp_window_from!r}")
