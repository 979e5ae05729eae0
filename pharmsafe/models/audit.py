from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pharmsafe.db import Base
from pharmsafe.models.types import UTCDateTime


class AuditEvent(Base):
    """One row per action. Append-only: the ORM refuses updates and deletes (pharmsafe.audit),
    and database triggers refuse them underneath."""

    __tablename__ = "audit_events"

    # Assigned by the chain writer (head + 1) under the chain lock, so ids are gap-free.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(64), index=True)
    policy: Mapped[str | None] = mapped_column(String(64))
    # Canonical JSON text, exactly as hashed.
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditCheckpoint(Base):
    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    event_count: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    head_event_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    head_hash: Mapped[str] = mapped_column(String(64))


class SchedulerHeartbeat(Base):
    """One row per scheduler job: when it last ran, where, and how many times it has run."""

    __tablename__ = "scheduler_heartbeats"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    host: Mapped[str] = mapped_column(String(255))
    runs: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), server_default="0")
