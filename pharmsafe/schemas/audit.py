from __future__ import annotations

from marshmallow import Schema, fields, validate

from pharmsafe.schemas.common import Instant


class AuditQuery(Schema):
    since = fields.String()
    until = fields.String()
    action = fields.String(validate=validate.Length(min=1, max=64))
    subject = fields.String(validate=validate.Length(min=1, max=64))
    cursor = fields.String()
    format = fields.String(validate=validate.OneOf(("csv", "ndjson", "fhir")))


class AuditEventOut(Schema):
    id = fields.Integer()
    occurred_at = Instant()
    action = fields.String()
    actor = fields.String()
    subject = fields.String()
    policy = fields.String(allow_none=True)
    payload = fields.Dict()
    prev_hash = fields.String()
    hash = fields.String()


class VerificationOut(Schema):
    intact = fields.Boolean()
    events = fields.Integer()
    head = fields.String()
    first_broken = fields.Integer(allow_none=True)
