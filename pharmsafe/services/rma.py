"""RMA numbers (rulebook §2 "RMA"): normalised once, at the boundary, and used once.

A number is used once any dispense (reversed or not) or any transfer-in carries it; a refused
attempt uses nothing. Two dispenses racing for one number are serialised on the number itself (a
transaction-scoped advisory lock on PostgreSQL; SQLite has one writer at a time), so the loser sees
the winner's row and is refused, and recorded, like any other refused dispense."""
from __future__ import annotations

import hashlib
import unicodedata

from sqlalchemy import select, text, union_all

from pharmsafe.errors import ValidationFailed
from pharmsafe.models import Dispense, TransferIn
from pharmsafe.services.context import Ctx

MAX_LENGTH = 64


def normalise_rma(number: str | None, field: str = "rma_number") -> str | None:
    """NFKC, surrounding white space of any kind removed, upper-cased ("r-9 ", "R-9" and "Ｒ-9" are
    one RMA). Empty afterwards is missing (None); over 64 characters afterwards is a field error."""
    if number is None:
        return None
    normal = unicodedata.normalize("NFKC", number).strip().upper()
    if len(normal) > MAX_LENGTH:
        raise ValidationFailed({field: [f"An RMA number has at most {MAX_LENGTH} characters."]})
    return normal or None


def _lock_key(number: str) -> int:
    return int.from_bytes(hashlib.sha256(b"rma:" + number.encode()).digest()[:8], "big", signed=True)


def rma_in_use(ctx: Ctx, number: str) -> bool:
    """Whether ``number`` (normalised) is already used; on PostgreSQL first waits for any other
    transaction that is about to use it, until that one ends."""
    bind = ctx.session.get_bind()
    if bind.dialect.name == "postgresql":
        ctx.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(number)})
    used = union_all(select(Dispense.id).where(Dispense.rma_number == number),
                     select(TransferIn.id).where(TransferIn.rma_number == number)).limit(1)
    return ctx.session.execute(used).first() is not None
