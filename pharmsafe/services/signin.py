"""Signing in with a password: one generic answer for a wrong email or password, and limits on
failures, counted in the database so that they hold across workers and hosts.

A sign-in runs in three steps, so that the slow part holds no lock:
1. read (a read-only transaction: on SQLite it does not take the write lock) the user the email
   names and whether a lock refuses the attempt already;
2. verify the password with no transaction open (argon2 takes tens of milliseconds by design);
3. write: lock the counters the attempt is judged by, decide again under that lock, and record the
   outcome in the same transaction, so that concurrent guesses are counted one after the other and
   at most the limit of them is ever answered.

Limits (OWASP's device cookies, "Slow Down Online Guessing Attacks with Device Cookies"): a browser
that signed in to the account before presents a signed device cookie naming it, and is judged by
that device's own failures alone. Every other browser is judged by the account's failures and the
client address's: so someone elsewhere who knows the email, or a colleague's typos behind the same
address, lock out unknown browsers but never the person's own. An admin sees and lifts locks.

Throttled attempts reach the audit trail once per account and address in a window; later ones are
counted outside it, and the count travels as `throttled_before` in that pair's next event."""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from pharmsafe.audit import append_event
from pharmsafe.errors import NotFound, SignInRefused, SignInThrottled
from pharmsafe.models import SignInCounter, User
from pharmsafe.services.context import Ctx
from pharmsafe.services.users import find_user_by_email, verify_password

WINDOW = timedelta(minutes=15)
MAX_PER_ACCOUNT = 5
MAX_PER_ADDRESS = 20
MAX_PER_DEVICE = 5
GENERIC_FAILURE = "Email or password is incorrect."

ACCOUNT, ADDRESS, DEVICE, THROTTLED = "account", "address", "device", "throttled"
LOCK_SCOPES = (ACCOUNT, ADDRESS, DEVICE)
# A throttled pair's count that never found a next event is dropped after this long.
THROTTLED_KEPT = timedelta(days=1)
PRUNE_BATCH = 100
# What the databases cannot store in text (PostgreSQL refuses NUL): replaced in keys, never sent.
_UNSTORABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True)
class Limits:
    window: timedelta = WINDOW
    per_account: int = MAX_PER_ACCOUNT
    per_address: int = MAX_PER_ADDRESS
    per_device: int = MAX_PER_DEVICE

    def of(self, scope: str) -> int:
        return {ACCOUNT: self.per_account, ADDRESS: self.per_address, DEVICE: self.per_device}[scope]


@dataclass(frozen=True)
class _Key:
    scope: str
    key: str
    user_id: int | None = None

    @property
    def ident(self) -> tuple[str, str]:
        return self.scope, self.key


def _storable(value: str, size: int) -> str:
    return _UNSTORABLE.sub("\ufffd", value)[:size]


