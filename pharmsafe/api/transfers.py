"""Transfers-in: recorded and withdrawn by a pharmacist of a pharmacy the patient's prescriptions
are routed to (DESIGN.md §5)."""
from __future__ import annotations

from flask import jsonify

from pharmsafe.api.blueprint import api_bp
from pharmsafe.api.common import ctx, current_user, load_body, roles
from pharmsafe.errors import Forbidden
from pharmsafe.http.unit import get_session
from pharmsafe.schemas.evidence import ReasonIn
from pharmsafe.schemas.transfers import TransferInIn, TransferInOut
from pharmsafe.services import evidence as evidence_svc
from pharmsafe.services.access import require_patient_access
from pharmsafe.services.registry import get_patient
from pharmsafe.services.transfers import record_transfer_in


@api_bp.post("/patients/<int:patient_id>/transfers-in")
@roles("pharmacist", "technician")
def record_transfer(patient_id: int):
    c = ctx()
    user = current_user()
    require_patient_access(get_session(), user, get_patient(c, patient_id))
    row = record_transfer_in(c, patient_id, user.pharmacy_id, load_body(TransferInIn()))
    return jsonify(TransferInOut().dump(row)), 201


@api_bp.post("/patients/<int:patient_id>/transfers-in/<int:evidence_id>/entered-in-error")
@roles("pharmacist")
def withdraw_transfer(patient_id: int, evidence_id: int):
    c = ctx()
    user = current_user()
    require_patient_access(get_session(), user, get_patient(c, patient_id))
    row = evidence_svc.get_evidence(c, "transfers-in", patient_id, evidence_id)
    if row.pharmacy_id != user.pharmacy_id:
        raise Forbidden(f"Transfer-in {row.id} was recorded by another pharmacy.")
    row = evidence_svc.mark_entered_in_error(c, "transfers-in", patient_id, evidence_id,
                                             load_body(ReasonIn())["reason"])
    return jsonify(TransferInOut().dump(row)), 200
