"""Server-side sign-in sessions: the cookie names a row that keeps only a hash of the session id;
sign-out, deactivation (API and page) and a password change end sessions at once, for every copy
of the cookie, and say so in the audit trail."""
from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select

from pharmsafe.models import AuditEvent, User, WebSession
from pharmsafe.runtime import runtime_of
from pharmsafe.services import users
from tests.support import Api, admin_token
from tests.web.conftest import Pages
from tests.web.seed import PASSWORD, Seed

HOME = "/audit/"


@pytest.fixture
def seed(app):
    return Seed(app)


@pytest.fixture
def auditor(app, seed):
    email = seed.user("auditor")
    with runtime_of(app).session_factory() as s:
        return email, s.scalar(select(User.id).where(User.email == email))


def signed_in(app, email, **kw) -> Pages:
    pages = Pages(app.test_client())
    assert pages.login(email, **kw).status_code == 302
    return pages


def cookie_of(pages: Pages) -> str:
    return pages.client.get_cookie("session").value


def browser_with(app, cookie: str) -> Pages:
    client = app.test_client()
    client.set_cookie("session", cookie)
    return Pages(client)


def ended_events(app):
    with runtime_of(app).session_factory() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == "session.ended").order_by(AuditEvent.id))
        return [(e.actor, e.subject, json.loads(e.payload)) for e in rows]


def rows(app, *criteria):
    with runtime_of(app).session_factory() as s:
        return s.scalars(select(WebSession).where(*criteria).order_by(WebSession.id)).all()


def test_the_cookie_names_a_row_that_keeps_only_a_hash_of_the_session_id(app, auditor):
    email, user_id = auditor
    pages = signed_in(app, email, headers={"User-Agent": "Counter browser/1.0"})
    data = app.session_interface.get_signing_serializer(app).loads(cookie_of(pages))
    assert set(data) <= {"sid", "csrf_token", "_flashes"} and "user_id" not in data
    sid = data["sid"]
    assert len(sid) >= 43  # 32 random bytes
    (row,) = rows(app)
    assert row.token_hash == hashlib.sha256(sid.encode()).hexdigest()
    assert sid not in {str(getattr(row, c.key)) for c in WebSession.__table__.columns}
    assert row.user_id == user_id and row.client_address == "127.0.0.1" and row.user_agent == "Counter browser/1.0"
    assert row.ended_at is None


def test_sign_out_ends_the_session_for_every_copy_of_the_cookie(app, auditor):
    email, user_id = auditor
    pages = signed_in(app, email)
    copy = browser_with(app, cookie_of(pages))
    assert copy.get(HOME).status_code == 200
    assert pages.submit("/logout", page=HOME).status_code == 302
    assert copy.get(HOME).status_code == 302 and pages.get(HOME).status_code == 302
    (row,) = rows(app)
    assert row.ended_at is not None and row.end_reason == "signed_out"
    assert ended_events(app) == [(f"user:{user_id}", f"session:{row.id}",
                                  {"reason": "signed_out", "source": "web", "user_id": user_id})]


def test_signing_in_again_in_the_same_browser_replaces_the_session(app, auditor):
    email, _ = auditor
    pages = signed_in(app, email)
    old = browser_with(app, cookie_of(pages))
    token = pages.csrf_token(HOME, "/logout")  # the sign-in page itself sends a signed-in person home
    assert pages.client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token}).status_code == 302
    assert old.get(HOME).status_code == 302 and pages.get(HOME).status_code == 200
    assert [p["reason"] for _a, _s, p in ended_events(app)] == ["replaced"]


def test_deactivation_through_the_api_ends_sessions_and_reactivation_revives_none(app, client, auditor):
    email, user_id = auditor
    desk, laptop = signed_in(app, email), signed_in(app, email)
    saved = cookie_of(desk)
    admin = Api(client, admin_token(app))
    admin.ok("PATCH", f"/users/{user_id}", {"active": False})
    assert desk.get(HOME).status_code == 302 and laptop.get(HOME).status_code == 302
    events = ended_events(app)
    assert [p["reason"] for _a, _s, p in events] == ["deactivated", "deactivated"]
    assert all(a.startswith("user:") and a != f"user:{user_id}" and p["source"] == "api" for a, _s, p in events)
    admin.ok("PATCH", f"/users/{user_id}", {"active": True})
    assert browser_with(app, saved).get(HOME).status_code == 302
    assert signed_in(app, email).get(HOME).status_code == 200


def test_deactivation_on_the_admin_page_ends_sessions_and_reactivation_revives_none(app, seed, auditor):
    email, user_id = auditor
    desk = signed_in(app, email)
    saved = cookie_of(desk)
    admin = signed_in(app, seed.user("admin"))
    page = f"/admin/users/{user_id}"
    assert admin.submit(f"/admin/users/{user_id}/active", {"active": "no"}, page=page).status_code == 303
    assert desk.get(HOME).status_code == 302
    assert admin.submit(f"/admin/users/{user_id}/active", {"active": "yes"}, page=page).status_code == 303
    assert browser_with(app, saved).get(HOME).status_code == 302
    assert [(p["reason"], p["source"]) for _a, _s, p in ended_events(app)] == [("deactivated", "web")]


def test_a_password_change_ends_the_sessions_it_does_not_keep(app, auditor):
    email, user_id = auditor
    desk, laptop = signed_in(app, email), signed_in(app, email)
    keep = rows(app)[0]
    ext = runtime_of(app)
    new_hash = users.hash_password("a brand new passphrase")
    with ext.session_factory() as s:
        ctx = ext.ctx(s, f"user:{user_id}")
        ended = users.change_password(ctx, user_id, new_hash, keep_session_id=keep.id, source="web")
        s.commit()
    assert len(ended) == 1
    assert desk.get(HOME).status_code == 200 and laptop.get(HOME).status_code == 302
    assert [p["reason"] for _a, _s, p in ended_events(app)] == ["password_changed"]
    assert Pages(app.test_client()).login(email, PASSWORD).status_code == 401
    assert Pages(app.test_client()).login(email, "a brand new passphrase").status_code == 302


def test_a_session_row_outlives_no_limit_whatever_the_cookie_says(app, auditor, clock):
    """The limits are kept beside the row: nothing in the cookie can extend them."""
    email, _ = auditor
    pages = signed_in(app, email)
    cookie = cookie_of(pages)
    clock.advance(minutes=31)
    assert browser_with(app, cookie).get(HOME).status_code == 302
    assert pages.get(HOME).status_code == 302
