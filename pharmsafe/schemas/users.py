from __future__ import annotations

from marshmallow import Schema, fields, validate

from pharmsafe.models.users import ROLES
from pharmsafe.schemas.common import Id, Instant, StrictBoolean, one_of


class UserIn(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    role = one_of(*ROLES, required=True)
    prescriber_id = Id(allow_none=True)
    pharmacy_id = Id(allow_none=True)
    password = fields.String(validate=validate.Length(min=8, max=1024), allow_none=True)
    issue_token = StrictBoolean()


class UserPatch(Schema):
    active = StrictBoolean()
    role = one_of(*ROLES)


class UserOut(Schema):
    id = fields.Integer()
    email = fields.String()
    role = fields.String()
    prescriber_id = fields.Integer(allow_none=True)
    pharmacy_id = fields.Integer(allow_none=True)
    active = fields.Boolean()
    created_at = Instant()
    api_token = fields.String()


class TokenOut(Schema):
    id = fields.Integer()
    user_id = fields.Integer()
    created_at = Instant()
    revoked_at = Instant(allow_none=True)
    api_token = fields.String()
