"""The hash chain: the only writer of audit events.

Each event's hash is SHA-256 over the canonical JSON of its own fields (id included, so rows cannot
be renumbered) and the previous event's hash. Ids are assigned here as head + 1 while the chain is
locked, so the chain is gap-free and a missing row is visible as a missing id.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from json.encoder import encode_basestring as _quote
from typing import Any

from sqlalchemy import event, insert, select, text
from sqlalchemy.orm import Session

from pharmsafe.models import AuditCheckpoint, AuditEvent

GENESIS_HASH = "0" * 64
# An arbitrary constant: the key of the PostgreSQL advisory lock that serializes appends.
CHAIN_LOCK_KEY = 7_301_442_001
# Where audit_batch keeps the events it holds back, in Session.info.
BATCH_KEY = "pharmsafe.audit_batch"
# Where the session's changes came in (set by Ctx): every payload appended in it carries it as
# `source` unless the payload names its own.
SOURCE_KEY = "pharmsafe.source"

# Built once: each append runs them, and building a statement costs more than running these.
_AUDIT = AuditEvent.__table__
_LOCK = text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=CHAIN_LOCK_KEY)
_HEAD = select(_AUDIT.c.id, _AUDIT.c.hash).order_by(_AUDIT.c.id.desc()).limit(1)
_INSERT = insert(_AUDIT)


class AuditImmutableError(RuntimeError):
    """Raised when code tries to change or remove an audit event."""


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def format_instant(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime in an audit event")
    value = value.astimezone(UTC)
    spec = "microseconds" if value.microsecond else "seconds"
    return value.isoformat(timespec=spec).replace("+00:00", "Z")


def compute_hash(*, id: int, occurred_at: datetime | str, action: str, actor: str, subject: str,
                 policy: str | None, payload: str, prev_hash: str) -> str:
    """SHA-256 of the canonical JSON of the event's fields and the previous hash.

    The body is written out by hand in sorted-key order because this runs once per event on every
    verification; it is byte for byte what canonical_json gives for the same dict (a test holds the
    two together)."""
    instant = occurred_at if isinstance(occurred_at, str) else format_instant(occurred_at)
    body = (f'{{"action":{_quote(action)},"actor":{_quote(actor)},"id":{int(id)},'
            f'"occurred_at":{_quote(instant)},"payload":{_quote(payload)},'
            f'"policy":{"null" if policy is None else _quote(policy)},"prev_hash":{_quote(prev_hash)},'
            f'"subject":{_quote(subject)}}}')
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def instant_text(value: datetime | str) -> str:
    """format_instant for a value read straight from the driver: a datetime (PostgreSQL), or the
    text SQLAlchemy writes to SQLite ("2026-11-01 00:00:00.000000", UTC)."""
    if isinstance(value, datetime):
        return format_instant(value if value.tzinfo else value.replace(tzinfo=UTC))
    if len(value) == 26 and value[10] == " " and value[19] == ".":
        fraction = value[20:]
        return f"{value[:10]}T{value[11:19]}{'' if fraction == '000000' else '.' + fraction}Z"
    return format_instant(datetime.fromisoformat(value).replace(tzinfo=UTC))


def event_hash(ev: AuditEvent) -> str:
    return compute_hash(id=ev.id, occurred_at=ev.occurred_at, action=ev.action, actor=ev.actor,
                        subject=ev.subject, policy=ev.policy, payload=ev.payload, prev_hash=ev.prev_hash)


def lock_chain(session: Session) -> None:
    """Serialize appends. On PostgreSQL a transaction-scoped advisory lock; on SQLite every write
    transaction already holds the database's single write lock from BEGIN IMMEDIATE."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK)


def chain_head(session: Session) -> tuple[int, str]:
    row = session.execute(_HEAD).first()
    return (row[0], row[1]) if row else (0, GENESIS_HASH)


