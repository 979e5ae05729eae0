"""What the gates answer: values with reasons, never bare booleans or exceptions."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


class Status(enum.StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    NOT_APPLICABLE = "not_applicable"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Status.NOT_APPLICABLE: 0, Status.PASS: 1, Status.WARN: 2, Status.FAIL: 3}

# The order of DESIGN.md §5; it also breaks ties between equal "current until" instants.
GATE_ORDER = (
    "pharmacy",
    "prescriber",
    "patient",
    "pregnancy_test",
    "contraception",
    "comprehension",
    "counseling",
    "labs",
    "prescription",
    "rems_authorization",
)


@dataclass(frozen=True)
class Finding:
    code: str
    status: Status
    message: str
    unblock: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "status": self.status.value, "message": self.message}


@dataclass(frozen=True)
class CurrentUntil:
    """A piece of time-bounded evidence: it counts through ``last_day`` (in the policy's zone),
    i.e. until ``instant`` = 23:59:59 of that day, as UTC."""
    instant: datetime
    evidence: str  # "pregnancy_test:17", "prescriber:3", "prescription:5"
    last_day: date


@dataclass(frozen=True)
class GateResult:
    gate: str
    status: Status
    code: str
    message: str
    unblock: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    # The earliest moment this gate's evidence stops counting (None if it never expires or the
    # gate does not apply).
    current_until: CurrentUntil | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "gate": self.gate,
            "status": self.status.value,
            "code": self.code,
            "message": self.message,
            "unblock": self.unblock,
            "evidence": self.evidence,
        }
        if len(self.findings) > 1:
            out["findings"] = [f.to_dict() for f in self.findings]
        return out


@dataclass(frozen=True)
class Decision:
    outcome: str  # authorized | blocked
    gates: tuple[GateResult, ...]
    evaluated_at: datetime
    policy_name: str
    policy_version: str
    dispense_by: datetime | None
    dispense_by_source: dict[str, Any] | None
    # The version's effective date as configured when it was used (an operator may move it).
    policy_effective_from: date | None = None

    @property
    def authorized(self) -> bool:
        return self.outcome == "authorized"

    def gate(self, name: str) -> GateResult:
        for g in self.gates:
            if g.gate == name:
                return g
        raise KeyError(name)

    def warnings(self) -> tuple[GateResult, ...]:
        return tuple(g for g in self.gates if g.status is Status.WARN)

    def cited_evidence(self) -> set[str]:
        """Every evidence reference ("pregnancy_test:17") any gate relied on."""
        refs: set[str] = set()
        for g in self.gates:
            for key, value in g.evidence.items():
                if isinstance(value, int) and not isinstance(value, bool):
                    refs.add(f"{key}:{value}")
                elif isinstance(value, (list, tuple)):
                    refs.update(f"{key}:{v}" for v in value if isinstance(v, int))
        return refs
