"""Body loading and pagination shared by the API views; authentication and role checks are the
HTTP edge's (pharmsafe.http.tokens), shared with the FHIR facade."""

from __future__ import annotations

import base64
import binascii
import json
from decimal import Decimal
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError
from sqlalchemy import Select

from pharmsafe.errors import MalformedBody
from pharmsafe.http.jsonbody import TOO_DEEP, json_text, nested_too_deep
from pharmsafe.http.tokens import ctx, current_user, roles
from pharmsafe.http.unit import get_session

# The edge's authentication is used by every API view through this module.
__all__ = ["PAGE_SIZE", "ctx", "current_user", "json_body", "json_text", "load_body", "load_query", "nested_too_deep",
           "paginate", "roles"]

PAGE_SIZE = 50


def json_body() -> Any:
    """The body parsed as JSON, keeping numbers exact: a fraction or an exponent becomes a Decimal,
    never a binary float (1e-400 would arrive as 0.0, and 21 significant digits as 17). Malformed or
    too deeply nested JSON is a 400 with the error shape."""
    text = json_text(request.get_data(cache=True))
    if nested_too_deep(text):
        raise MalformedBody(TOO_DEEP)
    try:
        data = json.loads(text, parse_float=Decimal)
    except RecursionError:  # not reached after the check above; kept so that it could never be a 500
        raise MalformedBody(TOO_DEEP) from None
    except ValueError as exc:
        raise MalformedBody(f"{exc}.") from None
    return data


def load_body(schema: Schema, *, partial: bool = False) -> dict[str, Any]:
    data = json_body()
    if not isinstance(data, dict):
        raise ValidationError({"_schema": ["The body must be a JSON object."]})
    return schema.load(data, partial=partial)


def load_query(schema: Schema) -> dict[str, Any]:
    """Query parameters: unknown ones and repeated ones are refused like unknown body fields."""
    repeated = [k for k, values in request.args.lists() if len(values) > 1]
    if repeated:
        raise ValidationError({k: ["Give this parameter once."] for k in repeated})
    return schema.load(request.args.to_dict())


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind == "id" and value.isdigit():
            return int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise ValidationError({"cursor": ["Not a cursor this API issued; use the 'next' value of a previous page."]})


def paginate(stmt: Select, id_column, cursor: str | None, dump) -> dict[str, Any]:
    """Newest first, PAGE_SIZE a page, keyset on id."""
    after = decode_cursor(cursor)
    if after is not None:
        stmt = stmt.where(id_column < after)
    rows = list(get_session().scalars(stmt.order_by(id_column.desc()).limit(PAGE_SIZE + 1)).unique())
    page = rows[:PAGE_SIZE]
    return {"items": [dump(r) for r in page],
            "next": encode_cursor(page[-1].id) if len(rows) > PAGE_SIZE else None}
