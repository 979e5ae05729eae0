"""Dispense: consume an active authorization after re-checking everything at the counter.

Correctness never depends on the scheduler: expiry, every gate, the RMA and the warnings are
checked again here, against ``now``."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select

from pharmsafe.audit import append_event
from pharmsafe.errors import Conflict, Forbidden, NotFound, ValidationFailed
from pharmsafe.gates import facts as f
from pharmsafe.gates.policies import policy_zone
from pharmsafe.gates.results import Status
from pharmsafe.models import Authorization, Dispense, Pharmacy
from pharmsafe.models.statuses import AuthorizationStatus, PrescriptionStatus
from pharmsafe.services.authorizations import get_authorization, refuse_unless_active
from pharmsafe.services.context import Ctx
from pharmsafe.services.evaluation import get_prescription, record_decision, run_gates
from pharmsafe.services.rma import normalise_rma, rma_in_use

RMA_CODES = {"RMA_MISSING": "rma_missing", "RMA_ALREADY_USED": "rma_already_used"}


def dispense_authorization(ctx: Ctx, authorization_id: int, *, quantity: Decimal, rma_number: str | None = None,
                           rma_do_not_dispense_after: date | None = None,
                           acknowledged_warnings: list[str] | tuple[str, ...] = ()) -> Dispense:
    # The prescription is locked before its authorization, in the order an evaluation takes them,
    # so a dispense and an evaluation of one prescription queue instead of deadlocking.
    prescription_id = ctx.session.scalar(select(Authorization.prescription_id)
                                         .where(Authorization.id == authorization_id))
    if prescription_id is None:
        raise NotFound(f"Authorization {authorization_id} does not exist.")
    rx = get_prescription(ctx, prescription_id, for_update=True)
    auth = get_authorization(ctx, authorization_id, for_update=True)
    refuse_unless_active(ctx, auth)
    if Decimal(quantity) != Decimal(rx.quantity):
        raise ValidationFailed({"quantity": [f"Must equal the prescription's quantity ({rx.quantity.normalize():f})."]})
    if not ctx.policy(rx_pharmacy_zone(ctx, rx)).require_rma:
        # Where the policy has no RMA, both fields are ignored (DESIGN.md §5).
        rma_number, rma_do_not_dispense_after = None, None
    rma_number = normalise_rma(rma_number)
    rma_used = rma_number is not None and rma_in_use(ctx, rma_number)
    result = run_gates(ctx, rx, stage="dispense", dispense_quantity=Decimal(quantity),
                       rma=f.RmaFacts(number=rma_number, do_not_dispense_after=rma_do_not_dispense_after,
                                      already_used=rma_used))
    decision = record_decision(ctx, rx, result, stage="dispense")
    if not result.authorized:
        failed = [g for g in result.gates if g.status is Status.FAIL]
        code = next((RMA_CODES[g.code] for g in failed if g.code in RMA_CODES), "gates_failed")
        raise Conflict("Dispensing is refused: " + "; ".join(f"{g.gate}: {g.message}" for g in failed),
                       code=code, details={"decision_id": decision.id,
                                           "gates": [g.to_dict() for g in failed]}).recorded()
    missing = unacknowledged_warnings(result, acknowledged_warnings)
    if missing:
        raise Conflict("Acknowledge every warning before dispensing: " + ", ".join(missing) + ".",
                       code="warning_not_acknowledged",
                       details={"decision_id": decision.id, "unacknowledged": missing}).recorded()
    dispense = Dispense(
        authorization_id=auth.id, prescription_id=rx.id, patient_id=rx.patient_id, pharmacy_id=auth.pharmacy_id,
        decision_id=decision.id, quantity=Decimal(quantity), days_supply=rx.days_supply, dispensed_at=ctx.now,
        dispensed_on=dispense_day(ctx, rx), dispensed_by=ctx.actor,
        rma_number=rma_number, rma_do_not_dispense_after=rma_do_not_dispense_after,
        acknowledged_warnings=sorted(set(acknowledged_warnings)),
    )
    ctx.session.add(dispense)
    auth.status = AuthorizationStatus.DISPENSED
    auth.closed_at = ctx.now
    rx.status = PrescriptionStatus.DISPENSED
    ctx.session.flush()
    append_event(ctx.session, action="dispense.recorded", actor=ctx.actor, subject=f"dispense:{dispense.id}",
                 now=ctx.now, policy=result.policy_name,
                 payload={"authorization_id": auth.id, "prescription_id": rx.id, "decision_id": decision.id,
                          "quantity": dispense.quantity, "rma_number": dispense.rma_number,
                          "acknowledged_warnings": dispense.acknowledged_warnings})
    return dispense


def unacknowledged_warnings(result, acknowledged) -> list[str]:
    """A warn gate is acknowledged by its own code, or by the code of each of its warn findings."""
    acked = set(acknowledged)
    missing: list[str] = []
    for gate in result.gates:
        if gate.status is not Status.WARN or gate.code in acked:
            continue
        finding_codes = [x.code for x in gate.findings if x.status is Status.WARN] or [gate.code]
        missing.extend(c for c in finding_codes if c not in acked)
    return missing


def rx_pharmacy_zone(ctx: Ctx, rx) -> str:
    return ctx.session.get(Pharmacy, rx.pharmacy_id).time_zone


def dispense_day(ctx: Ctx, rx) -> date:
    """The dispense date as the rules count it: today in the policy's zone."""
    zone = rx_pharmacy_zone(ctx, rx)
    return ctx.now.astimezone(policy_zone(ctx.policy(zone), zone)).date()


