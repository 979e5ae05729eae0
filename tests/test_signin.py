"""Sign-in limits counted in the database: they hold across two app instances sharing it, and
against concurrent guesses; verification runs with no write lock held; a browser that signed in to
an account before is exempt from the limits others can trip; throttled attempts leave one event per
account and address in a window; an admin sees and lifts locks."""
from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter

import pytest
from sqlalchemy import create_engine, make_url, select, text

from pharmsafe import create_app
from pharmsafe.audit.chain import CHAIN_LOCK_KEY
from pharmsafe.models import AuditEvent, SignInCounter, User
from pharmsafe.runtime import runtime_of
from pharmsafe.services import signin
from pharmsafe.services.context import Ctx
from pharmsafe.services.signin import (
    GENERIC_FAILURE,
    MAX_PER_ACCOUNT,
    MAX_PER_ADDRESS,
    MAX_PER_DEVICE,
    Limits,
    SignInRefused,
    SignInThrottled,
    sign_in,
)
from pharmsafe.services.users import create_user
from tests.support import Api, admin_token

EMAIL, PASSWORD = "rph@example.com", "correct horse"
# Smaller limits where a test is about how the counting works rather than the default numbers
# (every failure costs an argon2 verification).
SMALL = Limits(per_account=2, per_address=3, per_device=2)


@pytest.fixture
def two_apps(app, settings, clock):
    other = create_app(settings, clock=clock)
    yield app, other
    runtime_of(other).engine.dispose()


DEFAULT_LIMITS = Limits()


def attempt(app, email, password, address="10.0.0.1", devices=None, limits=DEFAULT_LIMITS):
    ext = runtime_of(app)
    with ext.session_factory() as session:
        ctx = ext.ctx(session, "anonymous")
        try:
            user = sign_in(ctx, email, password, address, devices=devices, limits=limits)
        except (SignInRefused, SignInThrottled) as exc:
            session.commit()  # the refusal is recorded, as the web edge does
            return exc
        session.commit()
        return user


def events(app, action_like="user.login%"):
    with runtime_of(app).session_factory() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action.like(action_like)).order_by(AuditEvent.id)).all()
        return [(e.action, e.subject, json.loads(e.payload)) for e in rows]


@pytest.fixture
def user(app):
    ext = runtime_of(app)
    with ext.session_factory() as session:
        ctx = ext.ctx(session, "system:test")
        created, _ = create_user(ctx, email=EMAIL, role="admin", password=PASSWORD)
        session.commit()
        return created.id


def test_wrong_email_and_wrong_password_get_the_same_answer(app, user):
    unknown, wrong = attempt(app, "nobody@example.com", "x"), attempt(app, EMAIL, "x")
    assert isinstance(unknown, SignInRefused) and isinstance(wrong, SignInRefused)
    assert unknown.message == wrong.message == GENERIC_FAILURE
    assert [a for a, _s, _p in events(app)] == ["user.login_failed", "user.login_failed"]


def test_account_limit_holds_across_two_instances(two_apps, user, clock):
    first, second = two_apps
    for i in range(MAX_PER_ACCOUNT):
        assert isinstance(attempt((first, second)[i % 2], EMAIL, "wrong", f"10.0.0.{i}"), SignInRefused)
    # The next attempt, even with the right password and from either instance, is refused.
    assert isinstance(attempt(first, EMAIL, PASSWORD, "10.9.9.9"), SignInThrottled)
    assert isinstance(attempt(second, "RPH@example.com", PASSWORD, "10.9.9.8"), SignInThrottled)
    clock.advance(minutes=15)
    assert isinstance(attempt(second, EMAIL, PASSWORD), User)


def test_address_limit(app, user):
    for i in range(MAX_PER_ADDRESS):
        attempt(app, f"u{i}@example.com", "x", "10.1.1.1")
    assert isinstance(attempt(app, EMAIL, PASSWORD, "10.1.1.1"), SignInThrottled)
    assert isinstance(attempt(app, EMAIL, PASSWORD, "10.1.1.2"), User)


def test_success_clears_the_account_count(app, user):
    for _ in range(MAX_PER_ACCOUNT - 1):
        attempt(app, EMAIL, "wrong")
    assert isinstance(attempt(app, EMAIL, PASSWORD), User)
    for _ in range(MAX_PER_ACCOUNT - 1):
        assert isinstance(attempt(app, EMAIL, "wrong"), SignInRefused)


