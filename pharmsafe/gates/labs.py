"""The labs gate (rulebook §3).

For each required test the most recent result (by collected_on, then recording time; entered in
error and future-dated results ignored) is the one judged, and it alone decides: an unparsable value
or unknown unit fails even when older results are fine. A result collected X counts through X+29.
Thresholds are policy parameters compared on unrounded Decimals in the canonical unit:
triglycerides > 500 mg/dL warn, > 800 fail; ALT/AST > 2x ULN warn, > 3x fail (ULN = the result's
reference_upper, or the policy's default, 40 U/L, only when none was given); total cholesterol
> 300 mg/dL warn. LDL is recorded, not gated.

A reference_upper that is given but cannot be read as a positive number fails the gate
(LAB_REFERENCE_UNREADABLE, rulebook §7 item 8) for every test judged: it is never replaced by the
default, and an ALT or AST result with one is not judged against any limit.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pharmsafe.gates.context import Context, make_context
from pharmsafe.gates.dates import days_before, instant_key, last_day
from pharmsafe.gates.facts import Facts, LabResultFacts
from pharmsafe.gates.policy import LabLimits, Policy
from pharmsafe.gates.results import Finding, GateResult
from pharmsafe.gates.units import (
    ALT,
    AST,
    CANONICAL_UNITS,
    LAB_LABELS,
    TOTAL_CHOLESTEROL,
    TRIGLYCERIDES,
    format_decimal,
    normalize_lab_test,
    parse_decimal,
    unit_factor,
)
from pharmsafe.gates.verdict import conclude, fail, ignored_future, latest, not_applicable, passed, warn

GATE = "labs"


def _a(label: str) -> str:
    return f"an {label}" if label[0] in "AEIOUaeiou" or label.startswith("LDL") else f"a {label}"


def _order(result: LabResultFacts):
    return (result.collected_on, instant_key(result.recorded_at), result.id)


def labs_gate(facts: Facts, *, policy: Policy, now: datetime) -> GateResult:
    ctx = make_context(facts, policy, now)
    limits = policy.labs
    required = [normalize_lab_test(t) or t for t in limits.required_tests]
    if not required:
        return not_applicable(GATE, "LABS_NOT_REQUIRED", f"{policy.name} requires no lab results.")
    by_test: dict[str, list[LabResultFacts]] = {}
    for result in facts.lab_results:
        if not result.entered_in_error:
            by_test.setdefault(normalize_lab_test(result.test) or "", []).append(result)
    problems: list[Finding] = []
    judged_ids: list[int] = []
    last_days = []
    for test in required:
        results = by_test.get(test, [])
        usable = [r for r in results if r.collected_on <= ctx.today]
        future = [r for r in results if r.collected_on > ctx.today]
        result = latest(usable, _order)
        label = LAB_LABELS.get(test, test)
        if result is None:
            note = ignored_future("lab result", [(r.id, r.collected_on) for r in future])
            problems.append(fail(
                "LAB_MISSING",
                f"No {label} result on record.{note}",
                f"Record {_a(label)} result collected on or after "
                f"{days_before(ctx.today, limits.current_days - 1).isoformat()}.",
            ))
            continue
        judged_ids.append(result.id)
        through = last_day(result.collected_on, limits.current_days)
        last_days.append((through, result.id))
        problems.extend(_judge(ctx, test, label, result, through))
    evidence: dict = {"lab_result": judged_ids} if judged_ids else {}
    earliest = min(last_days, default=None)
    if earliest:
        evidence["last_day"] = earliest[0].isoformat()
    labels = ", ".join(LAB_LABELS.get(t, t) for t in required)
    ok = passed("LABS_CURRENT", f"{labels[0].upper()}{labels[1:]} within limits"
                + (f", current through {earliest[0].isoformat()}." if earliest else "."))
    current_until = ctx.until(earliest[0], f"lab_result:{earliest[1]}") if earliest else None
    return conclude(GATE, problems, ok, evidence=evidence, current_until=current_until)


def _judge(ctx: Context, test: str, label: str, result: LabResultFacts, through) -> list[Finding]:
    limits = ctx.policy.labs
    collected = result.collected_on.isoformat()
    findings: list[Finding] = []
    new_result = (f"Record a new {label} result collected on or after "
                  f"{days_before(ctx.today, limits.current_days - 1).isoformat()}.")
    if through < ctx.today:
        findings.append(fail(
            "LAB_STALE",
            f"The latest {label} result (collected {collected}) counted through {through.isoformat()}.",
            new_result,
        ))
    amount = parse_decimal(result.value)
    factor = unit_factor(test, result.unit)
    if amount is None:
        findings.append(fail(
            "LAB_VALUE_UNPARSABLE",
            f"The {label} value {result.value!r} (collected {collected}) is not a number PharmSafe can read.",
            f"Correct the {label} result of {collected} or record a new one.",
        ))
    if factor is None:
        findings.append(fail(
            "LAB_UNIT_UNKNOWN",
            f"The {label} unit {result.unit!r} (collected {collected}) is not accepted for this test.",
            f"Record the {label} result in {CANONICAL_UNITS.get(test, 'a known unit')} or another accepted unit.",
        ))
    uln = limits.transaminase_default_uln
    if result.reference_upper is not None:
        uln = parse_decimal(result.reference_upper)
        if uln is None or uln <= 0:
            findings.append(fail(
                "LAB_REFERENCE_UNREADABLE",
                f"The {label} upper reference limit {result.reference_upper!r} (collected {collected}) is not "
                f"a positive number; the result cannot be judged against it.",
                f"Record the {label} result of {collected} again with the laboratory's upper reference limit "
                f"as a positive number, or record a new {label} result.",
            ))
            if test in (ALT, AST):
                return findings
    if amount is not None and factor is not None:
        findings.extend(_thresholds(test, label, amount, factor, uln, result, limits))
    return findings


def _thresholds(test: str, label: str, amount: Decimal, factor: Decimal, uln: Decimal, result: LabResultFacts,
                limits: LabLimits) -> list[Finding]:
    value = amount * factor
    shown = f"{format_decimal(value, 1)} {CANONICAL_UNITS[test]}"
    if factor != 1:
        shown = f"{format_decimal(amount)} {result.unit.strip()} ({shown})"
    collected = result.collected_on.isoformat()
    if test == TRIGLYCERIDES:
        if value > limits.triglycerides_fail_mg_dl:
            return [fail(
                "TRIGLYCERIDES_CRITICAL",
                f"Triglycerides {shown} (collected {collected}) exceed {limits.triglycerides_fail_mg_dl} mg/dL.",
                f"The prescriber must review therapy; record a triglycerides result at or below "
                f"{limits.triglycerides_fail_mg_dl} mg/dL.",
            )]
        if value > limits.triglycerides_warn_mg_dl:
            return [warn("TRIGLYCERIDES_ELEVATED",
                         f"Triglycerides {shown} (collected {collected}) exceed "
                         f"{limits.triglycerides_warn_mg_dl} mg/dL.")]
    elif test in (ALT, AST):
        fail_at = limits.transaminase_fail_x_uln * uln
        warn_at = limits.transaminase_warn_x_uln * uln
        multiple = f"the upper limit of normal ({format_decimal(uln)} U/L)"
        if value > fail_at:
            return [fail(
                f"{test}_CRITICAL",
                f"{label} {shown} (collected {collected}) is above "
                f"{format_decimal(limits.transaminase_fail_x_uln)}x {multiple}.",
                f"The prescriber must review therapy; record {_a(label)} result at or below "
                f"{format_decimal(fail_at)} U/L.",
            )]
        if value > warn_at:
            return [warn(f"{test}_ELEVATED",
                         f"{label} {shown} (collected {collected}) is above "
                         f"{format_decimal(limits.transaminase_warn_x_uln)}x {multiple}.")]
    elif test == TOTAL_CHOLESTEROL:
        if value > limits.total_cholesterol_warn_mg_dl:
            return [warn("TOTAL_CHOLESTEROL_ELEVATED",
                         f"Total cholesterol {shown} (collected {collected}) exceeds "
                         f"{limits.total_cholesterol_warn_mg_dl} mg/dL.")]
    return []
