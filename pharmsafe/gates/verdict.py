"""Turning findings into one GateResult (DESIGN.md §2).

A gate collects findings; its own status, code and message are those of the first most severe one,
and its ``unblock`` lists what would clear every failure, so the pharmacist sees all of it at once.
A gate with no problem reports its single pass finding.

Evidence dictionaries hold ints only as references to records (``pregnancy_test``, ``lab_result``,
``attestation``, ``prescriber``, ...): ``Decision.cited_evidence`` turns every int into "key:id".
Dates and quantities go in as strings.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any, TypeVar

from pharmsafe.gates.results import CurrentUntil, Finding, GateResult, Status

T = TypeVar("T")


def passed(code: str, message: str) -> Finding:
    return Finding(code=code, status=Status.PASS, message=message)


def warn(code: str, message: str) -> Finding:
    return Finding(code=code, status=Status.WARN, message=message)


def fail(code: str, message: str, unblock: str) -> Finding:
    if not unblock:
        raise ValueError(f"failure {code} needs an unblock sentence")
    return Finding(code=code, status=Status.FAIL, message=message, unblock=unblock)


def conclude(
    gate: str,
    problems: Sequence[Finding],
    ok: Finding | None = None,
    *,
    evidence: dict[str, Any] | None = None,
    current_until: CurrentUntil | None = None,
) -> GateResult:
    findings = tuple(problems) or ((ok,) if ok else ())
    if not findings:
        raise ValueError(f"gate {gate} concluded with no finding")
    top = max(findings, key=lambda f: f.status.severity)
    unblocks = [f.unblock for f in findings if f.status is Status.FAIL and f.unblock]
    return GateResult(
        gate=gate,
        status=top.status,
        code=top.code,
        message=top.message,
        unblock=" ".join(dict.fromkeys(unblocks)) or None,
        evidence=dict(evidence or {}),
        findings=findings,
        current_until=None if top.status is Status.FAIL else current_until,
    )


def not_applicable(gate: str, code: str, message: str, evidence: dict[str, Any] | None = None) -> GateResult:
    finding = Finding(code=code, status=Status.NOT_APPLICABLE, message=message)
    return GateResult(gate=gate, status=Status.NOT_APPLICABLE, code=code, message=message,
                      evidence=dict(evidence or {}), findings=(finding,))


def category_unknown(gate: str, patient_id: int) -> GateResult:
    """Whether the patient can get pregnant is the prescriber's call, never inferred (rulebook §2)."""
    return conclude(gate, [fail(
        "PATIENT_CATEGORY_UNKNOWN",
        "Whether the patient can get pregnant is not recorded.",
        "The prescriber must record whether the patient can get pregnant.",
    )], evidence={"patient": patient_id})


def gate_error(gate: str, error: Exception) -> GateResult:
    """An unexpected error while judging fails closed instead of taking the decision down."""
    return conclude(gate, [fail(
        "GATE_ERROR",
        f"The {gate} check could not read the record ({type(error).__name__}).",
        f"Check the {gate.replace('_', ' ')} data of this prescription for malformed or contradictory "
        "values, correct them, and evaluate again.",
    )])


def latest(items: Iterable[T], key: Callable[[T], Any]) -> T | None:
    return max(items, key=key, default=None)


def one_or_many(ids: Sequence[int]) -> int | list[int]:
    return ids[0] if len(ids) == 1 else list(ids)


def ignored_future(kind: str, dated: Sequence[tuple[int, date]]) -> str:
    """A sentence naming evidence ignored because it is dated after today (rulebook §1)."""
    if not dated:
        return ""
    listed = ", ".join(f"{kind} {ident} dated {day.isoformat()}" for ident, day in dated)
    return f" Ignored as dated after today: {listed}."
