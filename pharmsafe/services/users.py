"""Users, passwords and API tokens."""
from __future__ import annotations

import hashlib
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, func, select

from pharmsafe.audit import append_event
from pharmsafe.models import ApiToken, Pharmacy, Prescriber, User
from pharmsafe.services.context import Ctx
from pharmsafe.services.errors import Conflict, NotFound, ValidationFailed

# argon2id with argon2-cffi's defaults (t=3, m=64 MiB, p=4): above OWASP's minimum (m=19 MiB, t=2, p=1).
_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong email costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


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
    if role == "pharmacist":
        if pharmacy_id is None:
            errors["pharmacy_id"] = ["Required for a pharmacist."]
        elif ctx.session.get(Pharmacy, pharmacy_id) is None:
            errors["pharmacy_id"] = ["No pharmacy has this id."]
    elif pharmacy_id is not None:
        errors["pharmacy_id"] = ["Only a pharmacist is linked to a pharmacy."]
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
                password_hash=hash_password(password) if password else None, active=True, created_at=ctx.now)
    ctx.session.add(user)
    ctx.session.flush()
    append_event(ctx.session, action="user.created", actor=ctx.actor, subject=f"user:{user.id}", now=ctx.now,
                 payload={"role": role, "prescriber_id": prescriber_id, "pharmacy_id": pharmacy_id,
                          "password_set": bool(password)})
    token = issue_api_token(ctx, user.id)[1] if issue_token else None
    return user, token


def update_user(ctx: Ctx, user_id: int, data: dict[str, Any]) -> User:
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
                     now=ctx.now, payload={"changes": changes})
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
