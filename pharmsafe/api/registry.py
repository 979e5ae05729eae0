"""Pharmacies, prescribers, patients."""
from __future__ import annotations

from flask import jsonify
from sqlalchemy import select

from pharmsafe.api.blueprint import api_bp
from pharmsafe.api.common import ctx, current_user, load_body, load_query, paginate, roles
from pharmsafe.errors import ValidationFailed
from pharmsafe.http.unit import get_session
from pharmsafe.models import Attestation, Dispense, LabResult, Patient, Pharmacy, PregnancyTest, Prescriber, TransferIn
from pharmsafe.schemas.common import PageQuery
from pharmsafe.schemas.evidence import AttestationOut, LabResultOut, PregnancyTestOut
from pharmsafe.schemas.prescriptions import DispenseOut
from pharmsafe.schemas.registry import (
    PatientIn,
    PatientOut,
    PatientPatch,
    PharmacyIn,
    PharmacyOut,
    PrescriberIn,
    PrescriberOut,
)
from pharmsafe.schemas.transfers import TransferInOut
from pharmsafe.services import registry as svc
from pharmsafe.services.access import require_patient_access, visible_patients

ALL_ROLES = ("admin", "prescriber", "pharmacist", "technician", "manager", "auditor")


@api_bp.post("/pharmacies")
@roles("admin")
def create_pharmacy():
    pharmacy = svc.create_pharmacy(ctx(), load_body(PharmacyIn()))
    return jsonify(PharmacyOut().dump(pharmacy)), 201


@api_bp.get("/pharmacies")
@roles(*ALL_ROLES)
def list_pharmacies():
    return jsonify(paginate(select(Pharmacy), Pharmacy.id, load_query(PageQuery()).get("cursor"), PharmacyOut().dump))


@api_bp.patch("/pharmacies/<int:pharmacy_id>")
@roles("admin")
def update_pharmacy(pharmacy_id: int):
    c = ctx()
    svc.get_pharmacy(c, pharmacy_id)
    pharmacy, reversed_ids = svc.update_pharmacy(c, pharmacy_id, load_body(PharmacyIn(), partial=True))
    return jsonify({**PharmacyOut().dump(pharmacy), "reversed_authorizations": reversed_ids}), 200


@api_bp.post("/prescribers")
@roles("admin")
def create_prescriber():
    prescriber = svc.create_prescriber(ctx(), load_body(PrescriberIn()))
    return jsonify(PrescriberOut().dump(prescriber)), 201


@api_bp.get("/prescribers")
@roles("admin", "pharmacist", "technician")
def list_prescribers():
    return jsonify(paginate(select(Prescriber), Prescriber.id, load_query(PageQuery()).get("cursor"), PrescriberOut().dump))


@api_bp.patch("/prescribers/<int:prescriber_id>")
@roles("admin")
def update_prescriber(prescriber_id: int):
    c = ctx()
    svc.get_prescriber(c, prescriber_id)
    prescriber, reversed_ids = svc.update_prescriber(c, prescriber_id, load_body(PrescriberIn(), partial=True))
    return jsonify({**PrescriberOut().dump(prescriber), "reversed_authorizations": reversed_ids}), 200


@api_bp.post("/patients")
@roles("admin", "prescriber")
def create_patient():
    user = current_user()
    data = load_body(PatientIn())
    if user.role == "prescriber":
        data["prescriber_id"] = user.prescriber_id
    elif data.get("prescriber_id") is None:
        raise ValidationFailed({"prescriber_id": ["Required when an admin registers a patient."]})
    patient = svc.create_patient(ctx(), data)
    return jsonify(PatientOut().dump(patient)), 201


@api_bp.get("/patients")
@roles("admin", "prescriber", "pharmacist", "technician")
def list_patients():
    stmt = select(Patient).where(visible_patients(current_user()))
    return jsonify(paginate(stmt, Patient.id, load_query(PageQuery()).get("cursor"), PatientOut().dump))


def _patient_detail(patient: Patient) -> dict:
    session = get_session()

    def rows(model):
        return session.scalars(select(model).where(model.patient_id == patient.id).order_by(model.id.desc())).all()

    return {
        **PatientOut().dump(patient),
        "pregnancy_tests": PregnancyTestOut(many=True).dump(rows(PregnancyTest)),
        "lab_results": LabResultOut(many=True).dump(rows(LabResult)),
        "attestations": AttestationOut(many=True).dump(rows(Attestation)),
        "dispenses": DispenseOut(many=True).dump(rows(Dispense)),
        "transfers_in": TransferInOut(many=True).dump(rows(TransferIn)),
    }


@api_bp.get("/patients/<int:patient_id>")
@roles("admin", "prescriber", "pharmacist", "technician")
def get_patient(patient_id: int):
    patient = svc.get_patient(ctx(), patient_id)
    require_patient_access(get_session(), current_user(), patient)
    return jsonify(_patient_detail(patient))


@api_bp.patch("/patients/<int:patient_id>")
@roles("admin", "prescriber")
def update_patient(patient_id: int):
    c = ctx()
    patient = svc.get_patient(c, patient_id)
    require_patient_access(get_session(), current_user(), patient, write=True)
    patient = svc.update_patient(c, patient_id, load_body(PatientPatch(), partial=True))
    return jsonify(_patient_detail(patient))
