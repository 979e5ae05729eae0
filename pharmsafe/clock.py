"""The one place that reads the wall clock.

Everything else takes ``now`` as an argument; the application reads it from the runtime's clock
(``Runtime.clock``), which tests replace with a fixed one.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


def utcnow() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return datetime.now(UTC)


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


class FixedClock:
    """A clock that says what it is told; tests move it explicitly."""

    def __init__(self, now: datetime):
        self.set(now)

    def set(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._now = now.astimezone(UTC)

    def advance(self, **delta) -> None:
        self._now = self._now + timedelta(**delta)

    def now(self) -> datetime:
        return self._now
