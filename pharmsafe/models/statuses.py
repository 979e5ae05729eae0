"""The statuses records go through, as enums whose values are the stored strings (a StrEnum member
is equal to its value, so a column holds the plain text and a query may use either)."""
from __future__ import annotations

import enum


class PrescriptionStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    AUTHORIZED = "authorized"
    BLOCKED = "blocked"
    DISPENSED = "dispensed"
    EXPIRED = "expired"
    REVERSED = "reversed"


class AuthorizationStatus(enum.StrEnum):
    ACTIVE = "active"
    DISPENSED = "dispensed"
    EXPIRED = "expired"
    REVERSED = "reversed"


class PrescriberStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    INACTIVE = "inactive"


class PatientStatus(enum.StrEnum):
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


def values(status: type[enum.StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in status)