def sign_in(ctx: Ctx, email: str, password: str, client_address: str, *, devices: Mapping[int, str] | None = None,
            limits: Limits = Limits(), source: str = "web") -> User:
    """The user, or SignInRefused / SignInThrottled. Every outcome is audited; a refusal's record
    must be committed with the answer (the caller's edge does so: the error is marked persist).

    ``devices`` maps a user id to the nonce of a valid device cookie this browser presented for
    that account (the edge checks the cookie's signature). ``ctx.session`` must have no transaction
    open: the password is verified between a read-only transaction and the write."""
    if ctx.session.in_transaction():
        raise RuntimeError("sign_in must start with no transaction open on its session (it verifies the "
                           "password between a read-only transaction and the write)")
    email_key = _storable(email.strip().lower(), 254)
    address = _storable(client_address or "unknown", 64)

    # 1. Read, without the write lock.
    ctx.session.connection(execution_options={"read_only": True})
    try:
        user = find_user_by_email(ctx.session, email_key) if email_key else None
        user_id, seen_hash = (user.id, user.password_hash) if user else (None, None)
        keys = _keys(email_key, address, user_id, (devices or {}).get(user_id) if user_id else None)
        refused_already = any(_locked(c, ctx.now) for c in _counters(ctx.session, keys, lock=False))
    finally:
        ctx.session.rollback()  # ends the read-only snapshot; nothing was written

    # 2. Verify, with no transaction open; for an unknown email against a dummy hash, so that a
    # wrong email costs the same time as a wrong password. An attempt a lock refuses already is
    # not verified at all.
    password_ok = False if refused_already else verify_password(seen_hash, password, ctx.passwords)

    # 3. Write: lock the counters, then decide again under the lock.
    pair = _Key(THROTTLED, f"{address}\n{email_key}")
    rows = _lock(ctx, keys + [pair])
    counters, pair_row = [rows[k.ident] for k in keys], rows[pair.ident]
    user = ctx.session.get(User, user_id) if user_id else None
    subject = f"user:{user.id}" if user else "user:unknown"
    locks = [c for c in counters if _locked(c, ctx.now)]
    if not locks and (refused_already or (user is not None and user.password_hash != seen_hash)):
        # Rare: the lock ran out or was lifted, or the password changed, between the read and now.
        # Verified here after all, so that an attempt is never counted unjudged.
        password_ok = verify_password(user.password_hash if user else None, password, ctx.passwords)
    if locks:
        _throttled(ctx, pair_row, subject, address, locks, limits, source)
        _prune(ctx, limits)
        until = max(c.locked_until for c in locks)
        minutes = max(1, math.ceil((until - ctx.now).total_seconds() / 60))
        raise SignInThrottled(f"Too many failed sign-ins. Wait {minutes} minute{'s' if minutes > 1 else ''}, "
                              "or ask an admin to lift the lock.").recorded()
    if user is None or not user.active or not password_ok:
        for counter in counters:
            _count_failure(counter, ctx.now, limits)
        reason = "unknown_email" if user is None else ("inactive" if not user.active else "wrong_password")
        append_event(ctx.session, action="user.login_failed", actor="anonymous", subject=subject, now=ctx.now,
                     payload=_carry(pair_row, {"reason": reason, "client_address": address, "source": source}))
        _prune(ctx, limits)
        raise SignInRefused(GENERIC_FAILURE).recorded()
    # Success clears the count it was judged by: the device's, or the account's (never the address's).
    for counter in counters:
        if counter.scope in (ACCOUNT, DEVICE):
            counter.failures, counter.window_started_at, counter.locked_until = 0, None, None
    append_event(ctx.session, action="user.login", actor=f"user:{user.id}", subject=f"user:{user.id}", now=ctx.now,
                 payload=_carry(pair_row, {"client_address": address, "source": source}))
    return user


def _keys(email_key: str, address: str, user_id: int | None, device: str | None) -> list[_Key]:
    if device:
        return [_Key(DEVICE, _storable(f"{user_id}:{device}", 320), user_id)]
    return [_Key(ACCOUNT, email_key, user_id), _Key(ADDRESS, address)]


def _match(keys: list[_Key]):
    return or_(*(and_(SignInCounter.scope == k.scope, SignInCounter.key == k.key) for k in keys))


def _counters(session, keys: list[_Key], *, lock: bool) -> list[SignInCounter]:
    query = (select(SignInCounter).where(_match(keys)).order_by(SignInCounter.scope, SignInCounter.key)
             .execution_options(populate_existing=True))
    return list(session.scalars(query.with_for_update() if lock else query))


