"""Recompute the chain and compare it with the latest checkpoint."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmsafe.audit.chain import GENESIS_HASH, append_event, chain_head, compute_hash, lock_chain
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


def verify_chain(session: Session) -> Verification:
    """Walk the chain in id order, in batches (constant memory). An event is broken when its id is
    not the previous id + 1, its prev_hash is not the previous hash, or its hash does not match its
    contents. Then the latest checkpoint must still be part of the chain."""
    columns = (AuditEvent.id, AuditEvent.occurred_at, AuditEvent.action, AuditEvent.actor, AuditEvent.subject,
               AuditEvent.policy, AuditEvent.payload, AuditEvent.prev_hash, AuditEvent.hash)
    expected_id, prev_hash, count, after = 1, GENESIS_HASH, 0, 0
    hashes_at: dict[int, str] = {}
    checkpoint = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)).first()
    while True:
        rows = session.execute(select(*columns).where(AuditEvent.id > after).order_by(AuditEvent.id)
                               .limit(BATCH)).all()
        if not rows:
            break
        for row in rows:
            if row.id != expected_id:
                return Verification(False, count, prev_hash, expected_id if row.id > expected_id else row.id,
                                    f"event {expected_id} is missing" if row.id > expected_id else "ids out of order")
            if row.prev_hash != prev_hash:
                return Verification(False, count, prev_hash, row.id, "prev_hash does not match the previous event")
            recomputed = compute_hash(id=row.id, occurred_at=row.occurred_at, action=row.action, actor=row.actor,
                                      subject=row.subject, policy=row.policy, payload=row.payload,
                                      prev_hash=row.prev_hash)
            if recomputed != row.hash:
                return Verification(False, count, prev_hash, row.id, "contents do not match the hash")
            if checkpoint is not None and row.id == checkpoint.head_event_id:
                hashes_at[row.id] = row.hash
            prev_hash, expected_id, count, after = row.hash, row.id + 1, count + 1, row.id
    if checkpoint is not None:
        if count < checkpoint.event_count or hashes_at.get(checkpoint.head_event_id) != checkpoint.head_hash:
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
