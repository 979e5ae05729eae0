"""Signing in with a password: one generic answer for a wrong email or password, and limits on
failures per account and per client address, counted in the database."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select

from pharmsafe.audit import append_event
from pharmsafe.models import LoginFailure, User
from pharmsafe.services.context import Ctx
from pharmsafe.services.errors import DomainError
from pharmsafe.services.users import find_user_by_email, verify_password

WINDOW = timedelta(minutes=15)
MAX_PER_ACCOUNT = 5
MAX_PER_ADDRESS = 20
GENERIC_FAILURE = "Email or password is incorrect."


class SignInRefused(DomainError):
    status = 401
    code = "sign_in_failed"


class SignInThrottled(DomainError):
    status = 429
    code = "too_many_attempts"


@dataclass(frozen=True)
class Limits:
    window: timedelta = WINDOW
    per_account: int = MAX_PER_ACCOUNT
    per_address: int = MAX_PER_ADDRESS


def _failures(ctx: Ctx, column, value: str, since) -> int:
    return ctx.session.scalar(select(func.count()).select_from(LoginFailure)
                              .where(column == value, LoginFailure.failed_at > since)) or 0


def sign_in(ctx: Ctx, email: str, password: str, client_address: str, limits: Limits = Limits()) -> User:
    """The user, or SignInRefused / SignInThrottled. Every outcome is audited; a refusal's record
    must be committed with the answer (the caller's edge does so: the error is marked persist)."""
    email_key = email.strip().lower()[:254]
    address = (client_address or "unknown")[:64]
    since = ctx.now - limits.window
    user = find_user_by_email(ctx.session, email_key)
    subject = f"user:{user.id}" if user else "user:unknown"
    if (_failures(ctx, LoginFailure.email, email_key, since) >= limits.per_account
            or _failures(ctx, LoginFailure.client_address, address, since) >= limits.per_address):
        append_event(ctx.session, action="user.login_failed", actor="anonymous", subject=subject, now=ctx.now,
                     payload={"reason": "throttled", "client_address": address})
        minutes = int(limits.window.total_seconds() // 60)
        raise SignInThrottled(f"Too many failed sign-ins. Wait {minutes} minutes, or ask an admin to check "
                              "the account.").recorded()
    # verify_password runs for an unknown email too (against a dummy hash): the same cost either way.
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None or not user.active or not password_ok:
        ctx.session.execute(delete(LoginFailure).where(LoginFailure.failed_at <= since))
        ctx.session.add(LoginFailure(email=email_key, client_address=address, failed_at=ctx.now))
        reason = "unknown_email" if user is None else ("inactive" if not user.active else "wrong_password")
        append_event(ctx.session, action="user.login_failed", actor="anonymous", subject=subject, now=ctx.now,
                     payload={"reason": reason, "client_address": address})
        raise SignInRefused(GENERIC_FAILURE).recorded()
    ctx.session.execute(delete(LoginFailure).where(LoginFailure.email == email_key))
    append_event(ctx.session, action="user.login", actor=f"user:{user.id}", subject=f"user:{user.id}", now=ctx.now,
                 payload={"client_address": address})
    return user
