"""Transfers-in at the boundary (DESIGN.md §5)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from pharmsafe.schemas.common import Number, pattern, storable
from pharmsafe.schemas.evidence import _EvidenceOut


class TransferInIn(Schema):
    dispensed_on = fields.Date(required=True)
    days_supply = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=365))
    quantity = Number(required=True, validate=validate.Range(min=0, min_inclusive=False, max=100000))
    source_ncpdp_id = fields.String(required=True, validate=pattern(r"^\d{7}\Z", "Must be 7 digits."))
    # Normalised by the service before its length counts (at most 64 characters then).
    rma_number = fields.String(allow_none=True, validate=[validate.Length(max=256), storable])


class TransferInOut(_EvidenceOut):
    pharmacy_id = fields.Integer()
    dispensed_on = fields.Date()
    days_supply = fields.Integer()
    quantity = Number()
    source_ncpdp_id = fields.String()
    rma_number = fields.String(allow_none=True)

