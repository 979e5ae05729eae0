"""Ownership and routing: which patients and prescriptions a signed-in user may reach.

Shared by the API and the web pages so that the rule lives in one place."""
from __future__ import annotations

from sqlalchemy import exists, select

from pharmsafe.errors import Forbidden
from pharmsafe.models import Patient, Prescription, User
from pharmsafe.models.users import PHARMACY_STAFF


def can_see_patient(session, user: User, patient: Patient) -> bool:
    if user.role == "admin":
        return True
    if user.role == "prescriber":
        return patient.prescriber_id == user.prescriber_id
    if user.role in PHARMACY_STAFF:
        return session.scalar(select(exists().where(Prescription.patient_id == patient.id,
                                                    Prescription.pharmacy_id == user.pharmacy_id)))
    return False


def can_change_patient(user: User, patient: Patient) -> bool:
    return user.role == "admin" or (user.role == "prescriber" and patient.prescriber_id == user.prescriber_id)


def require_patient_access(session, user: User, patient: Patient, *, write: bool = False) -> None:
    allowed = can_change_patient(user, patient) if write else can_see_patient(session, user, patient)
    if not allowed:
        raise Forbidden(f"Patient {patient.id} is not one of yours.")


def visible_patients(user: User):
    """A filter for the patients list."""
    if user.role == "prescriber":
        return Patient.prescriber_id == user.prescriber_id
    if user.role in PHARMACY_STAFF:
        return Patient.id.in_(select(Prescription.patient_id).where(Prescription.pharmacy_id == user.pharmacy_id))
    return True


def can_see_prescription(user: User, rx: Prescription) -> bool:
    if user.role == "prescriber":
        return rx.prescriber_id == user.prescriber_id
    if user.role in PHARMACY_STAFF:
        return rx.pharmacy_id == user.pharmacy_id
    return False


def require_prescription_access(user: User, rx: Prescription) -> None:
    if not can_see_prescription(user, rx):
        raise Forbidden(f"Prescription {rx.id} is not routed to you.")


def require_pharmacy(user: User, pharmacy_id: int, what: str) -> None:
    if user.role != "admin" and not (user.role == "pharmacist" and user.pharmacy_id == pharmacy_id):
        raise Forbidden(f"{what} belongs to another pharmacy.")


def visible_prescriptions(user: User):
    if user.role == "prescriber":
        return Prescription.prescriber_id == user.prescriber_id
    return Prescription.pharmacy_id == user.pharmacy_id
