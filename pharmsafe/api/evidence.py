"""Evidence a prescriber records for their own patients."""
from __future__ import annotations

from flask import jsonify

from pharmsafe.api.blueprint import api_bp
from pharmsafe.api.common import ctx, current_user, load_body, roles
from pharmsafe.http.unit import get_session
from pharmsafe.schemas.evidence import (
    AttestationIn,
    AttestationOut,
    LabResultIn,
    LabResultOut,
    PregnancyTestIn,
    PregnancyTestOut,
    ReasonIn,
)
from pharmsafe.services import evidence as svc
from pharmsafe.services.access import require_patient_access
from pharmsafe.services.registry import get_patient

COLLECTIONS = {
    "pregnancy-tests": (PregnancyTestIn, PregnancyTestOut, svc.record_pregnancy_test),
    "lab-results": (LabResultIn, LabResultOut, svc.record_lab_result),
    "attestations": (AttestationIn, AttestationOut, svc.record_attestation),
}


def _own_patient(c, patient_id: int):
    patient = get_patient(c, patient_id)
    require_patient_access(get_session(), current_user(), patient, write=True)
    return patient


def _recorder(collection: str):
    schema_in, schema_out, record = COLLECTIONS[collection]

    @roles("prescriber")
    def view(patient_id: int):
        c = ctx()
        _own_patient(c, patient_id)
        row = record(c, patient_id, load_body(schema_in()))
        return jsonify(schema_out().dump(row)), 201

    view.__name__ = f"record_{collection.replace('-', '_')}"
    return view


def _withdrawer(collection: str):
    _, schema_out, _ = COLLECTIONS[collection]

    @roles("prescriber")
    def view(patient_id: int, evidence_id: int):
        c = ctx()
        _own_patient(c, patient_id)
        svc.get_evidence(c, collection, patient_id, evidence_id)
        row = svc.mark_entered_in_error(c, collection, patient_id, evidence_id, load_body(ReasonIn())["reason"])
        return jsonify(schema_out().dump(row)), 200

    view.__name__ = f"withdraw_{collection.replace('-', '_')}"
    return view


for _collection in COLLECTIONS:
    api_bp.add_url_rule(f"/patients/<int:patient_id>/{_collection}", view_func=_recorder(_collection),
                        methods=["POST"])
    api_bp.add_url_rule(f"/patients/<int:patient_id>/{_collection}/<int:evidence_id>/entered-in-error",
                        view_func=_withdrawer(_collection), methods=["POST"])
