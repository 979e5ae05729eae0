"""Prescriptions, evaluations, authorizations, dispenses and reversals."""
from __future__ import annotations

from flask import jsonify
from sqlalchemy import select
from sqlalchemy.orm.attributes import set_committed_value

from pharmsafe.api.blueprint import api_bp
from pharmsafe.api.common import ctx, current_user, load_body, load_query, paginate, roles
from pharmsafe.errors import Forbidden
from pharmsafe.http.idempotency import idempotent
from pharmsafe.http.unit import get_session
from pharmsafe.models import Authorization, Prescription
from pharmsafe.schemas.evidence import ReasonIn
from pharmsafe.schemas.prescriptions import (
    AuthorizationOut,
    DecisionOut,
    DispenseIn,
    DispenseOut,
    PrescriptionDetailOut,
    PrescriptionIn,
    PrescriptionOut,
    PrescriptionQuery,
)
from pharmsafe.services.access import require_pharmacy, require_prescription_access, visible_prescriptions
from pharmsafe.services.authorizations import get_authorization, reverse_authorization
from pharmsafe.services.dispensing import dispense_authorization
from pharmsafe.services.evaluation import evaluate_prescription, get_prescription
from pharmsafe.services.prescriptions import submit_prescription
from pharmsafe.services.reads import decisions_of, latest_authorization

DECISION_OUT = DecisionOut()


@api_bp.post("/prescriptions")
@roles("prescriber")
def create_prescription():
    rx = submit_prescription(ctx(), current_user().prescriber_id, load_body(PrescriptionIn()))
    return jsonify(PrescriptionOut().dump(rx)), 201


@api_bp.get("/prescriptions")
@roles("pharmacist", "technician", "prescriber")
def list_prescriptions():
    query = load_query(PrescriptionQuery())
    stmt = select(Prescription).where(visible_prescriptions(current_user()))
    if query.get("status"):
        stmt = stmt.where(Prescription.status == query["status"])
    return jsonify(paginate(stmt, Prescription.id, query.get("cursor"), PrescriptionOut().dump))


def prescription_detail(rx: Prescription) -> dict:
    session = get_session()
    rx.decisions = decisions_of(session, rx.id)
    rx.authorization = latest_authorization(session, rx.id)
    return PrescriptionDetailOut().dump(rx)


@api_bp.get("/prescriptions/<int:prescription_id>")
@roles("pharmacist", "technician", "prescriber")
def get_prescription_view(prescription_id: int):
    rx = get_prescription(ctx(), prescription_id)
    require_prescription_access(current_user(), rx)
    return jsonify(prescription_detail(rx))


@api_bp.post("/prescriptions/<int:prescription_id>/evaluations")
@roles("pharmacist")
def evaluate(prescription_id: int):
    c = ctx()
    rx = get_prescription(c, prescription_id, for_update=True)
    require_pharmacy(current_user(), rx.pharmacy_id, f"Prescription {rx.id}")
    decision, auth = evaluate_prescription(c, rx)
    # The decision's authorization is the one just issued (or none): no query to read it back.
    set_committed_value(decision, "authorization", auth)
    return jsonify(DECISION_OUT.dump(decision)), 201


def _own_authorization(authorization_id: int, *, admin_ok: bool = False) -> Authorization:
    auth = get_authorization(ctx(), authorization_id)
    user = current_user()
    if admin_ok and user.role == "admin":
        return auth
    if admin_ok and user.role == "technician":  # a read: the pharmacy's own, as its pharmacists read it
        if user.pharmacy_id != auth.pharmacy_id:
            raise Forbidden(f"Authorization {auth.id} belongs to another pharmacy.")
        return auth
    require_pharmacy(user, auth.pharmacy_id, f"Authorization {auth.id}")
    return auth


@api_bp.get("/authorizations/<int:authorization_id>")
@roles("pharmacist", "technician", "admin")
def get_authorization_view(authorization_id: int):
    return jsonify(AuthorizationOut().dump(_own_authorization(authorization_id, admin_ok=True)))


@api_bp.post("/authorizations/<int:authorization_id>/dispense")
@roles("pharmacist")
@idempotent
def dispense(authorization_id: int):
    _own_authorization(authorization_id)
    data = load_body(DispenseIn())
    row = dispense_authorization(ctx(), authorization_id, quantity=data["quantity"],
                                 rma_number=data.get("rma_number"),
                                 rma_do_not_dispense_after=data.get("rma_do_not_dispense_after"),
                                 acknowledged_warnings=data.get("acknowledged_warnings") or [])
    return jsonify(DispenseOut().dump(row)), 201


@api_bp.post("/authorizations/<int:authorization_id>/reversal")
@roles("pharmacist")
def reverse(authorization_id: int):
    _own_authorization(authorization_id)
    auth = reverse_authorization(ctx(), authorization_id, load_body(ReasonIn())["reason"])
    return jsonify(AuthorizationOut().dump(auth)), 200
