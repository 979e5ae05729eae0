from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pharmsafe.db import Base
from pharmsafe.models.types import UTCDateTime


class Notification(Base):
    """One event told to one person: in their inbox, and by e-mail when SMTP is configured.

    ``event_key`` names the event ("decision:12:blocked"); with ``user_id`` it is unique, so the
    event reaches each person once, however many workers run the job and however often it restarts.
    ``body`` is for the inbox (the reasons and the hints); ``mail_subject`` and ``mail_body`` are the
    e-mail's, written without evidence values or names: only what to do and the link."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("user_id", "event_key", name="uq_notifications_user_event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    event_key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))  # blocked | window_closing | expired | patient_locked
    subject: Mapped[str] = mapped_column(String(64))  # "prescription:5", "patient:3"
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    mail_subject: Mapped[str] = mapped_column(String(200))
    mail_body: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(255))  # a path under PHARMSAFE_BASE_URL
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # None: inbox only (no SMTP configured when it was made); pending, sending, sent, failed.
    mail_state: Mapped[str | None] = mapped_column(String(16), index=True)
    mail_attempts: Mapped[int] = mapped_column(Integer, default=0)
    mail_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    mailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