# Verification outside the write transaction (SQLite's single write lock).

def _another_connection_writes(db_url: str, user_id: int) -> None:
    """Take, from another connection, every lock a sign-in's write would need, without waiting."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(url.database, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")  # "database is locked" at once if anyone holds the write lock
            conn.execute("UPDATE users SET role = role WHERE id = ?", (user_id,))
            conn.execute("COMMIT")
        finally:
            conn.close()
        return
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '1ms'"))
            conn.execute(text("SELECT id FROM users WHERE id = :id FOR UPDATE NOWAIT"), {"id": user_id})
            conn.execute(text("SELECT id FROM sign_in_counters FOR UPDATE NOWAIT"))
            assert conn.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK_KEY})
    finally:
        engine.dispose()


@pytest.mark.parametrize("password", [PASSWORD, "wrong"])
def test_the_password_is_verified_with_no_transaction_open(app, user, db_url, monkeypatch, password):
    ext = runtime_of(app)
    real_verify = signin.verify_password
    observed = []

    with ext.session_factory() as session:
        def probe(password_hash, candidate, hashing):
            observed.append(session.in_transaction())
            _another_connection_writes(db_url, user)  # raises if the sign-in held a write lock now
            return real_verify(password_hash, candidate, hashing)

        monkeypatch.setattr(signin, "verify_password", probe)
        ctx = ext.ctx(session, "anonymous")
        try:
            result = sign_in(ctx, EMAIL, password, "10.0.0.1")
        except SignInRefused as exc:
            result = exc
        session.commit()
    assert observed == [False]
    assert isinstance(result, User if password == PASSWORD else SignInRefused)
    assert [a for a, _s, _p in events(app)] == ["user.login" if password == PASSWORD else "user.login_failed"]


def test_sign_in_refuses_to_start_inside_an_open_transaction(app, user):
    ext = runtime_of(app)
    with ext.session_factory() as session:
        session.execute(select(User.id)).all()
        ctx = ext.ctx(session, "anonymous")
        with pytest.raises(RuntimeError, match="no transaction open"):
            sign_in(ctx, EMAIL, PASSWORD, "10.0.0.1")


# The account limit under concurrent guesses.

@pytest.mark.parametrize("workers", [12])
def test_concurrent_guesses_get_at_most_the_limit_through(app, user, monkeypatch, workers):
    """Every worker reads the account unlocked, then all verify at the same moment: the count is
    checked again, under a lock, in the transaction that records the failure."""
    ext = runtime_of(app)
    barrier = threading.Barrier(workers, timeout=10)
    real_verify = signin.verify_password

    def verify_together(password_hash, candidate, hashing):
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        return real_verify(password_hash, candidate, hashing)

    monkeypatch.setattr(signin, "verify_password", verify_together)
    outcomes: list = []
    lock = threading.Lock()

    def guess(n):
        with ext.session_factory() as session:
            ctx = ext.ctx(session, "anonymous")
            try:
                sign_in(ctx, EMAIL, f"guess {n}", f"10.2.0.{n}")
                outcome = "signed in"
            except (SignInRefused, SignInThrottled) as exc:
                session.commit()
                outcome = type(exc).__name__
            except Exception as exc:  # a deadlock or a lost update must show, not hang
                session.rollback()
                outcome = repr(exc)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    counts = Counter(outcomes)
    assert set(counts) <= {"SignInRefused", "SignInThrottled"}, counts
    assert counts["SignInRefused"] <= MAX_PER_ACCOUNT, counts
    assert counts["SignInRefused"] + counts["SignInThrottled"] == workers
    wrong = [p for a, _s, p in events(app) if p.get("reason") == "wrong_password"]
    assert len(wrong) == counts["SignInRefused"]
    # And the account is locked now, from anywhere.
    assert isinstance(attempt(app, EMAIL, PASSWORD, "10.3.0.1"), SignInThrottled)


# A browser that signed in to the account before (a device cookie naming the account).

def test_a_known_device_is_exempt_from_the_account_and_address_locks(app, user):
    device = {user: "nonce-of-the-counter-browser"}

    def try_(email, password, address, devices=None):
        return attempt(app, email, password, address, devices=devices, limits=SMALL)

    # An attacker elsewhere locks the account for unknown browsers...
    for n in range(SMALL.per_account):
        assert isinstance(try_(EMAIL, "guess", f"203.0.113.{n}"), SignInRefused)
    assert isinstance(try_(EMAIL, PASSWORD, "10.0.0.1"), SignInThrottled)
    # ...and colleagues' typos lock the pharmacy's address.
    for n in range(SMALL.per_address):
        try_(f"colleague{n}@example.com", "typo", "10.0.0.1")
    assert isinstance(try_("new@example.com", "x", "10.0.0.1"), SignInThrottled)
    # The pharmacist's own browser signs in from the counter all the same.
    assert isinstance(try_(EMAIL, PASSWORD, "10.0.0.1", devices=device), User)
    # A device cookie for another account does not help.
    assert isinstance(try_(EMAIL, PASSWORD, "10.0.0.1", devices={user + 1000: "x"}), SignInThrottled)


def test_a_known_device_has_its_own_limit(app, user, clock):
    device = {user: "stolen-cookie"}
    for _ in range(MAX_PER_DEVICE):
        assert isinstance(attempt(app, EMAIL, "guess", "198.51.100.7", devices=device), SignInRefused)
    assert isinstance(attempt(app, EMAIL, PASSWORD, "198.51.100.7", devices=device), SignInThrottled)
    # The device's failures did not lock the account for its other browsers.
    assert isinstance(attempt(app, EMAIL, PASSWORD, "10.0.0.1", devices={user: "another-browser"}), User)
    assert isinstance(attempt(app, EMAIL, PASSWORD, "10.0.0.2"), User)
    clock.advance(minutes=15)
    assert isinstance(attempt(app, EMAIL, PASSWORD, "198.51.100.7", devices=device), User)


@pytest.mark.parametrize("password,outcome", [(PASSWORD, User), ("guess", SignInRefused)])
def test_a_lock_lifted_while_a_sign_in_is_in_flight_is_judged_not_counted_blind(app, user, monkeypatch,
                                                                                 password, outcome):
    for n in range(SMALL.per_account):
        attempt(app, EMAIL, "guess", f"203.0.113.{n}", limits=SMALL)
    ext = runtime_of(app)
    real_lock = signin._lock

    def lift_first(ctx, keys):
        with ext.session_factory() as other:
            admin = Ctx(session=other, actor="user:999", now=ctx.now)
            lock_id = other.scalar(select(SignInCounter.id).where(SignInCounter.scope == "account"))
            assert signin.lift_lock(admin, lock_id, source="web")[1]
            other.commit()
        return real_lock(ctx, keys)

    monkeypatch.setattr(signin, "_lock", lift_first)
    result = attempt(app, EMAIL, password, "10.0.0.1", limits=SMALL)
    assert isinstance(result, outcome)
    last = events(app)[-1]
    assert last[0] == ("user.login" if outcome is User else "user.login_failed")
    assert last[2].get("reason") in (None, "wrong_password")


# Throttled attempts in the audit trail.

def test_throttled_attempts_leave_one_event_per_account_and_address_in_a_window(app, user, clock):
    for _ in range(MAX_PER_ACCOUNT):
        attempt(app, EMAIL, "guess", "203.0.113.1")
    before = len(events(app))
    for _ in range(10):
        assert isinstance(attempt(app, EMAIL, "guess", "203.0.113.1"), SignInThrottled)
    for _ in range(3):
        assert isinstance(attempt(app, EMAIL, PASSWORD, "10.0.0.1"), SignInThrottled)
    throttled = events(app)[before:]
    assert [(a, p["throttled"], p["client_address"]) for a, _s, p in throttled] == [
        ("user.login_failed", True, "203.0.113.1"), ("user.login_failed", True, "10.0.0.1")]
    assert all("throttled_before" not in p for _a, _s, p in throttled)
    assert throttled[0][1] == f"user:{user}"
    # The lock runs out; each pair's next event carries what was counted outside the trail.
    clock.advance(minutes=15)
    assert isinstance(attempt(app, EMAIL, PASSWORD, "10.0.0.1"), User)
    assert isinstance(attempt(app, EMAIL, "guess", "203.0.113.1"), SignInRefused)
    login, failed = events(app)[-2:]
    assert login[0] == "user.login" and login[2]["throttled_before"] == 2
    assert failed[0] == "user.login_failed" and failed[2]["throttled_before"] == 9
    # And only once.
    assert isinstance(attempt(app, EMAIL, "guess", "203.0.113.1"), SignInRefused)
    assert "throttled_before" not in events(app)[-1][2]


def test_a_new_lock_starts_with_a_new_throttled_event(app, user, clock):
    def try_(email):
        return attempt(app, email, "typo", "10.5.5.5", limits=SMALL)

    for n in range(SMALL.per_address):
        try_(f"x{n}@example.com")
    before = len(events(app))
    for _ in range(5):
        assert isinstance(try_("victim@example.com"), SignInThrottled)
    clock.advance(minutes=15)  # the address lock ran out: failures count afresh
    assert isinstance(try_("victim@example.com"), SignInRefused)
    for n in range(SMALL.per_address - 1):
        try_(f"y{n}@example.com")
    assert isinstance(try_("victim@example.com"), SignInThrottled)
    later = [p for _a, _s, p in events(app)[before:]]
    assert [p.get("throttled", False) for p in later] == [True] + [False] * SMALL.per_address + [True]
    assert later[1]["throttled_before"] == 4
    assert all("throttled_before" not in p for p in later[2:])


# Locks: seen and lifted by an admin.

def test_an_admin_lists_and_lifts_locks_through_the_api(app, client, user):
    for n in range(SMALL.per_account):
        attempt(app, EMAIL, "guess", f"203.0.113.{n}", limits=SMALL)
    for n in range(SMALL.per_address):
        attempt(app, f"x{n}@example.com", "typo", "10.7.7.7", limits=SMALL)
    admin = Api(client, admin_token(app))
    items = admin.ok("GET", "/sign-in-locks")["items"]
    by_scope = {i["scope"]: i for i in items}
    assert set(by_scope) == {"account", "address"}
    assert by_scope["account"]["user_id"] == user and by_scope["account"]["email"] == EMAIL
    assert by_scope["account"]["failures"] == SMALL.per_account and by_scope["account"]["locked_until"]
    assert by_scope["address"]["client_address"] == "10.7.7.7" and by_scope["address"]["user_id"] is None

    lifted = admin.ok("DELETE", f"/sign-in-locks/{by_scope['account']['id']}")
    assert lifted["locked_until"] is None and lifted["failures"] == 0
    assert [i["scope"] for i in admin.ok("GET", "/sign-in-locks")["items"]] == ["address"]
    assert isinstance(attempt(app, EMAIL, PASSWORD, "10.0.0.1"), User)
    lifts = events(app, "user.lock_lifted")
    assert len(lifts) == 1 and lifts[0][1] == f"user:{user}"
    assert lifts[0][2]["scope"] == "account" and lifts[0][2]["source"] == "api"
    # Lifting again changes nothing and writes nothing; an unknown lock is a 404.
    admin.ok("DELETE", f"/sign-in-locks/{by_scope['account']['id']}")
    assert len(events(app, "user.lock_lifted")) == 1
    assert admin.delete("/sign-in-locks/999999").status_code == 404
    assert admin.get("/sign-in-locks?cursor=nonsense").status_code == 422
    assert admin.get("/sign-in-locks?colour=red").status_code == 422


def test_only_an_admin_sees_or_lifts_locks(app, client, user):
    attempt(app, EMAIL, "guess")
    with runtime_of(app).session_factory() as s:
        lock_id = s.scalars(select(SignInCounter.id)).first()
        ctx = runtime_of(app).ctx(s, "system:test")
        _, token = create_user(ctx, email="aud@example.com", role="auditor", issue_token=True)
        s.commit()
    auditor = Api(client, token)
    assert auditor.get("/sign-in-locks").status_code == 403
    assert auditor.delete(f"/sign-in-locks/{lock_id}").status_code == 403
    assert Api(client).get("/sign-in-locks").status_code == 401


# Input the database cannot store.

def test_a_nul_in_the_email_is_a_plain_refusal(app, user):
    result = attempt(app, "rph@example.com\x00", PASSWORD)
    assert isinstance(result, SignInRefused) and result.message == GENERIC_FAILURE
    result = attempt(app, EMAIL, PASSWORD, "10.0.0.1\x00")
    assert isinstance(result, User)


def test_any_password_text_hashes_and_verifies(app):
    from pharmsafe.services.users import hash_password, verify_password

    odd = "\ud800 lone surrogate \x00 and NUL"
    assert verify_password(hash_password(odd), odd) and not verify_password(hash_password(odd), "other")
    # The same through the API, which used to answer 500.
    admin = Api(app.test_client(), admin_token(app))
    resp = admin.post("/users", {"email": "odd@example.com", "role": "auditor", "password": "\ud800" * 8})
    assert resp.status_code in (201, 422), resp.status_code
