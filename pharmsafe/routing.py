"""URL converters."""
from __future__ import annotations

from werkzeug.routing import IntegerConverter

# The largest id every table stores on both engines (PostgreSQL INTEGER is signed 32-bit).
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """A positive id within MAX_ID; anything else does not match the route (404)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