def _insert(session):
    return (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert


def _lock(ctx: Ctx, keys: list[_Key]) -> dict[tuple[str, str], SignInCounter]:
    """Each key's row, created when missing, locked for the rest of the transaction. Rows are
    created and locked in one order (scope, key) by every sign-in, so two never wait on each other
    in a circle; on SQLite the transaction's write lock already serializes them."""
    keys = sorted(keys, key=lambda k: k.ident)
    insert = _insert(ctx.session)
    for _ in range(3):
        for k in keys:
            ctx.session.execute(insert(SignInCounter).values(
                scope=k.scope, key=k.key, user_id=k.user_id, failures=0, throttled=0,
            ).on_conflict_do_nothing(index_elements=["scope", "key"]))
        rows = {(c.scope, c.key): c for c in _counters(ctx.session, keys, lock=True)}
        if len(rows) == len(keys):
            return rows
        # A row was pruned between its insert and its lock (a concurrent sign-in found it stale):
        # create it again.
    raise RuntimeError("sign-in counters kept disappearing")


def _locked(counter: SignInCounter, now: datetime) -> bool:
    return counter.scope in LOCK_SCOPES and counter.locked_until is not None and counter.locked_until > now


def _count_failure(counter: SignInCounter, now: datetime, limits: Limits) -> None:
    if counter.window_started_at is None or counter.window_started_at + limits.window <= now:
        counter.failures, counter.window_started_at, counter.locked_until = 0, now, None
    counter.failures += 1
    if counter.failures >= limits.of(counter.scope):
        counter.locked_until = now + limits.window


def _throttled(ctx: Ctx, pair: SignInCounter, subject: str, address: str, locks: list[SignInCounter],
               limits: Limits, source: str) -> None:
    """The first throttled attempt of this account and address in a window is an event; the rest
    are counted here until the pair's next event carries the count."""
    if pair.window_started_at is not None and pair.window_started_at + limits.window > ctx.now:
        pair.throttled += 1
        return
    payload = {"reason": "throttled", "throttled": True, "client_address": address,
               "locks": sorted({c.scope for c in locks}), "source": source}
    if pair.throttled:
        payload["throttled_before"] = pair.throttled
    pair.throttled, pair.window_started_at = 0, ctx.now
    append_event(ctx.session, action="user.login_failed", actor="anonymous", subject=subject, now=ctx.now,
                 payload=payload)


def _carry(pair: SignInCounter, payload: dict) -> dict:
    """A pair's event that is not a throttled one: it carries the attempts counted outside the trail,
    and the pair's next throttled attempt starts a new window."""
    if pair.throttled:
        payload["throttled_before"] = pair.throttled
    pair.throttled, pair.window_started_at = 0, None
    return payload


def _prune(ctx: Ctx, limits: Limits) -> None:
    """Remove counters with nothing left to say (no lock in force, no failure in the window, no
    throttled attempt waiting for its pair's next event), a batch at a time. Rows another sign-in
    holds are skipped, never waited for."""
    now = ctx.now
    stale = (select(SignInCounter.id).where(
        or_(SignInCounter.locked_until.is_(None), SignInCounter.locked_until <= now),
        or_(SignInCounter.window_started_at.is_(None), SignInCounter.window_started_at <= now - limits.window),
        or_(SignInCounter.throttled == 0, SignInCounter.window_started_at <= now - THROTTLED_KEPT),
    ).limit(PRUNE_BATCH).with_for_update(skip_locked=True))
    ids = ctx.session.scalars(stale).all()
    if ids:
        ctx.session.execute(delete(SignInCounter).where(SignInCounter.id.in_(ids)))


# Locks, for admins.

def locks_in_force(now: datetime):
    """The query for the locks refusing sign-ins now (for a page or the API's pagination)."""
    return select(SignInCounter).where(SignInCounter.scope.in_(LOCK_SCOPES), SignInCounter.locked_until > now)


def lock_facts(counter: SignInCounter) -> dict:
    """What a lock is about, for people: the account (its email as typed, and the user when the
    email names one), the client address, or the device (a browser of a user)."""
    return {"id": counter.id, "scope": counter.scope, "user_id": counter.user_id,
            "email": counter.key if counter.scope == ACCOUNT else None,
            "client_address": counter.key if counter.scope == ADDRESS else None,
            "failures": counter.failures, "window_started_at": counter.window_started_at,
            "locked_until": counter.locked_until}


def lift_lock(ctx: Ctx, lock_id: int, *, source: str) -> tuple[SignInCounter, bool]:
    """Lift a lock now (audited as `user.lock_lifted`); a lock no longer in force is left as it is.
    Returns the counter and whether a lock was lifted."""
    counter = ctx.session.get(SignInCounter, lock_id, with_for_update=True, populate_existing=True)
    if counter is None or counter.scope not in LOCK_SCOPES:
        raise NotFound(f"Sign-in lock {lock_id} does not exist.")
    if not _locked(counter, ctx.now):
        return counter, False
    payload = {"lock_id": counter.id, "scope": counter.scope, "failures": counter.failures,
               "locked_until": counter.locked_until, "source": source}
    if counter.scope == ADDRESS:
        payload["client_address"] = counter.key
    subject = f"user:{counter.user_id}" if counter.user_id else (
        f"address:{counter.key}" if counter.scope == ADDRESS else "user:unknown")
    counter.failures, counter.window_started_at, counter.locked_until = 0, None, None
    ctx.session.flush()
    append_event(ctx.session, action="user.lock_lifted", actor=ctx.actor, subject=subject, now=ctx.now,
                 payload=payload)
    return counter, True
