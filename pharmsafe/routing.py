"""URL converters."""
from __future__ import annotations

from werkzeug.routing import IntegerConverter

# The largest id both engines store (SQLite INTEGER and PostgreSQL BIGINT are signed 64-bit).
MAX_ID = 2**63 - 1


class IdConverter(IntegerConverter):
    """A positive 64-bit id; anything else does not match the route (404)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
