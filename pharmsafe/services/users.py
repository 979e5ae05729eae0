"""Users, passwords, API tokens and web sessions."""
from __future__ import annotations

import hashlib
import json
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select

from pharmsafe.audit import append_event
from pharmsafe.errors import Conflict, NotFound, ValidationFailed
from pharmsafe.models import ApiToken, PasswordLink, Pharmacy, Prescriber, User, WebSession
from pharmsafe.models.users import PHARMACY_ROLES
from pharmsafe.services.context import Ctx
from pharmsafe.services.passwords import PRODUCTION, PasswordHashing

# A web sign-in lasts a working day at most, whatever the browser keeps, and ends after half an hour
# without a request.
SESSION_MAX_AGE = timedelta(hours=12)
SESSION_IDLE = timedelta(minutes=30)
# How long a secret waits for the page that shows it once (the redirect after issuing a token).
REVEAL_FOR = timedelta(minutes=5)
# Why a session ended, as `session.ended` records it.
END_REASONS = ("signed_out", "replaced", "ended_by_user", "deactivated", "password_changed", "password_reset")
# What a session row keeps of the request's own text: nothing the databases cannot store.
_UNSTORABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")

def hash_password(password: str, hashing: PasswordHashing = PRODUCTION) -> str:
    return hashing.hash(password)


def verify_password(password_hash: str | None, password: str, hashing: PasswordHashing = PRODUCTION) -> bool:
    return hashing.verify(password_hash, password)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def get_user(ctx: Ctx, user_id: int) -> User:
    user = ctx.session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} does not exist.")
    return user


