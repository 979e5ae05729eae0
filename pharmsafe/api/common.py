"""Body loading and pagination shared by the API views; authentication and role checks are the
HTTP edge's (pharmsafe.http.tokens), shared with the FHIR facade."""

from __future__ import annotations

import base64
import binascii
import json
import re
from decimal import Decimal
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError
from sqlalchemy import Select

from pharmsafe.errors import MalformedBody
from pharmsafe.http.tokens import ctx, current_user, roles
from pharmsafe.http.unit import get_session

# The edge's authentication is used by every API view through this module.
__all__ = ["PAGE_SIZE", "ctx", "current_user", "json_body", "load_body", "load_query", "paginate", "roles"]

PAGE_SIZE = 50


# No request body of this API nests deeper than three levels. A body nested far deeper (a thousand
# arrays inside each other) exhausts the parser's recursion: it is refused here, as malformed, before
# anything else reads it.
MAX_JSON_DEPTH = 32
_TOO_DEEP = (f"Arrays and objects are nested more than {MAX_JSON_DEPTH} levels deep; no request of this "
             "API needs more than a few.")


# A JSON string (to its closing quote, or to the end of a body that never closes it) or a bracket.
# The string's loop is possessive and the token always matches once begun, so one pass over the text
# is linear however the quotes and backslashes are arranged.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)


def json_text(raw: bytes) -> str:
    """The body as text, in the encoding JSON allows it to come in (UTF-8, -16 or -32, as json.loads
    detects it); bytes that are not text in it are a 400."""
    try:
        return raw.decode(json.detect_encoding(raw))
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"it is not text in {exc.encoding} ({exc.reason} at byte {exc.start}).") from None


def nested_too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the text's arrays and objects nest deeper than ``limit`` (a top-level object is level
    1), read before any parser sees it: a parser that recurses a thousand levels deep raises
    RecursionError, and on CPython 3.11 the interpreter's recursion count can stay off afterwards,
    so that a later compile() of a template fails. Brackets inside strings don't count."""
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


def json_body() -> Any:
    """The body parsed as JSON, keeping numbers exact: a fraction or an exponent becomes a Decimal,
    never a binary float (1e-400 would arrive as 0.0, and 21 significant digits as 17). Malformed or
    too deeply nested JSON is a 400 with the error shape."""
    text = json_text(request.get_data(cache=True))
    if nested_too_deep(text):
        raise MalformedBody(_TOO_DEEP)
    try:
        data = json.loads(text, parse_float=Decimal)
    except RecursionError:  # not reached after the check above; kept so that it could never be a 500
        raise MalformedBody(_TOO_DEEP) from None
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
