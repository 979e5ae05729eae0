"""Recompute the chain and compare it with the latest checkpoint."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmsafe.audit.chain import GENESIS_HASH, append_event, chain_head, compute_hash, instant_text, lock_chain
from pharmsafe.models import AuditCheckpoint, AuditEvent

BATCH = 5000


@dataclass(frozen=True)
class Verification:
    intact: bool
    events: int
    head: str
    first_broken: int | None
    reason: str | None = None

    def to_dict(self) -> dict:
        return {"intact": self.intact, "events": self.events, "head": self.head, "first_broken": self.first_broken}


RAW_SELECT = ("SELECT id, occurred_at, action, actor, subject, policy, payload, prev_hash, hash "
              "FROM audit_events ORDER BY id")


def verify_chain(session: Session) -> Verification:
    """Walk the chain in id order, streamed (constant memory). An event is broken when its id is
    not the previous id + 1, its prev_hash is not the previous hash, or its hash does not match its
    contents. Then the latest checkpoint must still be part of the chain.

    The rows are read as the driver gives them (no ORM, no type conversion): this is the hot loop
    of every verification."""
    checkpoint = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)).first()
    connection = session.connection().execution_options(stream_results=True, yield_per=BATCH)
    rows = connection.exec_driver_sql(RAW_SELECT)
    try:
        return _walk(rows, checkpoint)
    finally:
        rows.close()


def _walk(rows, checkpoint: AuditCheckpoint | None) -> Verification:
    expected_id, prev_hash, count = 1, GENESIS_HASH, 0
    checkpoint_id = checkpoint.head_event_id if checkpoint is not None else None
    checkpoint_hash = None
    for id_, occurred_at, action, actor, subject, policy, payload, row_prev, row_hash in rows:
        if id_ != expected_id:
            return Verification(False, count, prev_hash, expected_id if id_ > expected_id else id_,
                                f"event {expected_id} is missing" if id_ > expected_id else "ids out of order")
        if row_prev != prev_hash:
            return Verification(False, count, prev_hash, id_, "prev_hash does not match the previous event")
        recomputed = compute_hash(id=id_, occurred_at=instant_text(occurred_at), action=action, actor=actor,
                                  subject=subject, policy=policy, payload=payload, prev_hash=row_prev)
        if recomputed != row_hash:
            return Verification(False, count, prev_hash, id_, "contents do not match the hash")
        if id_ == checkpoint_id:
            checkpoint_hash = row_hash
        prev_hash, expected_id, count = row_hash, id_ + 1, count + 1
    if checkpoint is not None:
        if count < checkpoint.event_count or checkpoint_hash != checkpoint.head_hash:
            return Verification(False, count, prev_hash, min(count + 1, checkpoint.head_event_id),
                                f"the chain no longer reaches checkpoint {checkpoint.id} "
                                f"({checkpoint.event_count} events, head {checkpoint.head_hash[:12]})")
    return Verification(True, count, prev_hash, None)


def record_checkpoint(session: Session, *, actor: str, now: datetime) -> AuditCheckpoint:
    """Record the chain's count and head, then the checkpoint event itself."""
    lock_chain(session)
    head_id, head_hash = chain_head(session)
    count = session.scalar(select(func.count()).select_from(AuditEvent))
    checkpoint = AuditCheckpoint(created_at=now, event_count=count, head_event_id=head_id, head_hash=head_hash)
    session.add(checkpoint)
    session.flush()
    append_event(session, action="audit.checkpoint", actor=actor, subject=f"audit_checkpoint:{checkpoint.id}",
                 now=now, payload={"event_count": count, "head_event_id": head_id, "head_hash": head_hash})
    return checkpoint