def find_user_by_email(session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def _check_links(ctx: Ctx, role: str, prescriber_id: int | None, pharmacy_id: int | None) -> None:
    errors: dict[str, list[str]] = {}
    if role == "prescriber":
        if prescriber_id is None:
            errors["prescriber_id"] = ["Required for a prescriber."]
        elif ctx.session.get(Prescriber, prescriber_id) is None:
            errors["prescriber_id"] = ["No prescriber has this id."]
    elif prescriber_id is not None:
        errors["prescriber_id"] = ["Only a prescriber is linked to a prescriber record."]
    if role in PHARMACY_ROLES:
        if pharmacy_id is None:
            errors["pharmacy_id"] = [f"Required for a {role}."]
        elif ctx.session.get(Pharmacy, pharmacy_id) is None:
            errors["pharmacy_id"] = ["No pharmacy has this id."]
    elif pharmacy_id is not None:
        errors["pharmacy_id"] = ["Only a pharmacist, a technician or a manager is linked to a pharmacy."]
    if errors:
        raise ValidationFailed(errors)


def create_user(ctx: Ctx, *, email: str, role: str, prescriber_id: int | None = None,
                pharmacy_id: int | None = None, password: str | None = None,
                issue_token: bool = False) -> tuple[User, str | None]:
    if find_user_by_email(ctx.session, email) is not None:
        raise Conflict("A user with this email already exists.", code="duplicate",
                       fields={"email": ["Already registered."]})
    _check_links(ctx, role, prescriber_id, pharmacy_id)
    user = User(email=email.strip(), role=role, prescriber_id=prescriber_id, pharmacy_id=pharmacy_id,
                password_hash=hash_password(password, ctx.passwords) if password else None, active=True, created_at=ctx.now)
    ctx.session.add(user)
    ctx.session.flush()
    append_event(ctx.session, action="user.created", actor=ctx.actor, subject=f"user:{user.id}", now=ctx.now,
                 payload={"role": role, "prescriber_id": prescriber_id, "pharmacy_id": pharmacy_id,
                          "password_set": bool(password)})
    token = issue_api_token(ctx, user.id)[1] if issue_token else None
    return user, token


def update_user(ctx: Ctx, user_id: int, data: dict[str, Any], *, source: str = "api") -> User:
    user = get_user(ctx, user_id)
    changes = {}
    if "role" in data and data["role"] != user.role:
        _check_links(ctx, data["role"], user.prescriber_id, user.pharmacy_id)
        changes["role"] = [user.role, data["role"]]
        user.role = data["role"]
    if "active" in data and data["active"] != user.active:
        changes["active"] = [user.active, data["active"]]
        user.active = data["active"]
    if changes:
        ctx.session.flush()
        append_event(ctx.session, action="user.changed", actor=ctx.actor, subject=f"user:{user.id}",
                     now=ctx.now, payload={"changes": changes, "source": source})
    if changes.get("active") == [True, False]:
        # Ended, not only refused while inactive: a cookie saved before the deactivation must not
        # work again after a reactivation.
        end_user_sessions(ctx, user.id, "deactivated", source=source)
    return user


def change_password(ctx: Ctx, user_id: int, password_hash: str, *, keep_session_id: int | None = None,
                    source: str = "web") -> list[int]:
    """Set a new password (hashed by the caller, before its write transaction begins: hashing is
    slow, and on SQLite a write transaction holds the database's only write lock) and end every
    session of the user but ``keep_session_id``. Returns the ids of the sessions it ended."""
    user = get_user(ctx, user_id)
    user.password_hash = password_hash
    ctx.session.flush()
    append_event(ctx.session, action="user.changed", actor=ctx.actor, subject=f"user:{user.id}", now=ctx.now,
                 payload={"changes": {"password": "changed"}, "source": source})
    return end_user_sessions(ctx, user.id, "password_changed", keep_session_id=keep_session_id, source=source)


PASSWORD_LINK_VALID_FOR = timedelta(hours=24)


def issue_password_link(ctx: Ctx, user_id: int) -> tuple[PasswordLink, str]:
    """A one-time link's token for the user to set their password: ``initial`` when they have none,
    ``reset`` when they have one, which then stops working at once (and their sessions end). Earlier
    unused links stop working too. The token is returned once; only its hash is kept."""
    user = get_user(ctx, user_id)
    purpose = "reset" if user.password_hash else "initial"
    for old in ctx.session.scalars(select(PasswordLink).where(PasswordLink.user_id == user.id,
                                                              PasswordLink.used_at.is_(None))):
        old.used_at = ctx.now
    token = secrets.token_urlsafe(32)
    row = PasswordLink(user_id=user.id, token_hash=hash_token(token), purpose=purpose, created_at=ctx.now,
                       created_by=ctx.actor, expires_at=ctx.now + PASSWORD_LINK_VALID_FOR)
    ctx.session.add(row)
    if purpose == "reset":
        user.password_hash = None
    ctx.session.flush()
    append_event(ctx.session, action="user.changed", actor=ctx.actor, subject=f"user:{user.id}", now=ctx.now,
                 payload={"changes": {"password": "reset" if purpose == "reset" else "link issued"},
                          "password_link": row.id, "expires_at": row.expires_at})
    if purpose == "reset":
        end_user_sessions(ctx, user.id, "password_reset")
    return row, token


def password_link(session, token: str, now: datetime, *, for_update: bool = False) -> PasswordLink | None:
    """The link a token opens, while it may still be used (locked, when it is about to be spent, so
    that two requests sent at once cannot both use it)."""
    query = select(PasswordLink).where(PasswordLink.token_hash == hash_token(token or ""))
    row = session.scalar(query.with_for_update() if for_update else query)
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    return row


def use_password_link(ctx: Ctx, token: str, password_hash: str) -> User:
    """Set the password through the link (hashed by the caller) and spend the link."""
    row = password_link(ctx.session, token, ctx.now, for_update=True)
    if row is None:
        raise NotFound("This password link has been used, has expired or was replaced by a newer one; ask an "
                       "administrator for a new one.")
    row.used_at = ctx.now
    user = get_user(ctx, row.user_id)
    change_password(ctx, user.id, password_hash, source="web")
    return user


def issue_api_token(ctx: Ctx, user_id: int) -> tuple[ApiToken, str]:
    """32 random bytes, shown once; only their SHA-256 is kept."""
    get_user(ctx, user_id)
    token = secrets.token_urlsafe(32)
    row = ApiToken(user_id=user_id, token_hash=hash_token(token), created_at=ctx.now)
    ctx.session.add(row)
    ctx.session.flush()
    append_event(ctx.session, action="token.issued", actor=ctx.actor, subject=f"token:{row.id}", now=ctx.now,
                 payload={"user_id": user_id})
    return row, token


def get_token(ctx: Ctx, token_id: int) -> ApiToken:
    row = ctx.session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"Token {token_id} does not exist.")
    return row


