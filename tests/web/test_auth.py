"""Sign-in, sign-out, sessions, role homes, 403/404 pages and CSRF."""
from __future__ import annotations

import pytest

from pharmsafe.models import AuditEvent, WebSession
from pharmsafe.runtime import runtime_of
from tests.web.conftest import Pages, field_error, input_value, text
from tests.web.seed import PASSWORD

HOMES = {"admin": "/admin/", "prescriber": "/prescriber/", "pharmacist": "/pharmacist/", "auditor": "/audit/"}


@pytest.fixture
def people(seed):
    pharmacy, prescriber = seed.pharmacy(), seed.prescriber()
    return {"admin": seed.user("admin"), "auditor": seed.user("auditor"),
            "pharmacist": seed.user("pharmacist", pharmacy_id=pharmacy),
            "prescriber": seed.user("prescriber", prescriber_id=prescriber)}


def test_login_page_has_labelled_fields_and_button(client):
    resp = client.get("/login")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert '<label for="f-email">Email</label>' in html and '<label for="f-password">Password</label>' in html
    assert 'id="f-email" name="email" type="email"' in html and 'id="f-password" name="password" type="password"' in html
    assert ">Sign in</button>" in html
    assert "<title>Sign in · PharmSafe</title>" in html


@pytest.mark.parametrize("role", sorted(HOMES))
def test_each_role_lands_on_its_home_page(app, people, role):
    pages = Pages(app.test_client())
    resp = pages.login(people[role])
    assert resp.status_code == 302 and resp.headers["Location"] == HOMES[role]
    home = pages.get(HOMES[role])
    assert home.status_code == 200
    assert ">Sign out</button>" in home.get_data(as_text=True)
    assert people[role] in text(home)


def test_wrong_password_and_unknown_email_get_one_generic_message_and_are_audited(app, people, count):
    pages = Pages(app.test_client())
    wrong = pages.login(people["pharmacist"], "not the password")
    unknown = pages.login("nobody@example.test", "whatever-it-is")
    for resp in (wrong, unknown):
        assert resp.status_code == 401
        assert "Email or password is incorrect." in text(resp)
        assert "Sign out" not in text(resp)
    assert input_value(wrong, "email") == people["pharmacist"]
    # The password is never sent back.
    assert "not the password" not in wrong.get_data(as_text=True)
    assert count(AuditEvent, AuditEvent.action == "user.login_failed", AuditEvent.actor == "anonymous") == 2
    assert count(AuditEvent, AuditEvent.action == "user.login_failed", AuditEvent.subject == "user:unknown") == 1
    with runtime_of(app).session_factory() as s:
        payloads = [e.payload for e in s.query(AuditEvent).filter(AuditEvent.action == "user.login_failed")]
    assert all("not the password" not in p and "whatever-it-is" not in p for p in payloads)


def test_repeated_failures_are_throttled_even_with_the_right_password(app, people, count):
    pages = Pages(app.test_client())
    for _ in range(5):
        assert pages.login(people["auditor"], "guess").status_code == 401
    resp = pages.login(people["auditor"])
    assert resp.status_code == 429
    assert "Too many failed sign-ins." in text(resp)
    assert count(AuditEvent, AuditEvent.action == "user.login_failed") == 6
    assert count(AuditEvent, AuditEvent.action == "user.login") == 0


def test_empty_fields_are_refused_with_field_messages(client):
    pages = Pages(client)
    resp = pages.login("", "")
    assert resp.status_code == 422
    assert field_error(resp, "f-email") == "This field is required."
    assert field_error(resp, "f-password") == "This field is required."


def test_successful_login_is_audited_and_starts_a_new_session(app, people, count):
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
    Pages(client).login(people["auditor"])
    with client.session_transaction() as sess:
        assert "planted" not in sess and isinstance(sess["sid"], str)
    assert count(AuditEvent, AuditEvent.action == "user.login") == 1
    assert count(WebSession) == 1


