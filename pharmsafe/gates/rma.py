"""The rems_authorization gate (rulebook §2, "RMA").

With require_rma on, the dispense must carry the RMA number the pharmacist obtained on the iPLEDGE
site, unused, and not past its optional do-not-dispense-after date (the earlier deadline wins, so it
bounds dispense_by). At evaluation there is nothing to judge yet: the gate reads not_applicable,
"recorded at dispense".
"""
from __future__ import annotations

from datetime import datetime

from pharmsafe.gates.context import make_context
from pharmsafe.gates.facts import Facts
from pharmsafe.gates.policy import Policy
from pharmsafe.gates.results import GateResult
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
    if not number:
        return conclude(GATE, [fail(
            "RMA_MISSING",
            "The dispense carries no REMS authorization (RMA) number.",
            "Obtain the RMA number on the iPLEDGE REMS site and enter it with the dispense.",
        )])
    evidence: dict = {"rma_number": number}
    if rma.already_used:
        return conclude(GATE, [fail(
            "RMA_ALREADY_USED",
            f"RMA {number} was already used by another dispense.",
            "Obtain a new RMA number on the iPLEDGE REMS site for this dispense.",
        )], evidence=evidence)
    deadline = rma.do_not_dispense_after
    if deadline is None:
        return conclude(GATE, [], passed("RMA_PRESENT", f"RMA {number} recorded."), evidence=evidence)
    evidence["do_not_dispense_after"] = deadline.isoformat()
    problems = []
    if deadline < ctx.today:
        problems.append(fail(
            "RMA_DEADLINE_PASSED",
            f"RMA {number} was valid for dispensing through {deadline.isoformat()}.",
            f"Obtain a new RMA number on the iPLEDGE REMS site (the last one expired after {deadline.isoformat()}).",
        ))
    return conclude(GATE, problems,
                    passed("RMA_PRESENT", f"RMA {number} recorded; dispense through {deadline.isoformat()}."),
                    evidence=evidence, current_until=ctx.until(deadline, f"rma:{number}"))