def revoke_api_token(ctx: Ctx, token_id: int) -> ApiToken:
    row = get_token(ctx, token_id)
    if row.revoked_at is None:
        row.revoked_at = ctx.now
        ctx.session.flush()
        append_event(ctx.session, action="token.revoked", actor=ctx.actor, subject=f"token:{row.id}",
                     now=ctx.now, payload={"user_id": row.user_id})
    return row


_TOKEN_BY_HASH = select(ApiToken).where(ApiToken.token_hash == bindparam("token_hash"))  # every API request


def user_for_token(session, token: str) -> User | None:
    """The active user behind a live token, or None (unknown, revoked, or user deactivated)."""
    row = session.scalar(_TOKEN_BY_HASH, {"token_hash": hash_token(token)})
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    return row.user


# Web sessions: the browser's cookie carries a random id; the row keeps its SHA-256.

def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def _storable(value: str | None, size: int) -> str:
    return _UNSTORABLE.sub("\ufffd", value or "")[:size]


def open_web_session(ctx: Ctx, user: User, *, client_address: str, user_agent: str) -> tuple[WebSession, str]:
    """A new session for ``user``: the row, and the id for the cookie (32 random bytes, never stored).
    The user's sessions that ended or ran out are removed on the way (the audit trail keeps their story)."""
    session_id = secrets.token_urlsafe(32)
    _prune_sessions(ctx, user.id)
    row = WebSession(user_id=user.id, token_hash=hash_session_id(session_id), created_at=ctx.now,
                     last_seen_at=ctx.now, client_address=_storable(client_address, 64) or "unknown",
                     user_agent=_storable(user_agent, 255))
    ctx.session.add(row)
    ctx.session.flush()
    return row, session_id


def _prune_sessions(ctx: Ctx, user_id: int) -> None:
    stale = (select(WebSession.id)
             .where(WebSession.user_id == user_id,
                    or_(WebSession.ended_at.is_not(None), WebSession.created_at < ctx.now - SESSION_MAX_AGE,
                        WebSession.last_seen_at < ctx.now - SESSION_IDLE))
             # A row another request holds (it is reading or ending it) is left for next time.
             .with_for_update(skip_locked=True))
    ids = ctx.session.scalars(stale).all()
    if ids:
        ctx.session.execute(delete(WebSession).where(WebSession.id.in_(ids)))


def is_live(row: WebSession, now: datetime) -> bool:
    return (row.ended_at is None and now - row.created_at <= SESSION_MAX_AGE
            and now - row.last_seen_at <= SESSION_IDLE)


_SESSION_BY_HASH = select(WebSession).where(WebSession.token_hash == bindparam("token_hash"))


def web_session_for(session, session_id: str, now: datetime) -> WebSession | None:
    """The live session this id names, its user active, locked for the request that uses it (it
    records the request as the session's latest); None for anything else."""
    if not session_id or len(session_id) > 200:
        return None
    row = session.scalar(_SESSION_BY_HASH.with_for_update(of=WebSession.__table__),
                         {"token_hash": hash_session_id(session_id)})
    if row is None or not is_live(row, now) or not row.user.active:
        return None
    row.last_seen_at = now
    if row.reveal_until is not None and row.reveal_until < now:
        _forget_reveal(row)
    return row


def peek_web_session(session, session_id: str, now: datetime) -> tuple[int, str | None] | None:
    """The user id and password hash behind a live session id, read only (no lock, no write)."""
    if not session_id or len(session_id) > 200:
        return None
    row = session.scalar(_SESSION_BY_HASH, {"token_hash": hash_session_id(session_id)})
    if row is None or not is_live(row, now) or not row.user.active:
        return None
    return row.user_id, row.user.password_hash


def end_web_session(ctx: Ctx, row: WebSession, reason: str, *, source: str = "web") -> bool:
    """End one session now (audited as `session.ended`); False when it had ended already."""
    assert reason in END_REASONS, reason
    if row.ended_at is not None:
        return False
    row.ended_at, row.end_reason = ctx.now, reason
    _forget_reveal(row)
    ctx.session.flush()
    append_event(ctx.session, action="session.ended", actor=ctx.actor, subject=f"session:{row.id}", now=ctx.now,
                 payload={"user_id": row.user_id, "reason": reason, "source": source})
    return True


