"""The contraception, comprehension and counseling gates (rulebook §2, policy table).

For each kind the latest attestation is judged (by attested_on, then recording time); attestations
entered in error or dated after today are ignored. "Current for N days" follows rulebook §1: dated
2026-11-05, current for 30 days, it counts through 2026-12-04.

Contraception methods (rulebook §2): primary (highly effective) iud, implant, tubal_sterilization,
partner_vasectomy, hormonal_pill, hormonal_patch, hormonal_ring, hormonal_injection; secondary
male_condom, diaphragm, cervical_cap, vaginal_sponge; and abstinence, which counts only on its own.
iPLEDGE wants two different methods of which at least one primary, or abstinence alone; EU PPP one
user-independent method (iud, implant, tubal_sterilization, partner_vasectomy), or a user-dependent
hormonal method together with a barrier method, and never abstinence. An unknown code fails closed.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pharmsafe.gates.context import Context, make_context
from pharmsafe.gates.dates import days_before, instant_key, last_day
from pharmsafe.gates.facts import AttestationFacts, Facts
from pharmsafe.gates.policy import Policy
from pharmsafe.gates.results import Finding, GateResult
from pharmsafe.gates.verdict import category_unknown, conclude, fail, ignored_future, latest, not_applicable, passed

PRIMARY_METHODS = frozenset({
    "iud", "implant", "tubal_sterilization", "partner_vasectomy",
    "hormonal_pill", "hormonal_patch", "hormonal_ring", "hormonal_injection",
})
SECONDARY_METHODS = frozenset({"male_condom", "diaphragm", "cervical_cap", "vaginal_sponge"})
# EU PPP splits the primary methods: user-independent ones are enough alone; user-dependent (hormonal)
# ones only together with a barrier method (the secondary list).
USER_INDEPENDENT_METHODS = frozenset({"iud", "implant", "tubal_sterilization", "partner_vasectomy"})
HORMONAL_METHODS = PRIMARY_METHODS - USER_INDEPENDENT_METHODS
BARRIER_METHODS = SECONDARY_METHODS
ABSTINENCE = "abstinence"
CONTRACEPTION_METHODS = PRIMARY_METHODS | SECONDARY_METHODS | {ABSTINENCE}

CONTRACEPTION_RULES = ("two_methods_one_primary", "independent_or_hormonal_with_barrier")


def _order(attestation: AttestationFacts):
    return (attestation.attested_on, instant_key(attestation.recorded_at), attestation.id)


def _of_kind(ctx: Context, kind: str) -> tuple[list[AttestationFacts], list[AttestationFacts]]:
    """(usable, dated after today) attestations of ``kind``, none entered in error."""
    mine = [a for a in ctx.facts.attestations
            if not a.entered_in_error and (a.kind or "").strip().lower() == kind]
    return ([a for a in mine if a.attested_on <= ctx.today], [a for a in mine if a.attested_on > ctx.today])


def _future_note(future: Sequence[AttestationFacts]) -> str:
    return ignored_future("attestation", [(a.id, a.attested_on) for a in future])


def _judge_current(ctx: Context, gate: str, kind: str, days: int, label: str,
                   extra_checks=None) -> GateResult:
    """The latest attestation of ``kind`` must be dated within the last ``days`` days."""
    usable, future = _of_kind(ctx, kind)
    prefix = kind.upper()
    record_from = days_before(ctx.today, days - 1)
    judged = latest(usable, _order)
    if judged is None:
        return conclude(gate, [fail(
            f"{prefix}_MISSING",
            f"No {label} attestation on record.{_future_note(future)}",
            f"Record a {label} attestation dated {record_from.isoformat()} or later.",
        )])
    through = last_day(judged.attested_on, days)
    problems: list[Finding] = []
    if through < ctx.today:
        problems.append(fail(
            f"{prefix}_STALE",
            f"The latest {label} attestation (dated {judged.attested_on.isoformat()}) counted through "
            f"{through.isoformat()}.{_future_note(future)}",
            f"Record a new {label} attestation dated {record_from.isoformat()} or later.",
        ))
    if extra_checks:
        problems.extend(extra_checks(judged))
    evidence = {"attestation": judged.id, "attested_on": judged.attested_on.isoformat(),
                "last_day": through.isoformat()}
    ok = passed(f"{prefix}_CURRENT", f"{label.capitalize()} attested {judged.attested_on.isoformat()}, "
                                     f"current through {through.isoformat()}.")
    return conclude(gate, problems, ok, evidence=evidence, current_until=ctx.until(through, f"attestation:{judged.id}"))


def method_problem(methods: Sequence[str], rule: str) -> tuple[str, str] | None:
    """(code, reason) when the methods do not satisfy ``rule``; None when they do."""
    if rule not in CONTRACEPTION_RULES:
        raise ValueError(f"unknown contraception rule {rule!r}")
    codes = [str(m).strip().lower() for m in methods]
    unknown = sorted({c for c in codes if c not in CONTRACEPTION_METHODS})
    if unknown:
        return "CONTRACEPTION_METHOD_UNKNOWN", f"unknown method code(s) {', '.join(unknown)}"
    distinct = set(codes)
    shown = ", ".join(sorted(distinct)) or "none"
    if rule == "independent_or_hormonal_with_barrier":
        # Abstinence does not count under this rule, alone or with others.
        if distinct & USER_INDEPENDENT_METHODS or (distinct & HORMONAL_METHODS and distinct & BARRIER_METHODS):
            return None
        return ("CONTRACEPTION_METHODS_INSUFFICIENT",
                f"the methods ({shown}) are neither a user-independent method nor a hormonal method "
                "together with a barrier method")
    if distinct == {ABSTINENCE}:
        return None
    others = distinct - {ABSTINENCE}
    if len(others) >= 2 and others & PRIMARY_METHODS:
        return None
    return ("CONTRACEPTION_METHODS_INSUFFICIENT",
            f"the methods ({shown}) are not two different methods including a primary one, nor abstinence alone")


def _rule_sentence(rule: str) -> str:
    if rule == "independent_or_hormonal_with_barrier":
        return ("one user-independent method (iud, implant, tubal_sterilization, partner_vasectomy), or a "
                "hormonal method together with a barrier method")
    return "two different methods including a primary one, or abstinence alone"


def contraception_gate(facts: Facts, *, policy: Policy, now: datetime) -> GateResult:
    gate = "contraception"
    ctx = make_context(facts, policy, now)
    patient = facts.patient
    if patient.can_get_pregnant is None:
        return category_unknown(gate, patient.id)
    if not patient.can_get_pregnant:
        return not_applicable(gate, "CONTRACEPTION_NOT_REQUIRED",
                              "Not required: the prescriber recorded that the patient cannot get pregnant.",
                              {"patient": patient.id})
    rule = policy.contraception_rule

    def methods_ok(attestation: AttestationFacts) -> list[Finding]:
        problem = method_problem(attestation.methods, rule)
        if problem is None:
            return []
        code, reason = problem
        return [fail(code, f"The contraception attestation of {attestation.attested_on.isoformat()}: {reason}.",
                     f"Record a new contraception attestation naming {_rule_sentence(rule)}.")]

    return _judge_current(ctx, gate, "contraception", policy.contraception_current_days, "contraception",
                          methods_ok)


def comprehension_gate(facts: Facts, *, policy: Policy, now: datetime) -> GateResult:
    gate = "comprehension"
    ctx = make_context(facts, policy, now)
    patient = facts.patient
    if not policy.comprehension_applies_to_ncgp:
        if patient.can_get_pregnant is None:
            return category_unknown(gate, patient.id)
        if not patient.can_get_pregnant:
            return not_applicable(gate, "COMPREHENSION_NOT_REQUIRED",
                                  "Not required for a patient who cannot get pregnant.", {"patient": patient.id})
    return _judge_current(ctx, gate, "comprehension", policy.comprehension_current_days, "comprehension")


def counseling_gate(facts: Facts, *, policy: Policy, now: datetime) -> GateResult:
    """Can get pregnant: current for counseling_current_days. Cannot (ipledge-2026): one attestation
    dated on or after enrolled_on minus ncgp_counseling_once_within_days, with no expiry."""
    gate = "counseling"
    ctx = make_context(facts, policy, now)
    patient = facts.patient
    same_for_all = policy.counseling_applies_to_ncgp and policy.ncgp_counseling_once_within_days is None
    if patient.can_get_pregnant is None and not same_for_all:
        return category_unknown(gate, patient.id)
    if patient.can_get_pregnant is False:
        if not policy.counseling_applies_to_ncgp:
            return not_applicable(gate, "COUNSELING_NOT_REQUIRED",
                                  "Not required for a patient who cannot get pregnant.", {"patient": patient.id})
        if policy.ncgp_counseling_once_within_days is not None:
            return _counseling_once(ctx, gate, policy.ncgp_counseling_once_within_days)
    return _judge_current(ctx, gate, "counseling", policy.counseling_current_days, "counseling")


def _counseling_once(ctx: Context, gate: str, within_days: int) -> GateResult:
    enrolled_on = ctx.facts.patient.enrolled_on
    if enrolled_on is None:
        return conclude(gate, [fail(
            "COUNSELING_UNVERIFIABLE",
            "Counseling cannot be checked: the patient's enrollment date is not recorded.",
            "Record the date the patient was enrolled.",
        )], evidence={"patient": ctx.facts.patient.id})
    usable, future = _of_kind(ctx, "counseling")
    earliest = days_before(enrolled_on, within_days)
    judged = latest((a for a in usable if a.attested_on >= earliest), _order)
    if judged is None:
        return conclude(gate, [fail(
            "COUNSELING_MISSING",
            f"No counseling attestation dated on or after {earliest.isoformat()} "
            f"({within_days} days before enrollment).{_future_note(future)}",
            f"Record a counseling attestation dated {earliest.isoformat()} or later.",
        )])
    return conclude(gate, [], passed(
        "COUNSELING_CURRENT",
        f"Counseling attested {judged.attested_on.isoformat()}; once is enough for a patient who cannot get pregnant.",
    ), evidence={"attestation": judged.id, "attested_on": judged.attested_on.isoformat()})
