"""Recompute the chain and compare it with the latest checkpoint and, where anchoring is configured,
with the signed anchors of the anchor file (pharmsafe.audit.anchor)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmsafe.audit.anchor import Anchor, AnchorError, Anchoring, latest_anchor, read_anchors
from pharmsafe.audit.chain import GENESIS_HASH, append_event, chain_head, compute_hash, instant_text, lock_chain
from pharmsafe.models import AuditCheckpoint, AuditEvent

BATCH = 5000
# verify_chain's default: the anchoring of the Flask app in context (none outside one).
_READ_FILE: Any = object()


@dataclass(frozen=True)
class Verification:
    intact: bool
    events: int
    head: str
    first_broken: int | None
    reason: str | None = None
    # The latest anchor, the one the chain was checked against (None: anchoring off or no anchor yet).
    anchor: Anchor | None = None

    @property
    def after_anchor(self) -> int:
        """Events that no anchor vouches for yet: those after the latest anchor (all, without one)."""
        return max(self.events - (self.anchor.count if self.anchor else 0), 0)

    def to_dict(self) -> dict:
        return {"intact": self.intact, "events": self.events, "head": self.head, "first_broken": self.first_broken,
                "anchor": self.anchor.to_dict() if self.anchor else None, "after_anchor": self.after_anchor}


COLUMNS = "id, occurred_at, action, actor, subject, policy, payload, prev_hash, hash"
RAW_SELECT = f"SELECT {COLUMNS} FROM audit_events ORDER BY id"


def verify_chain(session: Session, anchoring: Anchoring | None = None, *, since_anchor: bool = False,
                 _latest: Anchor | None = _READ_FILE) -> Verification:
    """Walk the chain in id order, streamed (constant memory). An event is broken when its id is
    not the previous id + 1, its prev_hash is not the previous hash, or its hash does not match its
    contents. Then the latest checkpoint must still be part of the chain.

    With anchoring, every line of the anchor file must carry a valid signature and agree with the
    chain (the event it names has the hash it signed), and the chain must reach the latest anchor:
    so a chain edited and re-hashed, or cut, up to an anchor fails. ``since_anchor`` checks only the
    latest line's signature, that the event it names still has its hash, and the events after it.

    The rows are read as the driver gives them (no ORM, no type conversion): this is the hot loop
    of every verification."""
    if since_anchor and anchoring is None:
        raise AnchorError("verifying since the latest anchor needs anchoring: set PHARMSAFE_AUDIT_ANCHOR_FILE "
                          "and PHARMSAFE_AUDIT_SIGNING_KEY_FILE (or PHARMSAFE_AUDIT_VERIFY_KEY_FILE).")
    checkpoint = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)).first()
    anchors: list[Anchor] = []
    file_problem: AnchorError | None = None
    if anchoring is not None:
        try:
            if since_anchor:
                latest = latest_anchor(anchoring) if _latest is _READ_FILE else _latest
                anchors = [latest] if latest is not None else []
            else:
                anchors = read_anchors(anchoring)
        except AnchorError as exc:  # a tampered, foreign or unreadable anchor file: fail closed
            file_problem = exc
    connection = session.connection().execution_options(stream_results=True, yield_per=BATCH)
    if since_anchor and anchors:
        result = _since(connection, anchors[-1], checkpoint)
    else:
        rows = connection.exec_driver_sql(RAW_SELECT)
        try:
            result = _walk(rows, checkpoint, anchors)
        finally:
            rows.close()
    if file_problem is not None and result.intact:
        result = replace(result, intact=False, reason=str(file_problem))
    return result


def _named(anchor: Anchor) -> str:
    return f"anchor line {anchor.line}" if anchor.line else "the latest anchor"


def _walk(rows, checkpoint: AuditCheckpoint | None, anchors: list[Anchor], *, start_id: int = 1,
          prev_hash: str = GENESIS_HASH, count: int = 0) -> Verification:
    expected_id = start_id
    latest = anchors[-1] if anchors else None
    by_id: dict[int, list[Anchor]] = {}
    for anchor in anchors:
        by_id.setdefault(anchor.head_event_id, []).append(anchor)
    vouched = start_id - 1  # the last event an anchor agreed with (re-hashing starts after it)
    checkpoint_id = checkpoint.head_event_id if checkpoint is not None else None
    checkpoint_hash = None
    for id_, occurred_at, action, actor, subject, policy, payload, row_prev, row_hash in rows:
        if id_ != expected_id:
            return Verification(False, count, prev_hash, expected_id if id_ > expected_id else id_,
                                f"event {expected_id} is missing" if id_ > expected_id else "ids out of order",
                                latest)
        if row_prev != prev_hash:
            return Verification(False, count, prev_hash, id_, "prev_hash does not match the previous event", latest)
        recomputed = compute_hash(id=id_, occurred_at=instant_text(occurred_at), action=action, actor=actor,
                                  subject=subject, policy=policy, payload=payload, prev_hash=row_prev)
        if recomputed != row_hash:
            return Verification(False, count, prev_hash, id_, "contents do not match the hash", latest)
        if id_ in by_id:
            for anchor in by_id[id_]:
                if anchor.head_hash != row_hash or anchor.count != count + 1:
                    return Verification(
                        False, count, prev_hash, vouched + 1,
                        f"the chain disagrees with {_named(anchor)} (event {id_}, head "
                        f"{anchor.head_hash[:12]}): events {vouched + 1} to {id_} were changed and re-hashed",
                        latest)
            vouched = id_
        if id_ == checkpoint_id:
            checkpoint_hash = row_hash
        prev_hash, expected_id, count = row_hash, id_ + 1, count + 1
    if latest is not None and latest.head_event_id >= expected_id:
        return Verification(False, count, prev_hash, expected_id,
                            f"the chain ends at event {expected_id - 1}, but {_named(latest)} vouches for "
                            f"{latest.count} events: events {expected_id} to {latest.head_event_id} were cut",
                            latest)
    if checkpoint is not None:
        if count < checkpoint.event_count or checkpoint_hash != checkpoint.head_hash:
            return Verification(False, count, prev_hash, min(count + 1, checkpoint.head_event_id),
                                f"the chain no longer reaches checkpoint {checkpoint.id} "
                                f"({checkpoint.event_count} events, head {checkpoint.head_hash[:12]})", latest)
    return Verification(True, count, prev_hash, None, None, latest)


def _since(connection, anchor: Anchor, checkpoint: AuditCheckpoint | None) -> Verification:
    """The latest anchor's event must still carry the hash the anchor signed (its contents
    recomputed), then the events after it are walked."""
    n = int(anchor.head_event_id)
    row = connection.exec_driver_sql(f"SELECT {COLUMNS} FROM audit_events WHERE id = {n}").first()
    if row is None:
        last = connection.exec_driver_sql("SELECT max(id) FROM audit_events").scalar() or 0
        return Verification(False, last, GENESIS_HASH, min(last + 1, n),
                            f"the chain ends at event {last}, but {_named(anchor)} vouches for "
                            f"{anchor.count} events: events {last + 1} to {n} were cut", anchor)
    id_, occurred_at, action, actor, subject, policy, payload, row_prev, row_hash = row
    recomputed = compute_hash(id=id_, occurred_at=instant_text(occurred_at), action=action, actor=actor,
                              subject=subject, policy=policy, payload=payload, prev_hash=row_prev)
    if row_hash != anchor.head_hash or recomputed != row_hash or anchor.count != n:
        return Verification(False, n - 1, row_prev, n,
                            f"event {n} is not the one {_named(anchor)} signed (head "
                            f"{anchor.head_hash[:12]}): the chain up to it was changed; a full verification "
                            f"names the first event that disagrees", anchor)
    in_range = checkpoint if checkpoint is not None and checkpoint.head_event_id > n else None
    if checkpoint is not None and in_range is None:
        stored = connection.exec_driver_sql(
            f"SELECT hash FROM audit_events WHERE id = {int(checkpoint.head_event_id)}").scalar()
        if stored != checkpoint.head_hash or checkpoint.event_count != checkpoint.head_event_id:
            return Verification(False, n, anchor.head_hash, checkpoint.head_event_id,
                                f"checkpoint {checkpoint.id} disagrees with the anchored chain", anchor)
    rows = connection.exec_driver_sql(f"SELECT {COLUMNS} FROM audit_events WHERE id > {n} ORDER BY id")
    try:
        return _walk(rows, in_range, [anchor], start_id=n + 1, prev_hash=anchor.head_hash, count=n)
    finally:
        rows.close()


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


def verify_trail(runtime, *, since_anchor: bool = False) -> Verification:
    """verify_chain on a read-only session of its own (a long walk never stalls writers), with the
    runtime's anchoring: what the API, the audit page and `pharmsafe audit verify` run. ``runtime``
    is anything with ``read_only()`` and ``anchoring`` (the app's Runtime)."""
    with runtime.read_only() as session:
        try:
            return verify_chain(session, runtime.anchoring, since_anchor=since_anchor)
        finally:
            session.rollback()
