"""Transfers-in: a pharmacist's record of the patient's earlier dispense at another pharmacy
(rulebook §2). It counts wherever the rules look at earlier dispenses, and its RMA number is used."""
from __future__ import annotations

from typing import Any

from pharmsafe.audit import append_event
from pharmsafe.errors import Conflict, ValidationFailed
from pharmsafe.models import Pharmacy, TransferIn
from pharmsafe.services.context import Ctx
from pharmsafe.services.evidence import arrived
from pharmsafe.services.registry import get_patient
from pharmsafe.services.rma import normalise_rma, rma_in_use
from pharmsafe.services.validation import refuse_future_dates


def record_transfer_in(ctx: Ctx, patient_id: int, pharmacy_id: int, data: dict[str, Any]) -> TransferIn:
    """Recorded by a pharmacist of ``pharmacy_id`` (the caller has checked that a prescription of
    this patient is routed there)."""
    get_patient(ctx, patient_id)
    pharmacy = ctx.session.get(Pharmacy, pharmacy_id)
    refuse_future_dates(ctx, data, ("dispensed_on",), pharmacy_time_zone=pharmacy.time_zone)
    errors: dict[str, list[str]] = {}
    if data["source_ncpdp_id"] == pharmacy.ncpdp_id:
        errors["source_ncpdp_id"] = ["A transfer-in comes from another pharmacy, not this one "
                                     "(this pharmacy's own dispenses are already on record)."]
    number = normalise_rma(data.get("rma_number"))
    if number is None and ctx.policy(pharmacy.time_zone).require_rma:
        errors["rma_number"] = ["Required under iPLEDGE: the RMA number of the earlier dispense."]
    if errors:
        raise ValidationFailed(errors)
    if number is not None and rma_in_use(ctx, number):
        raise Conflict(f"RMA {number} is already used by another dispense or transfer-in.", code="rma_already_used",
                       fields={"rma_number": ["Already used."]})
    row = TransferIn(patient_id=patient_id, pharmacy_id=pharmacy_id, recorded_at=ctx.now, recorded_by=ctx.actor,
                     source=ctx.source,
                     **dict(data, rma_number=number))
    ctx.session.add(row)
    ctx.session.flush()
    append_event(ctx.session, action="evidence.recorded", actor=ctx.actor, subject=f"transfer_in:{row.id}",
                 now=ctx.now, payload={"patient_id": patient_id, "type": "transfer_in", "pharmacy_id": pharmacy_id,
                                       **dict(data, rma_number=number)})
    return arrived(ctx, patient_id, row)
