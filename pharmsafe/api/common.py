"""Authentication, role checks, body loading and pagination shared by the API views."""
from __future__ import annotations

import base64
import binascii
import functools
import json
from decimal import Decimal
from typing import Any

from flask import g, request
from marshmallow import Schema, ValidationError
from sqlalchemy import Select

from pharmsafe.models import User
from pharmsafe.services.errors import DomainError, Forbidden
from pharmsafe.services.users import user_for_token
from pharmsafe.transactions import get_session, make_ctx

PAGE_SIZE = 50


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


def current_user() -> User:
    if "api_user" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        user = user_for_token(get_session(), token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if user is None:
            raise Unauthorized("A valid API token is required: send 'Authorization: Bearer <token>'.")
        g.api_user = user
    return g.api_user


def roles(*allowed: str):
    """Authenticate, then refuse roles not in ``allowed`` (403), before the body is read."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            user = current_user()
            if user.role not in allowed:
                raise Forbidden(f"The {user.role} role may not do this.")
            return view(*args, **kwargs)

        wrapper.allowed_roles = allowed
        return wrapper

    return decorator


def ctx():
    return make_ctx(current_user().actor)


def load_body(schema: Schema, *, partial: bool = False) -> dict[str, Any]:
    request.get_json(force=True, silent=False)  # malformed JSON: 400, as Flask answers it
    # Read again keeping numbers exact: a fraction or an exponent becomes a Decimal, never a binary
    # float (1e-400 would arrive as 0.0, and 21 significant digits as 17).
    data = json.loads(request.get_data(cache=True), parse_float=Decimal)
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
