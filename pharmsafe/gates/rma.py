"""The rems_authorization gate (rulebook §2, "RMA").

With require_rma on, the dispense must carry the RMA number the pharmacist obtained on the iPLEDGE
site, unused, and its do-not-dispense-after date, not passed (the earlier deadline wins, so it bounds
dispense_by). Findings in the rulebook's order: number missing, number already used, date missing,
date passed. The number arrives normalised (services normalise it once, at the boundary). At evaluation there is nothing to judge yet: the gate reads not_applicable,
"recorded at dispense".
"""
from __future__ import annotations

from datetime import datetime

from pharmsafe.gates.context import make_context
from pharmsafe.gates.facts import Facts
from pharmsafe.gates.policy import Policy
from pharmsafe.gates.results import Finding, GateResult
from pharmsafe.gates.verdict import conclude, fail, not_applicable, passed

GATE = "rems_authorization"


def rems_authorization_gate(facts: Facts, *, policy: Policy, now: datetime) -> GateResult:
    ctx = make_context(facts, policy, now)
    if not policy.require_rma:
        return not_applicable(GATE, "RMA_NOT_REQUIRED", f"{policy.name} has no REMS authorization number.")
    if facts.stage != "dispense":
        return not_applicable(GATE, "RMA_RECORDED_AT_DISPENSE", "Recorded at dispense.")
    rma = facts.rma
    number = (rma.number or "").strip() if rma else ""
    problems: list[Finding] = []
    evidence: dict = {}
    if not number:
        problems.append(fail(
            "RMA_MISSING",
            "The dispense carries no REMS authorization (RMA) number.",
            "Obtain the RMA number on the iPLEDGE REMS site and enter it with the dispense.",
        ))
    else:
        evidence["rma_number"] = number
        if rma.already_used:
            problems.append(fail(
                "RMA_ALREADY_USED",
                f"RMA {number} was already used by another dispense or transfer-in.",
                "Obtain a new RMA number on the iPLEDGE REMS site for this dispense.",
            ))
    deadline = rma.do_not_dispense_after if rma else None
    current_until = None
    if deadline is None:
        problems.append(fail(
            "RMA_MISSING",
            "The dispense carries no RMA do-not-dispense-after date.",
            "Enter the RMA's do-not-dispense-after date as shown on the iPLEDGE REMS site.",
        ))
    else:
        evidence["do_not_dispense_after"] = deadline.isoformat()
        current_until = ctx.until(deadline, f"rma:{number}")
        if deadline < ctx.today:
            problems.append(fail(
                "RMA_DEADLINE_PASSED",
                f"RMA {number} was valid for dispensing through {deadline.isoformat()}.",
                f"Obtain a new RMA number on the iPLEDGE REMS site (the last one expired after "
                f"{deadline.isoformat()}).",
            ))
    return conclude(GATE, problems,
                    passed("RMA_PRESENT", f"RMA {number} recorded; dispense through {deadline}."),
                    evidence=evidence, current_until=current_until)
