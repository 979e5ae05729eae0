"""Form data in, the API's own input schemas for validation, field messages out.

A form posts strings; they are turned into the types the marshmallow schemas expect (an integer
field gets an int, a checkbox a bool, an empty box None) and loaded with the same schema the API
uses, so a page and the API accept and refuse exactly the same input. Anything that does not convert
is passed on as typed, for the schema to refuse with its own message."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import request
from marshmallow import ValidationError

from pharmsafe.errors import DomainError
from pharmsafe.http.unit import mark_persist

_INTEGER = re.compile(r"[+-]?\d{1,18}")
# The narrowest id column (INTEGER on PostgreSQL): a larger "id" cannot name a record, and would make
# the database refuse the query instead of the lookup finding nothing.
MAX_RECORD_ID = 2**31 - 1
# marshmallow's words for an absent value, as a person reads them on a form.
_REQUIRED = {"Missing data for required field.", "Field may not be null."}
REQUIRED_MESSAGE = "This field is required."


class Form:
    """What was typed (kept for re-display), field messages, and a message for the whole form."""

    def __init__(self, values: Mapping[str, Any] | None = None, *, errors: Mapping[str, list[str]] | None = None,
                 message: str | None = None):
        self.values: dict[str, Any] = dict(values or {})
        self.errors: dict[str, list[str]] = {k: list(v) for k, v in (errors or {}).items()}
        self.message = message
        self.status = 200
        self.secrets: dict[str, str] = {}

    @classmethod
    def from_request(cls, *, lists: Iterable[str] = (), secret: Iterable[str] = ()) -> Form:
        """The posted fields; ``lists`` are multi-valued (checkbox groups); ``secret`` fields
        (passwords) are read but never shown again."""
        lists, secret = set(lists), set(secret)
        values: dict[str, Any] = {name: [] for name in lists}
        for name in request.form:
            if name == "csrf_token":
                continue
            values[name] = request.form.getlist(name) if name in lists else request.form.get(name, "")
        form = cls(values)
        form.secrets = {name: form.values.pop(name, "") for name in secret}
        return form

    # What the template shows.
    def value(self, name: str, default: Any = "") -> Any:
        value = self.values.get(name)
        return default if value is None else value

    def selected(self, name: str, option: Any) -> bool:
        value = self.values.get(name)
        if isinstance(value, (list, tuple, set)):
            return str(option) in {str(v) for v in value}
        return value is not None and str(value) == str(option)

    def errors_for(self, name: str) -> list[str]:
        return self.errors.get(name, [])

    @property
    def invalid(self) -> bool:
        return bool(self.errors or self.message)

    # Conversions from the posted strings.
    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        if isinstance(value, str):
            value = value.strip()
        return value or None

    def secret(self, name: str) -> str | None:
        return self.secrets.get(name) or None

    def integer(self, name: str) -> int | str | None:
        value = self.text(name)
        return int(value) if isinstance(value, str) and _INTEGER.fullmatch(value) else value

    def record_id(self, name: str) -> int | str | None:
        """A record's id from a select or a hidden field; one that cannot exist is left as typed,
        for the schema to refuse."""
        value = self.integer(name)
        return value if not isinstance(value, int) or 1 <= value <= MAX_RECORD_ID else str(value)

    def choice(self, name: str, mapping: Mapping[str, Any]) -> Any:
        value = self.text(name)
        return mapping.get(value, value) if value is not None else None

    def checkbox(self, name: str) -> bool:
        return self.text(name) is not None

    def many(self, name: str) -> list[str]:
        value = self.values.get(name) or []
        return [v.strip() for v in value if isinstance(v, str) and v.strip()]

    # Outcomes.
    def add_errors(self, errors: Mapping[str, Any]) -> None:
        for name, messages in flatten(errors).items():
            self.errors.setdefault(name, []).extend(m for m in messages if m not in self.errors.get(name, []))

    def refuse(self, exc: Exception) -> None:
        """Record why the input was refused; the response status follows the API's (422 or 409)."""
        if isinstance(exc, ValidationError):
            messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
            self.add_errors(messages)
            self.status = 422
        else:
            assert isinstance(exc, DomainError)
            if exc.persist:
                mark_persist()
            if exc.fields:
                self.add_errors(exc.fields)
            if exc.status != 422 or not exc.fields:
                self.message = exc.message
            self.status = exc.status
        general = self.errors.pop("_schema", None)
        if general:
            self.message = " ".join(general)
        if self.errors and not self.message:
            self.message = "Some fields need attention: see the messages next to them."


def flatten(messages: Mapping[str, Any]) -> dict[str, list[str]]:
    """marshmallow nests messages for lists (per index); a form shows them at the field itself."""
    out: dict[str, list[str]] = {}
    for name, value in messages.items():
        out[str(name)] = [REQUIRED_MESSAGE if m in _REQUIRED else m for m in _leaves(value)]
    return out


def _leaves(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        return [m for v in value.values() for m in _leaves(v)]
    if isinstance(value, (list, tuple)):
        return [m for v in value for m in _leaves(v)]
    return [str(value)]


def attempt(form: Form, action: Callable[[], Any]) -> tuple[bool, Any]:
    """Run ``action`` (schema load and service call); on refusal fill ``form`` and return (False, None)."""
    try:
        return True, action()
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status in (403, 404):
            raise
        form.refuse(exc)
        return False, None
