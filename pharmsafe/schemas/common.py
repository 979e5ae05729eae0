"""Field types shared by the in and out schemas."""
from __future__ import annotations

import re
from decimal import Decimal
from functools import cache
from zoneinfo import available_timezones

from marshmallow import Schema, ValidationError, fields, validate

from pharmsafe.audit import format_instant
from pharmsafe.gates.units import decimal_from_text, limits_problem
from pharmsafe.http.routing import MAX_ID


class StrictBoolean(fields.Boolean):
    """JSON true or false only: 1, "yes" and "true" are refused."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Number(fields.Decimal):
    """Loads exactly (Decimal); dumps as a JSON number (an integer when whole)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_nan", False)
        super().__init__(**kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        value = Decimal(value)
        return int(value) if value == value.to_integral_value() else float(value)


class PlainNumber(Number):
    """A JSON number or a string holding one, loaded as an exact Decimal within the limits of
    pharmsafe.gates.units (MAX_SIGNIFICANT_DIGITS, MAX_EXPONENT either way); exponent forms ("3E+1",
    "1e-7") are accepted and plain_notation() writes them without one. A JSON number that arrives as
    a float is read through its shortest text (repr), never through binary arithmetic: 1e-7 is
    0.0000001, not 9.99999999999999954748e-8; a whole float (30.0) loads as a whole number (30).
    A leading minus is read so that the field's Range refuses negatives in its own words; a negative
    zero loads as zero. NaN, infinities, booleans, signs other than one leading minus, commas and
    non-ASCII digits are "Not a valid number.". Dumps like Number, as a JSON number."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
            raise self.make_error("invalid")
        if isinstance(value, Decimal):
            number = value if value.is_finite() else None
        elif isinstance(value, int):
            number = Decimal(value)
        else:
            if isinstance(value, float):
                text = repr(value)
                if text.endswith(".0"):
                    text = text[:-2]
            else:
                text = value.strip()
            negative = text.startswith("-")
            number = decimal_from_text(text[1:] if negative else text)
            if number is not None and negative:
                number = number.copy_negate()
        if number is None:
            raise self.make_error("invalid")
        problem = limits_problem(number)
        if problem:
            raise ValidationError(problem)
        return number.copy_abs() if number.is_zero() else number


class Instant(fields.DateTime):
    """An ISO 8601 instant in UTC with a Z suffix."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else format_instant(value)


# Control characters other than tab, line feed and carriage return, and unpaired UTF-16 surrogates
# (JSON's "\\ud800" escapes): no database can store NUL or a lone surrogate in text, and the others
# have no place in a name, a number or a reason.
UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def storable(value: str) -> None:
    if UNSTORABLE.search(value):
        raise ValidationError("Must not contain control characters (other than tab and line breaks) "
                              "or unpaired surrogates.")


def Text(max_length: int = 100, **kwargs) -> fields.String:
    """Text of 1..max_length characters, kept verbatim."""
    return fields.String(validate=[validate.Length(min=1, max=max_length), storable], **kwargs)


def Id(**kwargs) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


def one_of(*choices: str, **kwargs) -> fields.String:
    return fields.String(validate=validate.OneOf(choices), **kwargs)


@cache
def known_time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def valid_time_zone(value: str) -> None:
    """One of the IANA zone names the system knows; the text is never used as a file path (a long or
    odd one made ZoneInfo raise OSError, found by the long fuzzing profile)."""
    if value not in known_time_zones():
        raise ValidationError("Not a known IANA time zone (for example America/New_York).")


def pattern(regex: str, message: str):
    return validate.Regexp(re.compile(regex), error=message)


class ErrorBody(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    fields_ = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), data_key="fields")


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBody, required=True)


CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"


class PageQuery(Schema):
    """?cursor= on every list."""
    cursor = fields.String(validate=[validate.Length(min=1, max=200),
                                     validate.Regexp(CURSOR_PATTERN, error="Not a cursor this API issued.")])
