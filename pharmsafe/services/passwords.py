"""Password hashing: argon2id, with the cost chosen by configuration and nothing hashed at import.

Production uses argon2-cffi's defaults (RFC 9106's second recommendation: t=3, m=64 MiB, p=4), above
OWASP's minimum (m=19 MiB, t=2, p=1). The tests use a cheap profile (``PHARMSAFE_PASSWORD_HASHING=fast``,
refused in production): a hash carries its own parameters, so a hash made cheaply
verifies cheaply and a production hash still verifies at production cost."""
from __future__ import annotations

import functools
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


@dataclass(frozen=True)
class PasswordHashing:
    time_cost: int
    memory_cost: int  # KiB
    parallelism: int

    def hash(self, password: str) -> str:
        return _hasher(self).hash(_password_bytes(password))

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches ``password_hash``. With no hash (an unknown email, an account
        without a password) a dummy hash of this profile is verified all the same, so that a wrong
        email costs the time a wrong password does."""
        try:
            matched = _hasher(self).verify(password_hash or _dummy_hash(self), _password_bytes(password))
        except (VerificationError, InvalidHashError):
            return False
        return matched and password_hash is not None


PRODUCTION = PasswordHashing(time_cost=3, memory_cost=64 * 1024, parallelism=4)
# For the test suite only: the smallest cost argon2 accepts with one lane.
FAST = PasswordHashing(time_cost=1, memory_cost=8, parallelism=1)
PROFILES = {"argon2id": PRODUCTION, "fast": FAST}


def _password_bytes(password: str) -> bytes:
    # UTF-8, with a lone surrogate (JSON's "\ud800") kept as its code unit rather than refused:
    # any text a person can type hashes, and the same text always hashes the same.
    return password.encode("utf-8", "surrogatepass")


@functools.cache
def _hasher(profile: PasswordHashing) -> PasswordHasher:
    return PasswordHasher(time_cost=profile.time_cost, memory_cost=profile.memory_cost,
                          parallelism=profile.parallelism)


@functools.cache
def _dummy_hash(profile: PasswordHashing) -> str:
    return _hasher(profile).hash(b"not-a-real-password")
