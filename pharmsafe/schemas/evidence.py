from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates, validates_schema

from pharmsafe.gates import CONTRACEPTION_METHODS, normalize_lab_test
from pharmsafe.schemas.common import Instant, Number, PlainNumber, Text, one_of, pattern

CLIA = pattern(r"^\d{2}D\d{7}\Z", "Must be 2 digits, D, 7 digits (for example 05D1234567).")


class PregnancyTestIn(Schema):
    specimen_collected_on = fields.Date(required=True)
    result = one_of("negative", "positive", required=True)
    specimen = one_of("urine", "serum", required=True)
    setting = one_of("medical", "home", required=True)
    clia_number = fields.String(allow_none=True, validate=CLIA)

    @validates_schema
    def _home_test(self, data, **_):
        if data.get("setting") == "home":
            errors = {}
            if data.get("specimen") not in (None, "urine"):
                errors["specimen"] = ["A home test is a urine test."]
            if data.get("clia_number"):
                errors["clia_number"] = ["A home test has no CLIA number."]
            if errors:
                raise ValidationError(errors)


class LabResultIn(Schema):
    """``value`` and ``reference_upper``: a JSON number or a string holding one (rulebook §7 item 8)."""
    test = fields.String(required=True)
    value = PlainNumber(required=True, validate=validate.Range(min=0, max=10**7))
    unit = Text(20, required=True)
    collected_on = fields.Date(required=True)
    reference_upper = PlainNumber(allow_none=True, validate=validate.Range(min=0, min_inclusive=False, max=10**7))

    @validates("test")
    def _test(self, value, **_):
        if normalize_lab_test(value) is None:
            raise ValidationError("Unknown test: use ALT, AST, TRIGLYCERIDES, TOTAL_CHOLESTEROL, LDL or a LOINC code.")


class AttestationIn(Schema):
    kind = one_of("contraception", "comprehension", "counseling", "pregnancy_excluded", required=True)
    attested_on = fields.Date(required=True)
    methods = fields.List(fields.String(), validate=validate.Length(max=20))
    note = Text(500, allow_none=True)

    @validates("methods")
    def _methods(self, value, **_):
        unknown = sorted({str(m).strip().lower() for m in value} - set(CONTRACEPTION_METHODS))
        if unknown:
            raise ValidationError(f"Unknown method code(s): {', '.join(unknown)}. "
                                  f"Known: {', '.join(sorted(CONTRACEPTION_METHODS))}.")

    @validates_schema
    def _by_kind(self, data, **_):
        kind = data.get("kind")
        errors = {}
        if kind == "contraception" and not data.get("methods"):
            errors["methods"] = ["A contraception attestation lists its methods."]
        if kind not in (None, "contraception") and data.get("methods"):
            errors["methods"] = ["Only a contraception attestation lists methods."]
        if kind == "pregnancy_excluded" and not (data.get("note") or "").strip():
            errors["note"] = ["A pregnancy_excluded attestation needs a note saying how pregnancy was ruled out "
                              "(for example a quantitative serum hCG)."]
        if kind not in (None, "pregnancy_excluded") and data.get("note") is not None:
            errors["note"] = ["Only a pregnancy_excluded attestation carries a note."]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _normalise_methods(self, data, **_):
        # Codes are trimmed and lower-cased at the boundary; duplicates count once (rulebook §2).
        if data.get("methods") is not None:
            data["methods"] = list(dict.fromkeys(str(m).strip().lower() for m in data["methods"]))
        return data


class ReasonIn(Schema):
    reason = Text(500, required=True)


class _EvidenceOut(Schema):
    id = fields.Integer()
    patient_id = fields.Integer()
    recorded_at = Instant()
    recorded_by = fields.String()
    entered_in_error = fields.Boolean()
    entered_in_error_at = Instant(allow_none=True)
    entered_in_error_reason = fields.String(allow_none=True)
    # Where it came in: web, api, fhir, ncpdp or system; null for records kept before sources were.
    source = fields.String(allow_none=True, dump_only=True)


class PregnancyTestOut(_EvidenceOut):
    specimen_collected_on = fields.Date()
    result = fields.String()
    specimen = fields.String()
    setting = fields.String()
    clia_number = fields.String(allow_none=True)


class LabResultOut(_EvidenceOut):
    test = fields.String()
    loinc = fields.String(allow_none=True)
    value = Number()
    unit = fields.String()
    collected_on = fields.Date()
    reference_upper = Number(allow_none=True)


class AttestationOut(_EvidenceOut):
    kind = fields.String()
    attested_on = fields.Date()
    methods = fields.List(fields.String())
    note = fields.String(allow_none=True)
