from __future__ import annotations

import re
from datetime import date

from marshmallow import Schema, ValidationError, fields, validate

from pharmsafe.schemas.common import Instant, PageQuery, storable

# Printable text only: no space, no control character (NUL reached PostgreSQL, which refuses it).
_VISIBLE = r"[^\s\x00-\x1f\x7f]"
_WHEN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T" + _VISIBLE + r"+)?$"

# (name, max length, pattern): shared with the OpenAPI document's parameters.
AUDIT_FILTERS = (
    ("since", 40, _WHEN),
    ("until", 40, _WHEN),
    ("action", 64, r"^[a-z_]+(\.[a-z_]+)+$"),
    ("subject", 64, r"^[a-z_]+:" + _VISIBLE + r"+$"),
    # Where the change came in (DESIGN.md §2): one of pharmsafe.services.context.SOURCES.
    ("source", 8, r"^(web|api|fhir|ncpdp|system)$"),
)

# The days a filter may name: wide enough for any trail, and far enough from the calendar's ends
# (0001-01-01, 9999-12-31) that the day after, or an instant moved to UTC, still exists.
EARLIEST_DAY, LATEST_DAY = date(1900, 1, 1), date(9998, 12, 31)


def within_calendar(value: str) -> None:
    """since/until: the day it names lies between EARLIEST_DAY and LATEST_DAY (its format is judged
    when the filters are parsed)."""
    try:
        day = date.fromisoformat(value[:10])
    except ValueError:
        return
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ValidationError(f"Must lie between {EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}.")


def _filter(size: int, regex: str, *more) -> fields.String:
    matcher = re.compile(regex)

    def check(value: str) -> None:
        storable(value)  # the control characters' own message, rather than the pattern's
        if not matcher.match(value):
            raise ValidationError("Not a valid value for this filter.")
        for validator in more:
            validator(value)

    return fields.String(validate=[validate.Length(min=1, max=size), check])


class AuditFilterQuery(Schema):
    since = _filter(*AUDIT_FILTERS[0][1:], within_calendar)
    until = _filter(*AUDIT_FILTERS[1][1:], within_calendar)
    action = _filter(*AUDIT_FILTERS[2][1:])
    subject = _filter(*AUDIT_FILTERS[3][1:])
    source = _filter(*AUDIT_FILTERS[4][1:])


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
