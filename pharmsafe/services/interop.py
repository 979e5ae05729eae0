"""Senders' identifiers (INTEROP.md §6): a FHIR `identifier` or an NCPDP `PrescriberOrderNumber`,
kept under its natural key with the hash of what the record was mapped from.

The same key with the same content is a replay (nothing written); other content is 409 `duplicate`,
unless the sender amends (FHIR status `amended` or `corrected`): then the key moves to the new record
and the caller retracts the old one."""
from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select

from pharmsafe.audit.chain import canonical_json
from pharmsafe.errors import Conflict
from pharmsafe.models import ExternalIdentifier
from pharmsafe.services.context import Ctx


def content_hash(content: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the mapped record (dates, Decimals as text)."""
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def find_external(ctx: Ctx, scope: str, resource_type: str, system: str, value: str) -> ExternalIdentifier | None:
    """The row of this natural key, locked for the rest of the transaction on PostgreSQL."""
    return ctx.session.scalar(select(ExternalIdentifier).where(
        ExternalIdentifier.scope == scope, ExternalIdentifier.resource_type == resource_type,
        ExternalIdentifier.system == system, ExternalIdentifier.value == value).with_for_update())


def replay_or_refuse(row: ExternalIdentifier, digest: str, label: str) -> str:
    """The record a replay names; 409 `duplicate` when the same identifier came with other content."""
    if row.content_hash != digest:
        raise Conflict(f"{label} was already received with other content; send it with status amended (or "
                       "corrected) to replace it.", code="duplicate")
    return row.record


def keep_external(ctx: Ctx, *, scope: str, resource_type: str, system: str, value: str, record: str,
                  digest: str, row: ExternalIdentifier | None = None) -> ExternalIdentifier:
    """Keep the identifier for ``record`` (a new row, or ``row`` moved to the amending record)."""
    if row is None:
        row = ExternalIdentifier(scope=scope, resource_type=resource_type, system=system, value=value,
                                 record=record, content_hash=digest, source=ctx.source, created_at=ctx.now,
                                 updated_at=ctx.now)
        ctx.session.add(row)
    else:
        row.record, row.content_hash, row.updated_at = record, digest, ctx.now
    ctx.session.flush()
    return row


def identifier_of(ctx: Ctx, record: str) -> ExternalIdentifier | None:
    """The sender's identifier a record came in with, if any."""
    return ctx.session.scalar(select(ExternalIdentifier).where(ExternalIdentifier.record == record))
