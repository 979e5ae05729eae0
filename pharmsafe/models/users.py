from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmsafe.db import Base
from pharmsafe.models.types import UTCDateTime

ROLES = ("admin", "prescriber", "pharmacist", "technician", "manager", "auditor")
# Linked to one pharmacy, and reading what is routed to it as its pharmacists do: a technician
# searches, reads and prepares (records transfers-in), and never evaluates, dispenses or reverses.
PHARMACY_STAFF = ("pharmacist", "technician")
# Linked to one pharmacy: its staff, and its manager, who sees the pharmacy's dashboard alone.
PHARMACY_ROLES = PHARMACY_STAFF + ("manager",)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    prescriber_id: Mapped[int | None] = mapped_column(ForeignKey("prescribers.id"), index=True)
    pharmacy_id: Mapped[int | None] = mapped_column(ForeignKey("pharmacies.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @property
    def actor(self) -> str:
        return f"user:{self.id}"


class PasswordLink(Base):
    """A one-time link that sets a user's password: the first one, or after an admin's reset. Only its
    SHA-256 is kept; it works once, for PASSWORD_LINK_VALID_FOR, and a newer link replaces it."""

    __tablename__ = "password_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))  # initial | reset
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(40))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # SHA-256 of the token, hex; the token itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "route", "key", name="uq_idempotency_user_route_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    route: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    # The answer's media type and the headers a replay repeats (Location, ETag), as JSON.
    response_headers: Mapped[str | None] = mapped_column(Text)


class WebSession(Base):
    """A web sign-in. The browser's cookie holds a random session id; only its SHA-256 is kept
    here, so the table alone never lets anyone resume a session. A session ends when this row says
    so (sign-out, deactivation, a password change, the person ending it elsewhere) or when it passes
    its idle or absolute limit."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(32))
    client_address: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(255))
    # A secret to show this session once on the next page (a new API token after a redirect): kept
    # for minutes at most, and removed when it is shown or the session ends.
    reveal_subject: Mapped[str | None] = mapped_column(String(64))
    reveal_secret: Mapped[str | None] = mapped_column(String(255))
    reveal_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A form posted after this session timed out: where it came from and what was typed (never a
    # password), for the same person's next sign-in in this browser.
    stash_path: Mapped[str | None] = mapped_column(String(255))
    stash_form: Mapped[str | None] = mapped_column(Text)
    stash_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class SignInCounter(Base):
    """Failed sign-ins counted per scope, one row a key, locked while a sign-in decides, so that
    concurrent guesses are counted one after the other.

    scope `account` (key: the email as typed, lower-cased), `address` (the client address) and
    `device` (`<user id>:<nonce>` of a device cookie): `failures` since `window_started_at`, and
    `locked_until` once they reach the scope's limit. Scope `throttled` (key: `<address> <email>`)
    counts the throttled attempts of one account and address that the audit trail has not been told
    of yet: the first of a window is an event, the rest travel as `throttled_before` in that pair's
    next event."""

    __tablename__ = "sign_in_counters"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_sign_in_counters_scope_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(320))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    throttled: Mapped[int] = mapped_column(Integer, default=0)
