from __future__ import annotations

from marshmallow import Schema, fields, validate

from pharmsafe.schemas.common import Instant, PageQuery


# (name, max length, pattern): shared with the OpenAPI document's parameters.
AUDIT_FILTERS = (
    ("since", 40, r"^\d{4}-\d{2}-\d{2}(T\S+)?$"),
    ("until", 40, r"^\d{4}-\d{2}-\d{2}(T\S+)?$"),
    ("action", 64, r"^[a-z_]+(\.[a-z_]+)+$"),
    ("subject", 64, r"^[a-z_]+:\S+$"),
)


def _filter(size: int, regex: str) -> fields.String:
    return fields.String(validate=[validate.Length(min=1, max=size),
                                   validate.Regexp(regex, error="Not a valid value for this filter.")])


class AuditFilterQuery(Schema):
    since = _filter(*AUDIT_FILTERS[0][1:])
    until = _filter(*AUDIT_FILTERS[1][1:])
    action = _filter(*AUDIT_FILTERS[2][1:])
    subject = _filter(*AUDIT_FILTERS[3][1:])


class AuditQuery(AuditFilterQuery, PageQuery):
    """GET /audit-events."""


class AuditExportQuery(AuditFilterQuery):
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


class AnchorOut(Schema):
    line = fields.Integer()
    count = fields.Integer()
    head_event_id = fields.Integer()
    head_hash = fields.String()
    anchored_at = fields.String()
    key_id = fields.String()


class VerificationOut(Schema):
    intact = fields.Boolean()
    events = fields.Integer()
    head = fields.String()
    first_broken = fields.Integer(allow_none=True)
    anchor = fields.Nested(AnchorOut, allow_none=True)
    after_anchor = fields.Integer()