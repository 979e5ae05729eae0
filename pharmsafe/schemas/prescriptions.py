from __future__ import annotations

from marshmallow import Schema, fields, validate

from pharmsafe.models.statuses import AuthorizationStatus, PrescriptionStatus, values
from pharmsafe.schemas.common import Id, Instant, Number, PageQuery, StrictBoolean, Text, pattern, storable

# What a prescription may carry, whatever way it comes in (JSON API, FHIR, NCPDP SCRIPT): a capsule's
# strength in mg and a quantity, each over 0; FHIR and NewRx refuse more decimals than
# prescriptions.strength_mg and .quantity store (Numeric(10, 3)) rather than round them.
MAX_STRENGTH_MG = 10000
MAX_QUANTITY = 100000
STORED_PLACES = 3

NDC = pattern(r"^(\d{4}-\d{4}-\d{2}|\d{5}-\d{3}-\d{2}|\d{5}-\d{4}-\d{1}|\d{4}-\d{4}|\d{5}-\d{3}|\d{5}-\d{4}|\d{10}|\d{11})\Z",
              "Must be an NDC in the FDA's hyphenated form (for example 0245-0571-01), or 10 or 11 digits.")


class PrescriptionIn(Schema):
    patient_id = Id(required=True)
    pharmacy_id = Id(required=True)
    drug = Text(100, required=True)
    ndc = fields.String(allow_none=True, validate=NDC)
    strength_mg = Number(required=True, validate=validate.Range(min=0, min_inclusive=False, max=MAX_STRENGTH_MG))
    quantity = Number(required=True, validate=validate.Range(min=0, min_inclusive=False, max=MAX_QUANTITY))
    days_supply = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=365))
    refills = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=99))
    written_on = fields.Date(required=True)
    first_of_course = StrictBoolean(allow_none=True)


class PrescriptionQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(values(PrescriptionStatus)))


class DispenseIn(Schema):
    quantity = Number(required=True, validate=validate.Range(min=0, min_inclusive=False, max=MAX_QUANTITY))
    # Normalised by the service (NFKC, trimmed, upper-cased) before its length counts; blank is
    # "missing", answered 409 rma_missing and recorded, never 422.
    rma_number = fields.String(allow_none=True, validate=[validate.Length(max=256), storable])
    rma_do_not_dispense_after = fields.Date(allow_none=True)
    acknowledged_warnings = fields.List(Text(64), validate=validate.Length(max=50))


class GateOut(Schema):
    gate = fields.String()
    status = fields.String()
    code = fields.String()
    message = fields.String()
    unblock = fields.String(allow_none=True)
    evidence = fields.Dict()
    findings = fields.List(fields.Dict())


class AuthorizationSummaryOut(Schema):
    id = fields.Integer()
    status = fields.String()
    dispense_by = Instant()
    pharmacy_id = fields.Integer()


class DecisionOut(Schema):
    id = fields.Integer()
    prescription_id = fields.Integer()
    stage = fields.String()
    outcome = fields.String()
    evaluated_at = Instant()
    # Who ran it ("user:<id>", "system:reevaluation") and, for an automatic re-evaluation, the
    # evidence whose arrival ran it ("pregnancy_test:17").
    evaluated_by = fields.String()
    triggered_by = fields.String(allow_none=True)
    policy = fields.Method("_policy")
    dispense_by = Instant(allow_none=True)
    dispense_by_source = fields.Dict(allow_none=True)
    gates = fields.List(fields.Nested(GateOut))
    authorization = fields.Nested(AuthorizationSummaryOut, allow_none=True)

    def _policy(self, obj):
        effective = obj.policy_effective_from
        return {"name": obj.policy_name, "version": obj.policy_version,
                "effective_from": effective.isoformat() if effective else None}


class DispenseOut(Schema):
    id = fields.Integer()
    authorization_id = fields.Integer()
    prescription_id = fields.Integer()
    pharmacy_id = fields.Integer()
    decision_id = fields.Integer()
    quantity = Number()
    days_supply = fields.Integer()
    dispensed_at = Instant()
    dispensed_on = fields.Date()
    rma_number = fields.String(allow_none=True)
    rma_do_not_dispense_after = fields.Date(allow_none=True)
    acknowledged_warnings = fields.List(fields.String())
    # A dispense reversed as entered by mistake, the same day (pages only; it no longer counts).
    reversed_at = Instant(allow_none=True)
    reversal_reason = fields.String(allow_none=True)


class ReversalOut(Schema):
    reason = fields.String()
    reversed_at = Instant()
    by = fields.String()


class AuthorizationOut(Schema):
    id = fields.Integer()
    prescription_id = fields.Integer()
    pharmacy_id = fields.Integer()
    status = fields.String()
    dispense_by = Instant()
    issued_at = Instant()
    decision = fields.Nested(DecisionOut)
    dispense = fields.Nested(DispenseOut, allow_none=True)
    reversal = fields.Method("_reversal")

    def _reversal(self, obj):
        if obj.status != AuthorizationStatus.REVERSED:
            return None
        return ReversalOut().dump({"reason": obj.reversal_reason, "reversed_at": obj.closed_at, "by": obj.reversed_by})


class PrescriptionOut(Schema):
    id = fields.Integer()
    patient_id = fields.Integer()
    prescriber_id = fields.Integer()
    pharmacy_id = fields.Integer()
    drug = fields.String()
    ndc = fields.String(allow_none=True)
    strength_mg = Number()
    quantity = Number()
    days_supply = fields.Integer()
    refills = fields.Integer()
    written_on = fields.Date()
    first_of_course = fields.Boolean(allow_none=True)
    status = fields.String()
    submitted_at = Instant()
    # Where it came in: web, api, fhir, ncpdp or system; null for records kept before sources were.
    source = fields.String(allow_none=True, dump_only=True)


class PrescriptionDetailOut(PrescriptionOut):
    decisions = fields.List(fields.Nested(DecisionOut))
    authorization = fields.Nested(AuthorizationOut, allow_none=True)