def test_session_cookie_is_httponly_and_samesite_lax(app, people):
    resp = Pages(app.test_client()).login(people["admin"])
    (cookie,) = [c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_sign_out_ends_the_session(signed_in, people):
    pages = signed_in(people["admin"])
    resp = pages.submit("/logout", page="/admin/")
    assert resp.status_code == 302 and resp.headers["Location"] == "/login"
    assert pages.get("/admin/").status_code == 302


def test_anonymous_visitor_is_sent_to_sign_in_and_back(app, people):
    pages = Pages(app.test_client())
    resp = pages.get("/pharmacist/?q=park")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?next=")
    login_page = pages.get(resp.headers["Location"])
    token_page = resp.headers["Location"]
    resp = pages.submit("/login", {"email": people["pharmacist"], "password": "correct horse battery staple",
                                   "next": "/pharmacist/?q=park"}, page=token_page)
    assert login_page.status_code == 200
    assert resp.headers["Location"] == "/pharmacist/?q=park"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_sign_in_never_redirects_to_another_site(app, people, target):
    resp = Pages(app.test_client()).submit("/login", {"email": people["auditor"], "password": "correct horse battery staple",
                                                      "next": target}, page="/login")
    assert resp.headers["Location"] == "/audit/"


@pytest.mark.parametrize("role,path", [
    ("pharmacist", "/audit/"), ("pharmacist", "/admin/"), ("pharmacist", "/prescriber/"),
    ("prescriber", "/pharmacist/"), ("prescriber", "/audit/"), ("prescriber", "/admin/users"),
    ("auditor", "/pharmacist/"), ("auditor", "/admin/"), ("auditor", "/prescriber/patients/new"),
    ("admin", "/pharmacist/"), ("admin", "/prescriber/"),
])
def test_a_page_a_role_may_not_see_answers_403_in_the_same_style(signed_in, people, role, path):
    resp = signed_in(people[role]).get(path)
    assert resp.status_code == 403
    assert resp.mimetype == "text/html"
    body = text(resp)
    assert "Not allowed" in body and f"you are signed in as a {role}" in body and "Sign out" in body
    assert "pharmsafe.css" in resp.get_data(as_text=True)


def test_unknown_page_is_a_404_page(signed_in, people):
    resp = signed_in(people["admin"]).get("/admin/nothing-here")
    assert resp.status_code == 404 and resp.mimetype == "text/html"
    assert "Not found" in text(resp) and "Sign out" in text(resp)


def test_deactivation_refuses_the_session_at_once(app, people, signed_in):
    pharmacist = signed_in(people["pharmacist"])
    assert pharmacist.get("/pharmacist/").status_code == 200
    admin = signed_in(people["admin"])
    with runtime_of(app).session_factory() as s:
        from pharmsafe.services.users import find_user_by_email
        user_id = find_user_by_email(s, people["pharmacist"]).id
    resp = admin.submit(f"/admin/users/{user_id}/active", {"active": "no"}, page=f"/admin/users/{user_id}")
    assert resp.status_code == 303
    assert pharmacist.get("/pharmacist/").status_code == 302
    # And a deactivated user cannot sign in again.
    assert "Email or password is incorrect." in text(Pages(app.test_client()).login(people["pharmacist"]))


def test_a_session_older_than_a_working_day_is_refused_however_active(signed_in, people, clock):
    pages = signed_in(people["auditor"])
    for _ in range(24):  # a request every 30 minutes: never idle, 12 hours in all
        clock.advance(minutes=30)
        assert pages.get("/audit/").status_code == 200
    clock.advance(seconds=1)
    assert pages.get("/audit/").status_code == 302


def test_a_session_idle_for_thirty_minutes_ends(signed_in, people, clock):
    pages = signed_in(people["auditor"])
    clock.advance(minutes=30)
    assert pages.get("/audit/").status_code == 200  # exactly 30 minutes idle still counts
    clock.advance(minutes=30, seconds=1)
    assert pages.get("/audit/").status_code == 302


def test_pages_are_not_cached_or_framed(signed_in, people):
    resp = signed_in(people["admin"]).get("/admin/")
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]


def test_the_api_still_answers_json_without_a_csrf_token(client):
    resp = client.post("/api/v1/prescriptions", json={})
    assert resp.status_code == 401 and resp.is_json


def test_head_of_the_sign_in_page_answers_like_get(client):
    resp = client.head("/login")
    assert resp.status_code == 200 and resp.mimetype == "text/html"


