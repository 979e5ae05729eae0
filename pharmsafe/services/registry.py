"""Pharmacies, prescribers and patients; a lapse of status reverses what depended on it."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from pharmsafe.audit import append_event
from pharmsafe.errors import Conflict, NotFound, ValidationFailed
from pharmsafe.models import Patient, Pharmacy, Prescriber
from pharmsafe.models.statuses import PrescriberStatus
from pharmsafe.services.authorizations import reverse_for_patient, reverse_for_pharmacy, reverse_for_prescriber
from pharmsafe.services.context import Ctx
from pharmsafe.services.validation import refuse_future_dates


def _get(ctx: Ctx, model, id_: int, label: str):
    obj = ctx.session.get(model, id_)
    if obj is None:
        raise NotFound(f"{label} {id_} does not exist.")
    return obj


def get_pharmacy(ctx: Ctx, id_: int) -> Pharmacy:
    return _get(ctx, Pharmacy, id_, "Pharmacy")


def get_prescriber(ctx: Ctx, id_: int) -> Prescriber:
    return _get(ctx, Prescriber, id_, "Prescriber")


def get_patient(ctx: Ctx, id_: int) -> Patient:
    return _get(ctx, Patient, id_, "Patient")


def _refuse_duplicate(ctx: Ctx, model, field: str, value: Any, exclude_id: int | None = None) -> None:
    stmt = select(model.id).where(getattr(model, field) == value)
    if exclude_id is not None:
        stmt = stmt.where(model.id != exclude_id)
    if ctx.session.scalar(stmt.limit(1)) is not None:
        raise Conflict(f"Another record already has this {field}.", code="duplicate",
                       fields={field: ["Already registered."]})


def _changes(obj, data: dict[str, Any]) -> dict[str, list[Any]]:
    changed = {}
    for key, value in data.items():
        old = getattr(obj, key)
        if old != value:
            changed[key] = [old, value]
            setattr(obj, key, value)
    return changed


def _audit(ctx: Ctx, kind: str, obj, changes: dict[str, Any], created: bool,
           extra: dict[str, Any] | None = None) -> None:
    append_event(ctx.session, action="registry.changed", actor=ctx.actor, subject=f"{kind}:{obj.id}",
                 now=ctx.now, payload={"entity": kind, "created": created, "changes": changes, **(extra or {})})


def create_pharmacy(ctx: Ctx, data: dict[str, Any]) -> Pharmacy:
    _refuse_duplicate(ctx, Pharmacy, "ncpdp_id", data["ncpdp_id"])
    pharmacy = Pharmacy(created_at=ctx.now, **data)
    ctx.session.add(pharmacy)
    ctx.session.flush()
    _audit(ctx, "pharmacy", pharmacy, {k: [None, v] for k, v in data.items()}, True)
    return pharmacy


def update_pharmacy(ctx: Ctx, pharmacy_id: int, data: dict[str, Any]) -> tuple[Pharmacy, list[int]]:
    pharmacy = get_pharmacy(ctx, pharmacy_id)
    if "ncpdp_id" in data:
        _refuse_duplicate(ctx, Pharmacy, "ncpdp_id", data["ncpdp_id"], pharmacy.id)
    changes = _changes(pharmacy, data)
    reversed_ids: list[int] = []
    if changes:
        ctx.session.flush()
        _audit(ctx, "pharmacy", pharmacy, changes, False)
        if pharmacy.activated_until < ctx.today:
            reversed_ids = reverse_for_pharmacy(ctx, pharmacy.id, "pharmacy_activation_lapsed")
    return pharmacy, reversed_ids


def create_prescriber(ctx: Ctx, data: dict[str, Any]) -> Prescriber:
    _refuse_duplicate(ctx, Prescriber, "npi", data["npi"])
    prescriber = Prescriber(created_at=ctx.now, **data)
    ctx.session.add(prescriber)
    ctx.session.flush()
    _audit(ctx, "prescriber", prescriber, {k: [None, v] for k, v in data.items()}, True)
    return prescriber


def prescriber_lapse(ctx: Ctx, prescriber: Prescriber) -> str | None:
    """Why this prescriber may no longer prescribe, or None."""
    if prescriber.status != PrescriberStatus.ACTIVE:
        return f"prescriber_{prescriber.status}"
    if prescriber.license_expires_on < ctx.today:
        return "prescriber_license_lapsed"
    if prescriber.rems_certified_until < ctx.today:
        return "prescriber_certification_lapsed"
    return None


def update_prescriber(ctx: Ctx, prescriber_id: int, data: dict[str, Any]) -> tuple[Prescriber, list[int]]:
    prescriber = get_prescriber(ctx, prescriber_id)
    if "npi" in data:
        _refuse_duplicate(ctx, Prescriber, "npi", data["npi"], prescriber.id)
    changes = _changes(prescriber, data)
    reversed_ids: list[int] = []
    if changes:
        ctx.session.flush()
        _audit(ctx, "prescriber", prescriber, changes, False)
        lapse = prescriber_lapse(ctx, prescriber)
        if lapse:
            reversed_ids = reverse_for_prescriber(ctx, prescriber.id, lapse)
    return prescriber, reversed_ids


def create_patient(ctx: Ctx, data: dict[str, Any], audit_extra: dict[str, Any] | None = None) -> Patient:
    refuse_future_dates(ctx, data)
    if ctx.session.get(Prescriber, data["prescriber_id"]) is None:
        raise ValidationFailed({"prescriber_id": ["No prescriber has this id."]})
    data.setdefault("home_pregnancy_tests_allowed", False)
    patient = Patient(created_at=ctx.now, source=ctx.source, **data)
    ctx.session.add(patient)
    ctx.session.flush()
    _audit(ctx, "patient", patient, {k: [None, v] for k, v in data.items()
                                     if k not in ("first_name", "last_name", "date_of_birth")}, True, audit_extra)
    return patient


# A change to any of these means earlier decisions judged a different patient.
PATIENT_GATED_FIELDS = ("can_get_pregnant", "rems_patient_id", "enrolled_on", "home_pregnancy_tests_allowed",
                        "status")


def update_patient(ctx: Ctx, patient_id: int, data: dict[str, Any]) -> Patient:
    patient = get_patient(ctx, patient_id)
    refuse_future_dates(ctx, data)
    changes = _changes(patient, data)
    if changes:
        ctx.session.flush()
        _audit(ctx, "patient", patient, {k: v for k, v in changes.items()
                                         if k not in ("first_name", "last_name", "date_of_birth")}, False)
        if changes.get("status", [None, None])[1] == "deactivated":
            reverse_for_patient(ctx, patient.id, "patient_deactivated")
        elif any(k in changes for k in PATIENT_GATED_FIELDS):
            reverse_for_patient(ctx, patient.id, "patient_record_changed")
    return patient
