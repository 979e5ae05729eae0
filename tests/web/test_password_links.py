"""Passwords by one-time link: an admin makes a link for a user with no password (or resets one,
which stops the old password and the user's sessions at once); the link sets the password once,
expires after 24 hours, and a newer link replaces it. Users change their own on /account/password."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from pharmsafe.models import AuditEvent, User
from pharmsafe.runtime import runtime_of
from tests.web.conftest import Pages, field_error, text
from tests.web.seed import PASSWORD


@pytest.fixture
def admin(seed, signed_in):
    return signed_in(seed.user("admin"))


def user_id(app, email: str) -> int:
    with runtime_of(app).session_factory() as s:
        return s.scalar(select(User.id).where(User.email == email))


def make_link(admin, uid: int) -> str:
    resp = admin.submit(f"/admin/users/{uid}/password-link", page=f"/admin/users/{uid}")
    assert resp.status_code == 303
    html = admin.get(f"/admin/users/{uid}").get_data(as_text=True)
    link = re.search(r"<code class=\"wrap\" data-password-link>([^<]+)</code>", html).group(1)
    assert "data-password-link" not in admin.get(f"/admin/users/{uid}").get_data(as_text=True)  # shown once
    return link.removeprefix("http://127.0.0.1:5000")


def set_password(app, path: str, password: str = "a brand new passphrase", confirm: str | None = None):
    visitor = Pages(app.test_client())
    token = visitor.csrf_token("/login")  # the visitor's own CSRF token, whatever the link's state
    return visitor.client.post(path, data={"new_password": password, "confirm_password": confirm or password,
                                           "csrf_token": token}), visitor


def test_a_new_user_sets_a_password_by_the_link_once_and_signs_in(app, seed, admin):
    email = "new.pharmacist@example.test"
    with runtime_of(app).unit_of_work("system:test") as ctx:
        from pharmsafe.services.users import create_user
        create_user(ctx, email=email, role="pharmacist", pharmacy_id=seed.pharmacy())
    uid = user_id(app, email)
    assert "No password set" in text(admin.get(f"/admin/users/{uid}"))
    path = make_link(admin, uid)
    assert path.startswith("/account/set-password/")
    done, visitor = set_password(app, path)
    assert done.status_code == 303 and done.headers["Location"] == "/login"
    assert visitor.login(email, "a brand new passphrase").status_code == 302
    again, _ = set_password(app, path, "another passphrase here")
    assert again.status_code == 404 and "has been used, has expired or was replaced" in text(again)
    with runtime_of(app).session_factory() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.subject == f"user:{uid}",
                                                    AuditEvent.action == "user.changed")).all()
    assert [json.loads(e.payload)["changes"]["password"] for e in events] == ["link issued", "changed"]
    assert events[-1].actor == f"user:{uid}"
    assert path.rsplit("/", 1)[1] not in "".join(e.payload for e in events)  # the token is never kept


def test_a_reset_stops_the_old_password_and_the_sessions_at_once(app, seed, admin, signed_in):
    email = seed.user("prescriber", prescriber_id=seed.prescriber())
    person = signed_in(email)
    assert person.get("/prescriber/").status_code == 200
    path = make_link(admin, user_id(app, email))
    assert person.get("/prescriber/").status_code == 302  # signed out
    assert Pages(app.test_client()).login(email, PASSWORD).status_code != 302
    assert set_password(app, path)[0].status_code == 303


def test_a_link_expires_after_24_hours_and_a_newer_one_replaces_it(app, seed, admin, clock):
    email = seed.user("auditor")
    uid = user_id(app, email)
    first = make_link(admin, uid)
    second = make_link(admin, uid)
    assert set_password(app, first)[0].status_code == 404
    clock.advance(hours=24)
    assert set_password(app, second)[0].status_code == 404
    clock.advance(seconds=-1)
    assert set_password(app, second)[0].status_code == 303


def test_the_password_rules_apply_and_nothing_changes_on_a_refusal(app, seed, admin):
    uid = user_id(app, seed.user("auditor"))
    path = make_link(admin, uid)
    short, _ = set_password(app, path, "short")
    assert short.status_code == 422 and field_error(short, "f-new-password")
    mismatch, _ = set_password(app, path, "a long enough passphrase", "another long passphrase")
    assert mismatch.status_code == 422 and field_error(mismatch, "f-confirm-password") == "Does not match the new password."
    assert set_password(app, path)[0].status_code == 303  # the link still works after refusals
    assert set_password(app, "/account/set-password/not-a-token")[0].status_code == 404


def test_one_link_sent_at_once_from_several_browsers_sets_one_password(app, seed, admin):
    """The link is locked while it is spent: of eight requests released together, one sets the
    password and the others are told the link was used (on PostgreSQL they would all read it unused)."""
    import threading

    email = "racing.pharmacist@example.test"
    with runtime_of(app).unit_of_work("system:test") as ctx:
        from pharmsafe.services.users import create_user
        create_user(ctx, email=email, role="pharmacist", pharmacy_id=seed.pharmacy())
    uid = user_id(app, email)
    path = make_link(admin, uid)
    visitors = [Pages(app.test_client()) for _ in range(8)]
    tokens = [v.csrf_token("/login") for v in visitors]
    barrier, statuses = threading.Barrier(len(visitors)), [None] * len(visitors)

    def send(i):
        barrier.wait()
        password = f"passphrase number {i} here"
        statuses[i] = visitors[i].client.post(path, data={"new_password": password, "confirm_password": password,
                                                          "csrf_token": tokens[i]}).status_code

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(visitors))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(statuses) == [303] + [404] * 7
    with runtime_of(app).session_factory() as s:
        changed = s.scalars(select(AuditEvent).where(AuditEvent.subject == f"user:{uid}",
                                                     AuditEvent.action == "user.changed")).all()
    assert [json.loads(e.payload)["changes"]["password"] for e in changed] == ["link issued", "changed"]
