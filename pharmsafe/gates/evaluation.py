"""evaluate: every gate, in the order of DESIGN.md §5, with no short-circuit (STYLE.md habit 4).

The outcome is authorized iff no gate fails. dispense_by is the earliest "current until" instant of
any gate, and dispense_by_source names it; a tie goes to the gate that comes first in GATE_ORDER.
A gate that raises on malformed data yields a GATE_ERROR failure instead of taking the decision down.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pharmsafe.gates.attestations import comprehension_gate, contraception_gate, counseling_gate
from pharmsafe.gates.dates import policy_zone, require_aware
from pharmsafe.gates.facts import Facts
from pharmsafe.gates.labs import labs_gate
from pharmsafe.gates.policy import Policy
from pharmsafe.gates.pregnancy import pregnancy_test_gate
from pharmsafe.gates.prescription import prescription_gate
from pharmsafe.gates.registry import patient_gate, pharmacy_gate, prescriber_gate
from pharmsafe.gates.results import GATE_ORDER, Decision, GateResult, Status
from pharmsafe.gates.rma import rems_authorization_gate
from pharmsafe.gates.verdict import conclude, fail, gate_error

Gate = Callable[..., GateResult]

GATES: dict[str, Gate] = {
    "pharmacy": pharmacy_gate,
    "prescriber": prescriber_gate,
    "patient": patient_gate,
    "pregnancy_test": pregnancy_test_gate,
    "contraception": contraception_gate,
    "comprehension": comprehension_gate,
    "counseling": counseling_gate,
    "labs": labs_gate,
    "prescription": prescription_gate,
    "rems_authorization": rems_authorization_gate,
}
if tuple(GATES) != GATE_ORDER:
    raise RuntimeError("GATES must follow GATE_ORDER")

STAGES = ("evaluation", "dispense")


def evaluate(facts: Facts, *, policy: Policy, now: datetime) -> Decision:
    """Judge ``facts`` under ``policy`` at the instant ``now`` (timezone-aware; naive raises)."""
    require_aware(now)
    if facts.stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, not {facts.stage!r}")
    try:
        policy_zone(policy, facts.pharmacy.time_zone)
    except ValueError as error:
        results = tuple(_zone_unknown(name, policy, str(error)) for name in GATE_ORDER)
    else:
        results = tuple(_run(name, GATES[name], facts, policy, now) for name in GATE_ORDER)
    authorized = all(r.status is not Status.FAIL for r in results)
    dispense_by, source = _dispense_by(results) if authorized else (None, None)
    return Decision(
        outcome="authorized" if authorized else "blocked",
        gates=results,
        evaluated_at=now,
        policy_name=policy.name,
        policy_version=policy.version,
        dispense_by=dispense_by,
        dispense_by_source=source,
        policy_effective_from=policy.effective_from,
    )


def _run(name: str, gate: Gate, facts: Facts, policy: Policy, now: datetime) -> GateResult:
    try:
        return gate(facts, policy=policy, now=now)
    except Exception as error:  # fail closed: one malformed record must not hide the other gates
        return gate_error(name, error)


def _zone_unknown(name: str, policy: Policy, reason: str) -> GateResult:
    return conclude(name, [fail(
        "TIME_ZONE_UNKNOWN",
        f"Dates cannot be judged: {reason}.",
        f"Set the pharmacy's time zone to an IANA name such as Europe/Paris ({policy.name} uses it).",
    )])


def _dispense_by(results: tuple[GateResult, ...]) -> tuple[datetime | None, dict[str, Any] | None]:
    best: GateResult | None = None
    for result in results:
        until = result.current_until
        if until is not None and (best is None or until.instant < best.current_until.instant):
            best = result
    if best is None:
        return None, None
    until = best.current_until
    return until.instant, {"gate": best.gate, "evidence": until.evidence, "last_day": until.last_day.isoformat()}
