"""Error bodies of the JSON API: ``{"error": {"code", "message", "fields"?, ...}}``. A leaf module: it
imports nothing of the service, so that anything at the edge can build an error body."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}

# What a commit the database refused answers, wherever it is caught.
CONFLICT = (409, "conflict", "The change conflicts with the current state; reload and try again.")
UNAVAILABLE = (503, "unavailable", "The database is busy or unreachable; try again.")
INTERNAL = (500, "internal_error", "Something went wrong; nothing was saved.")


def error_body(code: str, message: str, fields: Mapping[str, list[str]] | None = None,
               details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = dict(fields)
    if details:
        body.update(details)
    return {"error": body}


def flatten_messages(messages, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow nests messages for lists and nested objects; the API reports them per field path."""
    out: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_messages(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = [str(v) for v in value]
        else:
            out[name] = [str(value)]
    return out
