"""Evaluate a prescription: run every gate, record the decision, issue or reverse authorizations."""
from __future__ import annotations

from dataclasses import replace

from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from pharmsafe import gates
from pharmsafe.audit import append_event
from pharmsafe.audit.chain import audit_batch
from pharmsafe.errors import Conflict, NotFound
from pharmsafe.gates.results import Decision as GateDecision
from pharmsafe.models import Authorization, Decision, Prescription
from pharmsafe.models.statuses import AuthorizationStatus, PrescriptionStatus
from pharmsafe.services.authorizations import reverse_active
from pharmsafe.services.context import Ctx
from pharmsafe.services.facts import load_facts

# The actor of an evaluation that new evidence ran (DESIGN.md §2).
REEVALUATION_ACTOR = "system:reevaluation"
# session.info: the decisions re-evaluation recorded in this unit of work, for the edge to report.
REEVALUATED_KEY = "pharmsafe.reevaluated"

# Built once: run on every evaluation. A superseded authorization's decision is read for its
# policy alone (the audit event names it), not its gates.
_PRESCRIPTION_LOCKED = (select(Prescription).where(Prescription.id == bindparam("prescription_id"))
                        .with_for_update().execution_options(populate_existing=True))
_ACTIVE_FOR_PRESCRIPTION = (select(Authorization)
                            .where(Authorization.prescription_id == bindparam("prescription_id"),
                                   Authorization.status == AuthorizationStatus.ACTIVE)
                            .options(joinedload(Authorization.decision).load_only(Decision.policy_name))
                            .with_for_update())


def get_prescription(ctx: Ctx, prescription_id: int, *, for_update: bool = False) -> Prescription:
    # A locked read refreshes a row already loaded in this session: what was read before the lock
    # may have changed since.
    if for_update:
        rx = ctx.session.scalar(_PRESCRIPTION_LOCKED, {"prescription_id": prescription_id})
    else:
        rx = ctx.session.get(Prescription, prescription_id)
    if rx is None:
        raise NotFound(f"Prescription {prescription_id} does not exist.")
    return rx


def record_decision(ctx: Ctx, rx: Prescription, result: GateDecision, *, stage: str,
                    triggered_by: str | None = None) -> Decision:
    gate_rows = [g.to_dict() for g in result.gates]
    row = Decision(
        prescription_id=rx.id, stage=stage, outcome=result.outcome, evaluated_at=result.evaluated_at,
        evaluated_by=ctx.actor, policy_name=result.policy_name, policy_version=result.policy_version,
        policy_effective_from=result.policy_effective_from,
        dispense_by=result.dispense_by, dispense_by_source=result.dispense_by_source,
        gates=gate_rows, cited=sorted(result.cited_evidence()), triggered_by=triggered_by,
        failing_codes=",".join(g["code"] for g in gate_rows if g["status"] == "fail") or None,
    )
    ctx.session.add(row)
    ctx.session.flush()
    append_event(ctx.session, action="decision.recorded", actor=ctx.actor, subject=f"decision:{row.id}",
                 now=ctx.now, policy=result.policy_name,
                 payload={"prescription_id": rx.id, "stage": stage, "outcome": result.outcome,
                          "policy_version": result.policy_version,
                          "policy_effective_from": result.policy_effective_from,
                          "dispense_by": result.dispense_by,
                          "dispense_by_source": result.dispense_by_source,
                          "gates": [g.to_dict() for g in result.gates],
                          **({"triggered_by": triggered_by} if triggered_by else {})})
    return row


def run_gates(ctx: Ctx, rx: Prescription, **facts_kwargs) -> GateDecision:
    facts = load_facts(ctx.session, rx, **facts_kwargs)
    # The version in force is judged on today in the gates' own zone (rulebook §7 item 10).
    return gates.evaluate(facts, policy=ctx.policy(facts.pharmacy.time_zone), now=ctx.now)


def evaluate_prescription(ctx: Ctx, prescription: int | Prescription) -> tuple[Decision, Authorization | None]:
    """Evaluate a prescription, given by id or as the row the caller loaded with
    ``get_prescription(..., for_update=True)`` (so that it is read once, and locked)."""
    rx = prescription if isinstance(prescription, Prescription) \
        else get_prescription(ctx, prescription, for_update=True)
    if rx.status == PrescriptionStatus.DISPENSED:
        raise Conflict(f"Prescription {rx.id} has been dispensed and cannot be evaluated again.",
                       code="already_dispensed")
    result = run_gates(ctx, rx)
    with audit_batch(ctx.session):
        decision, auth = _record_evaluation(ctx, rx, result)
    return decision, auth


def reevaluate_blocked(ctx: Ctx, patient_id: int, trigger: str) -> list[Decision]:
    """New evidence (``trigger``, "pregnancy_test:17") arrived for the patient: each of their blocked
    prescriptions is evaluated again, in the same unit of work, as ``system:reevaluation``, and the
    decision names the trigger. An authorization it issues is dispensed by a pharmacist, as any other."""
    blocked = ctx.session.scalars(
        select(Prescription).where(Prescription.patient_id == patient_id,
                                   Prescription.status == PrescriptionStatus.BLOCKED)
        .order_by(Prescription.id).with_for_update().execution_options(populate_existing=True)).all()
    system = replace(ctx, actor=REEVALUATION_ACTOR)
    decisions = []
    for rx in blocked:
        result = run_gates(system, rx)
        with audit_batch(ctx.session):
            decisions.append(_record_evaluation(system, rx, result, triggered_by=trigger)[0])
    ctx.session.info.setdefault(REEVALUATED_KEY, []).extend(decisions)
    return decisions


def reevaluated(ctx: Ctx) -> list[Decision]:
    """The decisions new evidence recorded so far in this unit of work, the latest per prescription."""
    latest: dict[int, Decision] = {}
    for decision in ctx.session.info.get(REEVALUATED_KEY, []):
        latest[decision.prescription_id] = decision
    return list(latest.values())


def _record_evaluation(ctx: Ctx, rx: Prescription, result: GateDecision,
                       triggered_by: str | None = None) -> tuple[Decision, Authorization | None]:
    decision = record_decision(ctx, rx, result, stage="evaluation", triggered_by=triggered_by)
    current = ctx.session.scalars(_ACTIVE_FOR_PRESCRIPTION, {"prescription_id": rx.id}).all()
    reverse_active(ctx, current, "superseded", {"decision_id": decision.id})
    # Set before the next flush, so that the prescription is written once (not "reversed" by the
    # superseded authorization, then this).
    rx.status = PrescriptionStatus.AUTHORIZED if result.authorized else PrescriptionStatus.BLOCKED
    auth = None
    if result.authorized:
        auth = Authorization(prescription_id=rx.id, decision_id=decision.id, pharmacy_id=rx.pharmacy_id,
                             status=AuthorizationStatus.ACTIVE, dispense_by=result.dispense_by, issued_at=ctx.now)
        ctx.session.add(auth)
        ctx.session.flush()
        append_event(ctx.session, action="authorization.issued", actor=ctx.actor,
                     subject=f"authorization:{auth.id}", now=ctx.now, policy=result.policy_name,
                     payload={"prescription_id": rx.id, "decision_id": decision.id,
                              "dispense_by": result.dispense_by, "pharmacy_id": rx.pharmacy_id})
    return decision, auth
