from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validates

from pharmsafe.gates import is_valid_npi
from pharmsafe.models.statuses import PatientStatus, PrescriberStatus, values
from pharmsafe.schemas.common import Id, Instant, StrictBoolean, Text, one_of, pattern, valid_time_zone


class PharmacyIn(Schema):
    name = Text(100, required=True)
    ncpdp_id = fields.String(required=True, validate=pattern(r"^\d{7}\Z", "Must be 7 digits."))
    rems_registration_id = Text(64, required=True)
    activated_until = fields.Date(required=True)
    time_zone = fields.String(required=True, validate=valid_time_zone)


class PharmacyOut(Schema):
    id = fields.Integer()
    name = fields.String()
    ncpdp_id = fields.String()
    rems_registration_id = fields.String()
    activated_until = fields.Date()
    time_zone = fields.String()
    created_at = Instant()


class PrescriberIn(Schema):
    npi = fields.String(required=True)
    first_name = Text(100, required=True)
    last_name = Text(100, required=True)
    license_state = Text(64, required=True)
    license_number = Text(64, required=True)
    license_expires_on = fields.Date(required=True)
    rems_certified_until = fields.Date(required=True)
    status = one_of(*values(PrescriberStatus), required=True)

    @validates("npi")
    def _npi(self, value, **_):
        if not is_valid_npi(value):
            raise ValidationError("Not a valid NPI: 10 digits starting with 1 or 2, with a correct check digit.")


class PrescriberOut(Schema):
    id = fields.Integer()
    npi = fields.String()
    first_name = fields.String()
    last_name = fields.String()
    license_state = fields.String()
    license_number = fields.String()
    license_expires_on = fields.Date()
    rems_certified_until = fields.Date()
    status = fields.String()
    created_at = Instant()


class PatientIn(Schema):
    first_name = Text(100, required=True)
    last_name = Text(100, required=True)
    date_of_birth = fields.Date(required=True)
    can_get_pregnant = StrictBoolean(required=True)
    rems_patient_id = Text(64, required=True, allow_none=True)
    enrolled_on = fields.Date(required=True)
    home_pregnancy_tests_allowed = StrictBoolean()
    status = one_of(*values(PatientStatus))
    prescriber_id = Id()


class PatientPatch(PatientIn):
    """PATCH: any subset of the fields; a patient never changes prescriber here."""

    class Meta:
        exclude = ("prescriber_id",)


class PatientOut(Schema):
    id = fields.Integer()
    prescriber_id = fields.Integer()
    first_name = fields.String()
    last_name = fields.String()
    date_of_birth = fields.Date()
    can_get_pregnant = fields.Boolean()
    rems_patient_id = fields.String(allow_none=True)
    enrolled_on = fields.Date()
    home_pregnancy_tests_allowed = fields.Boolean()
    status = fields.String()
    created_at = Instant()
    # Where it came in: web, api, fhir, ncpdp or system; null for records kept before sources were.
    source = fields.String(allow_none=True, dump_only=True)
