"""Submit a prescription and route it to one pharmacy."""
from __future__ import annotations

from typing import Any

from pharmsafe import gates
from pharmsafe.audit import append_event
from pharmsafe.errors import ValidationFailed
from pharmsafe.models import Patient, Pharmacy, Prescription
from pharmsafe.models.statuses import PrescriptionStatus
from pharmsafe.services.context import Ctx
from pharmsafe.services.validation import refuse_future_dates


def submit_prescription(ctx: Ctx, prescriber_id: int, data: dict[str, Any],
                        audit_extra: dict[str, Any] | None = None) -> Prescription:
    """``audit_extra`` joins the audit payload (a sender's identifier)."""
    rx = draft_prescription(ctx, prescriber_id, data)
    ctx.session.add(rx)
    ctx.session.flush()
    append_event(ctx.session, action="prescription.submitted", actor=ctx.actor, subject=f"prescription:{rx.id}",
                 now=ctx.now, payload={"prescriber_id": prescriber_id, **data, **(audit_extra or {})})
    return rx


def draft_prescription(ctx: Ctx, prescriber_id: int, data: dict[str, Any]) -> Prescription:
    """The prescription ``data`` describes, checked as a submission is, and not added to the session:
    what a readiness check runs the gates on before it is sent."""
    errors: dict[str, list[str]] = {}
    patient = ctx.session.get(Patient, data["patient_id"])
    if patient is None or patient.prescriber_id != prescriber_id:
        errors["patient_id"] = ["No patient of this prescriber has this id."]
    pharmacy = ctx.session.get(Pharmacy, data["pharmacy_id"])
    if pharmacy is None:
        errors["pharmacy_id"] = ["No pharmacy has this id."]
    else:
        # "Not in the future" in the routed pharmacy's zone where the program reads dates there.
        refuse_future_dates(ctx, data, pharmacy_time_zone=pharmacy.time_zone)
    if not gates.is_isotretinoin(data["drug"], data.get("ndc")):
        errors["drug"] = ["PharmSafe handles isotretinoin only; this drug is not handled by this program."]
    if errors:
        raise ValidationFailed(errors)
    return Prescription(prescriber_id=prescriber_id, status=PrescriptionStatus.SUBMITTED, submitted_at=ctx.now,
                        submitted_by=ctx.actor, source=ctx.source, **data)