def end_user_sessions(ctx: Ctx, user_id: int, reason: str, *, keep_session_id: int | None = None,
                      source: str = "web") -> list[int]:
    """End every live session of the user (but ``keep_session_id``), at once. One that ran out of
    time already works no more, and is left to be removed at the user's next sign-in."""
    query = (_live(select(WebSession), user_id, ctx.now).order_by(WebSession.id)
             .with_for_update(of=WebSession.__table__))
    ended = []
    for row in ctx.session.scalars(query).unique():
        if row.id != keep_session_id and end_web_session(ctx, row, reason, source=source):
            ended.append(row.id)
    return ended


def live_sessions(ctx: Ctx, user_id: int) -> list[WebSession]:
    """The user's sessions that still work, newest first."""
    query = _live(select(WebSession), user_id, ctx.now).order_by(WebSession.id.desc())
    return list(ctx.session.scalars(query).unique())


def _live(query, user_id: int, now: datetime):
    """``query`` narrowed to the user's sessions that still work (as is_live judges one row)."""
    return query.where(WebSession.user_id == user_id, WebSession.ended_at.is_(None),
                       WebSession.created_at >= now - SESSION_MAX_AGE, WebSession.last_seen_at >= now - SESSION_IDLE)


def own_session(ctx: Ctx, user_id: int, session_id: int) -> WebSession:
    """One of the user's own sessions, by row id; anyone else's is as unknown as a missing one."""
    row = ctx.session.get(WebSession, session_id, with_for_update={"of": WebSession.__table__})
    if row is None or row.user_id != user_id:
        raise NotFound(f"Session {session_id} does not exist.")
    return row


STASH_FOR = timedelta(minutes=30)
UNKEPT_FIELDS = ("csrf_token",)


def session_row(session, session_id: str) -> WebSession | None:
    """The row a session cookie names, live or not."""
    return session.scalar(select(WebSession).where(WebSession.token_hash == hash_session_id(session_id)))


def stash_form(row: WebSession, path: str, values: dict[str, Any], now: datetime) -> bool:
    """Keep a form posted after ``row`` timed out (not one ended on purpose: a sign-out, a
    deactivation, a password change). Passwords and the CSRF token are never kept."""
    if row.ended_at is not None:
        return False
    kept = {k: v for k, v in values.items() if k not in UNKEPT_FIELDS and "password" not in k}
    row.stash_path, row.stash_form, row.stash_until = path, json.dumps(kept), now + STASH_FOR
    return True


def carry_stash(old: WebSession | None, new: WebSession, now: datetime) -> None:
    """A new sign-in takes over what its browser's timed-out session kept, when it is the same person's."""
    if old is None or old.user_id != new.user_id or old.stash_until is None or old.stash_until <= now:
        return
    new.stash_path, new.stash_form, new.stash_until = old.stash_path, old.stash_form, old.stash_until
    old.stash_path = old.stash_form = old.stash_until = None


def take_stash(row: WebSession | None, path: str, now: datetime) -> dict[str, Any] | None:
    """What was kept for the form on ``path``, removed as it is read."""
    if row is None or row.stash_path != path or row.stash_until is None or row.stash_until <= now:
        return None
    values = json.loads(row.stash_form or "{}")
    row.stash_path = row.stash_form = row.stash_until = None
    return values


def hold_reveal(ctx: Ctx, row: WebSession, subject: str, secret: str) -> None:
    """Keep ``secret`` for this session's next page about ``subject``, to be shown there once."""
    row.reveal_subject, row.reveal_secret, row.reveal_until = subject, secret, ctx.now + REVEAL_FOR


def take_reveal(row: WebSession | None, subject: str, now: datetime) -> str | None:
    """The secret held for ``subject``, removed as it is read (a reload shows nothing)."""
    if row is None or row.reveal_subject != subject or row.reveal_until is None or row.reveal_until < now:
        return None
    secret = row.reveal_secret
    _forget_reveal(row)
    return secret


def _forget_reveal(row: WebSession) -> None:
    row.reveal_subject = row.reveal_secret = row.reveal_until = None
