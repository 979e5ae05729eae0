"""Sign-in limits counted in the database: they hold across two app instances sharing it."""
from __future__ import annotations


import pytest
from sqlalchemy import select

from pharmsafe import create_app
from pharmsafe.models import AuditEvent
from pharmsafe.services.context import Ctx
from pharmsafe.services.signin import (GENERIC_FAILURE, MAX_PER_ACCOUNT, SignInRefused, SignInThrottled, sign_in)
from pharmsafe.services.users import create_user


@pytest.fixture
def two_apps(app, settings, clock):
    other = create_app(settings, clock=clock)
    yield app, other
    other.extensions["pharmsafe"]["engine"].dispose()


def attempt(app, email, password, address="10.0.0.1"):
    ext = app.extensions["pharmsafe"]
    with ext["session_factory"]() as session:
        ctx = Ctx(session=session, actor="anonymous", now=ext["clock"].now(), config=ext["program"])
        try:
            user = sign_in(ctx, email, password, address)
        except (SignInRefused, SignInThrottled) as exc:
            session.commit()  # the refusal is recorded, as the web edge does
            return exc
        session.commit()
        return user


@pytest.fixture
def user(app):
    ext = app.extensions["pharmsafe"]
    with ext["session_factory"]() as session:
        ctx = Ctx(session=session, actor="system:test", now=ext["clock"].now(), config=ext["program"])
        create_user(ctx, email="rph@example.com", role="admin", password="correct horse")
        session.commit()


def test_wrong_email_and_wrong_password_get_the_same_answer(app, user):
    unknown, wrong = attempt(app, "nobody@example.com", "x"), attempt(app, "rph@example.com", "x")
    assert isinstance(unknown, SignInRefused) and isinstance(wrong, SignInRefused)
    assert unknown.message == wrong.message == GENERIC_FAILURE
    with app.extensions["pharmsafe"]["session_factory"]() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.action.like("user.login%"))).all()
    assert actions == ["user.login_failed", "user.login_failed"]


def test_account_limit_holds_across_two_instances(two_apps, user, clock):
    first, second = two_apps
    for i in range(MAX_PER_ACCOUNT):
        assert isinstance(attempt((first, second)[i % 2], "rph@example.com", "wrong", f"10.0.0.{i}"), SignInRefused)
    # The next attempt, even with the right password and from either instance, is refused.
    assert isinstance(attempt(first, "rph@example.com", "correct horse", "10.9.9.9"), SignInThrottled)
    assert isinstance(attempt(second, "RPH@example.com", "correct horse", "10.9.9.8"), SignInThrottled)
    clock.advance(minutes=15)
    assert not isinstance(attempt(second, "rph@example.com", "correct horse"), Exception)


def test_address_limit(app, user):
    for i in range(20):
        attempt(app, f"u{i}@example.com", "x", "10.1.1.1")
    assert isinstance(attempt(app, "rph@example.com", "correct horse", "10.1.1.1"), SignInThrottled)
    assert not isinstance(attempt(app, "rph@example.com", "correct horse", "10.1.1.2"), Exception)


def test_success_clears_the_account_count(app, user):
    for _ in range(MAX_PER_ACCOUNT - 1):
        attempt(app, "rph@example.com", "wrong")
    assert not isinstance(attempt(app, "rph@example.com", "correct horse"), Exception)
    for _ in range(MAX_PER_ACCOUNT - 1):
        assert isinstance(attempt(app, "rph@example.com", "wrong"), SignInRefused)
