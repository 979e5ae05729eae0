"""Record evidence for a patient, and withdraw it (entered-in-error)."""
from __future__ import annotations

from typing import Any

from pharmsafe.audit import append_event
from pharmsafe.errors import Conflict, NotFound, ValidationFailed
from pharmsafe.gates import normalize_lab_test
from pharmsafe.models import Attestation, LabResult, PregnancyTest, TransferIn
from pharmsafe.services.authorizations import reverse_citing, reverse_for_patient
from pharmsafe.services.context import Ctx
from pharmsafe.services.evaluation import reevaluate_blocked
from pharmsafe.services.registry import get_patient
from pharmsafe.services.validation import refuse_future_dates

EVIDENCE_MODELS = {
    "pregnancy-tests": PregnancyTest,
    "lab-results": LabResult,
    "attestations": Attestation,
    "transfers-in": TransferIn,
}


def _record(ctx: Ctx, model, patient_id: int, data: dict[str, Any], audit_extra: dict[str, Any] | None = None):
    get_patient(ctx, patient_id)
    refuse_future_dates(ctx, data)
    row = model(patient_id=patient_id, recorded_at=ctx.now, recorded_by=ctx.actor, source=ctx.source, **data)
    ctx.session.add(row)
    ctx.session.flush()
    append_event(ctx.session, action="evidence.recorded", actor=ctx.actor,
                 subject=f"{model.evidence_type}:{row.id}", now=ctx.now,
                 payload={"patient_id": patient_id, "type": model.evidence_type, **data, **(audit_extra or {})})
    return row


def record_pregnancy_test(ctx: Ctx, patient_id: int, data: dict[str, Any],
                          audit_extra: dict[str, Any] | None = None) -> PregnancyTest:
    """``audit_extra`` joins the audit payload (a FHIR sender's identifier)."""
    test = _record(ctx, PregnancyTest, patient_id, data, audit_extra)
    if test.result == "positive":
        # Rulebook §2: a positive test reverses every active authorization of the patient at once.
        reverse_for_patient(ctx, patient_id, "positive_pregnancy_test", {"evidence": f"pregnancy_test:{test.id}"})
    return arrived(ctx, patient_id, test)


# The LOINC code recorded when a result names its test instead of a code.
DEFAULT_LOINC = {"ALT": "1742-6", "AST": "1920-8", "TRIGLYCERIDES": "2571-8", "TOTAL_CHOLESTEROL": "2093-3",
                 "LDL": "13457-7"}


def record_lab_result(ctx: Ctx, patient_id: int, data: dict[str, Any],
                      audit_extra: dict[str, Any] | None = None) -> LabResult:
    """The value and the upper reference limit are stored as decimal text in plain notation, with the
    digits given ("5.60" stays "5.60"; "3E+1" becomes "30", "1e-7" "0.0000001"), so that the labs gate
    reads back exactly what was recorded; the test is stored by its canonical name. A value (or
    limit) given as a Decimal or as text must be one the gate can read (rulebook §7 item 8)."""
    from decimal import Decimal

    from pharmsafe.gates.units import decimal_from_text, limits_problem, plain_notation

    given = str(data["test"]).strip()
    test = normalize_lab_test(given)
    if test is None:
        raise ValidationFailed({"test": ["Unknown test: use ALT, AST, TRIGLYCERIDES, TOTAL_CHOLESTEROL, LDL "
                                         "or a LOINC code."]})

    def stored(field: str, *, positive: bool) -> str:
        given_value = data[field]
        number = given_value
        if isinstance(given_value, str):
            number = decimal_from_text(given_value)
        elif isinstance(given_value, int) and not isinstance(given_value, bool):
            number = Decimal(given_value)
        if not isinstance(number, Decimal) or not number.is_finite():
            raise ValidationFailed({field: ["Not a valid number."]})
        problem = limits_problem(number)
        if problem:
            raise ValidationFailed({field: [problem]})
        if number < 0 or (positive and number == 0):
            raise ValidationFailed({field: ["Must be greater than 0." if positive
                                            else "Must be greater than or equal to 0."]})
        text = plain_notation(number)
        capacity = LabResult.__table__.c[field].type.length
        if capacity is not None and len(text) > capacity:
            # Stored whole or not at all: a cut number would be another number.
            raise ValidationFailed({field: [f"In plain notation ({text}) this number takes {len(text)} characters; "
                                            f"at most {capacity} characters can be stored."]})
        return text

    reference_upper = None if data.get("reference_upper") is None else stored("reference_upper", positive=True)
    row = dict(data, test=test, loinc=given if given[:1].isdigit() else DEFAULT_LOINC[test],
               value=stored("value", positive=False), reference_upper=reference_upper)
    return arrived(ctx, patient_id, _record(ctx, LabResult, patient_id, row, audit_extra))


def record_attestation(ctx: Ctx, patient_id: int, data: dict[str, Any],
                       audit_extra: dict[str, Any] | None = None) -> Attestation:
    return arrived(ctx, patient_id, _record(ctx, Attestation, patient_id, data, audit_extra))


def arrived(ctx: Ctx, patient_id: int, row):
    """New evidence is on record: the patient's blocked prescriptions are evaluated again with it."""
    reevaluate_blocked(ctx, patient_id, f"{row.evidence_type}:{row.id}")
    return row


def get_evidence(ctx: Ctx, collection: str, patient_id: int, evidence_id: int):
    model = EVIDENCE_MODELS[collection]
    row = ctx.session.get(model, evidence_id)
    if row is None or row.patient_id != patient_id:
        raise NotFound(f"Patient {patient_id} has no {model.evidence_type.replace('_', ' ')} {evidence_id}.")
    return row


def mark_entered_in_error(ctx: Ctx, collection: str, patient_id: int, evidence_id: int, reason: str,
                          audit_extra: dict[str, Any] | None = None):
    get_patient(ctx, patient_id)
    row = get_evidence(ctx, collection, patient_id, evidence_id)
    if row.entered_in_error:
        raise Conflict("This evidence is already marked entered-in-error.", code="already_entered_in_error")
    row.entered_in_error_at = ctx.now
    row.entered_in_error_reason = reason
    ctx.session.flush()
    ref = f"{row.evidence_type}:{row.id}"
    append_event(ctx.session, action="evidence.entered_in_error", actor=ctx.actor, subject=ref, now=ctx.now,
                 payload={"patient_id": patient_id, "reason": reason, **(audit_extra or {})})
    reverse_citing(ctx, patient_id, ref, "evidence_entered_in_error")
    return row