@contextmanager
def audit_batch(session: Session) -> Iterator[None]:
    """Hold back the events appended inside the block and append them together at its end, in the
    same order and the same transaction: one read of the chain head and one INSERT instead of one
    of each per event, and on PostgreSQL the chain lock taken only then, for the rest of the
    transaction, instead of from the first event. Events appended inside have no id yet, so
    append_event returns None there. An exception discards them with the transaction."""
    if BATCH_KEY in session.info:
        yield
        return
    pending: list[dict[str, Any]] = []
    session.info[BATCH_KEY] = pending
    try:
        yield
    finally:
        del session.info[BATCH_KEY]
    _append_rows(session, pending)


def with_source(session: Session, payload: dict[str, Any] | None) -> dict[str, Any]:
    source = session.info.get(SOURCE_KEY)
    if source is None or (payload and "source" in payload):
        return payload or {}
    return {**(payload or {}), "source": source}


def append_event(session: Session, *, action: str, actor: str, subject: str, now: datetime,
                 payload: dict[str, Any] | None = None, policy: str | None = None) -> AuditEvent | None:
    """Append one event in the caller's transaction (it commits with the change it records)."""
    payload = with_source(session, payload)
    pending = session.info.get(BATCH_KEY)
    if pending is not None:
        pending.append({"action": action, "actor": actor, "subject": subject, "now": now,
                        "payload": payload, "policy": policy})
        return None
    session.flush()
    lock_chain(session)
    head_id, head_hash = chain_head(session)
    payload_text = canonical_json(payload or {})
    ev = AuditEvent(id=head_id + 1, occurred_at=now.astimezone(UTC), action=action,
                    actor=actor, subject=subject, policy=policy, payload=payload_text,
                    prev_hash=head_hash)
    ev.hash = event_hash(ev)
    session.add(ev)
    session.flush()
    return ev


def append_events(session: Session, events: list[dict[str, Any]], *, actor: str, now: datetime) -> int:
    """Append many events at once (one INSERT): each dict has action, subject, payload and policy.

    The chain is the same as if each had been appended alone."""
    rows = [{**event, "payload": with_source(session, event.get("payload")), "actor": actor, "now": now}
            for event in events]
    pending = session.info.get(BATCH_KEY)
    if pending is not None:
        pending.extend(rows)
        return len(rows)
    return _append_rows(session, rows)


def _append_rows(session: Session, events: list[dict[str, Any]]) -> int:
    if not events:
        return 0
    session.flush()
    lock_chain(session)
    head_id, prev_hash = chain_head(session)
    rows = []
    for offset, item in enumerate(events, start=1):
        row = {"id": head_id + offset, "occurred_at": item["now"].astimezone(UTC),
               "action": item["action"], "actor": item["actor"],
               "subject": item["subject"], "policy": item.get("policy"),
               "payload": canonical_json(item.get("payload") or {}), "prev_hash": prev_hash}
        row["hash"] = prev_hash = compute_hash(**row)
        rows.append(row)
    session.execute(_INSERT, rows)
    return len(rows)


def event_to_dict(ev: AuditEvent) -> dict[str, Any]:
    return {
        "id": ev.id,
        "occurred_at": format_instant(ev.occurred_at),
        "action": ev.action,
        "actor": ev.actor,
        "subject": ev.subject,
        "policy": ev.policy,
        "payload": json.loads(ev.payload),
        "prev_hash": ev.prev_hash,
        "hash": ev.hash,
    }


def _name(target) -> str:
    return f"audit checkpoint {target.id}" if isinstance(target, AuditCheckpoint) else f"audit event {target.id}"


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditCheckpoint, "before_update")
def _refuse_update(_mapper, _connection, target):
    raise AuditImmutableError(f"{_name(target)} is append-only and cannot be changed")


@event.listens_for(AuditEvent, "before_delete")
@event.listens_for(AuditCheckpoint, "before_delete")
def _refuse_delete(_mapper, _connection, target):
    raise AuditImmutableError(f"{_name(target)} is append-only and cannot be deleted")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk(state):
    if (state.is_update or state.is_delete) and state.bind_mapper is not None \
            and state.bind_mapper.class_ in (AuditEvent, AuditCheckpoint):
        raise AuditImmutableError("the audit trail is append-only: bulk UPDATE/DELETE refused")