def reverse_dispense(ctx: Ctx, dispense_id: int, pharmacy_id: int, reason: str, *,
                     rma_reversal_noted: bool = False) -> Dispense:
    """A dispense entered by mistake, reversed by a pharmacist of the dispensing pharmacy on the day
    it was recorded (the policy's zone), with a reason (DESIGN.md §2). It stops counting everywhere
    (course, early refill, one dispense in effect); its RMA number stays used; the prescription
    becomes `reversed` and may be evaluated again. Never deletes a row. A dispense made under an RMA
    is undone only once the pharmacist notes that they reversed that RMA with the REMS, which
    otherwise still counts it as dispensed."""
    row = ctx.session.scalar(select(Dispense).where(Dispense.id == dispense_id).with_for_update())
    if row is None:
        raise NotFound(f"Dispense {dispense_id} does not exist.")
    if row.pharmacy_id != pharmacy_id:
        raise Forbidden(f"Dispense {row.id} was made by another pharmacy; only its pharmacists may reverse it.")
    if row.reversed_at is not None:
        raise Conflict(f"Dispense {row.id} was reversed already.", code="already_reversed")
    rx = get_prescription(ctx, row.prescription_id, for_update=True)
    if row.dispensed_on != dispense_day(ctx, rx):  # "the day it was recorded", counted as the dispense was
        raise Conflict(f"Dispense {row.id} was recorded on {row.dispensed_on.isoformat()}; a dispense can be reversed "
                       "only on the day it was recorded.", code="reversal_window_passed")
    if row.rma_number is not None and not rma_reversal_noted:
        raise ValidationFailed({"rma_reversed": [f"Reverse RMA {row.rma_number} with the REMS first, then say so "
                                                 "here: the REMS still counts it as dispensed."]})
    row.reversed_at, row.reversed_by, row.reversal_reason = ctx.now, ctx.actor, reason
    row.rma_reversal_noted = True if row.rma_number is not None else None
    rx.status = PrescriptionStatus.REVERSED
    append_event(ctx.session, action="dispense.reversed", actor=ctx.actor, subject=f"dispense:{row.id}", now=ctx.now,
                 payload={"prescription_id": rx.id, "authorization_id": row.authorization_id, "reason": reason,
                          "rma_number": row.rma_number, "rma_stays_used": row.rma_number is not None,
                          "rma_reversal_noted": bool(row.rma_reversal_noted)})
    return row


def prepare_rma(ctx: Ctx, authorization_id: int, pharmacy_id: int, rma_number: str | None,
                rma_do_not_dispense_after: date | None) -> Authorization:
    """Keep the RMA obtained from the REMS on the active authorization, for the pharmacist's Dispense
    form (a technician prepares; only a pharmacist dispenses). Both are required and a number already
    used is refused now, not at the counter; the dispense still re-checks the number and its date with
    everything else."""
    auth = get_authorization(ctx, authorization_id, for_update=True)
    if auth.pharmacy_id != pharmacy_id:
        raise Forbidden(f"Authorization {auth.id} belongs to another pharmacy.")
    refuse_unless_active(ctx, auth)
    number = normalise_rma(rma_number)
    errors: dict[str, list[str]] = {}
    if number is None:
        errors["rma_number"] = ["Required: the RMA number obtained from the REMS."]
    elif rma_in_use(ctx, number):
        errors["rma_number"] = ["This RMA number is already used by a dispense or a transfer-in: obtain a new "
                                "one from the REMS."]
    if rma_do_not_dispense_after is None:
        errors["rma_do_not_dispense_after"] = ["Required: the RMA's do-not-dispense-after date, as the REMS "
                                               "shows it."]
    if errors:
        raise ValidationFailed(errors)
    auth.prepared_rma_number, auth.prepared_rma_do_not_dispense_after = number, rma_do_not_dispense_after
    auth.prepared_by, auth.prepared_at = ctx.actor, ctx.now
    append_event(ctx.session, action="authorization.prepared", actor=ctx.actor, subject=f"authorization:{auth.id}",
                 now=ctx.now, payload={"prescription_id": auth.prescription_id, "rma_number": number,
                                       "rma_do_not_dispense_after": rma_do_not_dispense_after})
    return auth