def test_a_nul_in_the_email_is_refused_like_any_unknown_email(app, people, count):
    resp = Pages(app.test_client()).login(people["admin"] + "\x00", PASSWORD)
    assert resp.status_code == 401 and "Email or password is incorrect." in text(resp)
    assert count(AuditEvent, AuditEvent.action == "user.login_failed", AuditEvent.subject == "user:unknown") == 1


@pytest.mark.parametrize("target", ["/admin/\r\nSet-Cookie: planted=1", "/admin/\n", "/\t/evil.example",
                                    "/admin/\x00", "/ /evil.example", "/admin/\u2028"])
def test_a_next_with_control_characters_or_spaces_is_ignored_and_the_sign_in_stands(app, people, count, target):
    pages = Pages(app.test_client())
    resp = pages.submit("/login", {"email": people["admin"], "password": PASSWORD, "next": target}, page="/login")
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/"
    assert count(AuditEvent, AuditEvent.action == "user.login") == 1
    assert pages.get("/admin/").status_code == 200
    # Signed in already, the same target on the sign-in page goes home too.
    assert pages.get("/login", query_string={"next": target}).headers["Location"] == "/admin/"


def test_a_percent_encoded_next_is_followed_as_it_is(app, people):
    resp = Pages(app.test_client()).submit("/login", {"email": people["pharmacist"], "password": PASSWORD,
                                                      "next": "/pharmacist/?q=a%0d%0ab"}, page="/login")
    assert resp.headers["Location"] == "/pharmacist/?q=a%0d%0ab"


def test_a_sign_in_that_fails_after_the_password_carries_no_session(app, people, monkeypatch, count):
    import pharmsafe.web.auth as auth_views

    def broken(_user):
        raise RuntimeError("the page after the sign-in could not be chosen")

    monkeypatch.setattr(auth_views, "home_url", broken)
    pages = Pages(app.test_client())
    resp = pages.login(people["admin"])
    assert resp.status_code == 500
    assert not [c for c in resp.headers.getlist("Set-Cookie") if c.startswith(("session=", "pharmsafe_device="))]
    monkeypatch.undo()
    assert pages.get("/admin/").status_code == 302
    assert count(WebSession) == 0 and count(AuditEvent, AuditEvent.action == "user.login") == 0


def test_a_browser_that_signed_in_before_is_not_locked_out_by_others(app, people):
    counter = Pages(app.test_client())  # the pharmacist's own browser at the pharmacy's address
    assert counter.login(people["pharmacist"]).status_code == 302
    device = counter.client.get_cookie("pharmsafe_device", path="/login")
    assert device is not None and device.http_only and device.secure and device.same_site == "Strict"
    counter.submit("/logout", page="/pharmacist/")
    # A colleague's typos from another browser behind the same address lock the address...
    for n in range(20):
        assert Pages(app.test_client()).login(f"colleague{n}@example.test", "typo").status_code == 401
    assert Pages(app.test_client()).login(people["auditor"]).status_code == 429
    # ...and someone elsewhere who knows the pharmacist's email locks the account.
    for n in range(5):
        Pages(app.test_client()).login(people["pharmacist"], "guess", environ_base={"REMOTE_ADDR": f"203.0.113.{n}"})
    assert Pages(app.test_client()).login(people["pharmacist"],
                                          environ_base={"REMOTE_ADDR": "198.51.100.1"}).status_code == 429
    # The pharmacist's own browser signs in all the same.
    resp = counter.login(people["pharmacist"])
    assert resp.status_code == 302 and resp.headers["Location"] == "/pharmacist/"
    # A forged or altered device cookie is no exemption.
    stranger = Pages(app.test_client())
    stranger.client.set_cookie("pharmsafe_device", device.value[:-2] + "xx", path="/login")
    assert stranger.login(people["pharmacist"]).status_code == 429


def test_one_browser_keeps_a_device_cookie_for_each_account_signed_in_there(app, people):
    shared = Pages(app.test_client())  # a shared computer at the counter
    for role in ("pharmacist", "auditor"):
        assert shared.login(people[role]).status_code == 302
        shared.submit("/logout", page=HOMES[role])
    for n in range(20):
        Pages(app.test_client()).login(f"typo{n}@example.test", "typo")
    for role in ("pharmacist", "auditor"):
        assert shared.login(people[role]).status_code == 302
        shared.submit("/logout", page=HOMES[role])
    assert shared.login(people["admin"]).status_code == 429
