"""A person's own sessions (/account/sessions): where and when each began, when it was last used,
from which address and browser; ending the others; changing the password, which ends the others."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from pharmsafe.models import AuditEvent, User, WebSession
from pharmsafe.runtime import runtime_of
from tests.web.conftest import Pages, field_error, text
from tests.web.seed import PASSWORD

SESSIONS = "/account/sessions"


@pytest.fixture
def person(seed):
    return seed.user("pharmacist", pharmacy_id=seed.pharmacy())


def browser(app, email, *, agent, address):
    pages = Pages(app.test_client())
    resp = pages.login(email, headers={"User-Agent": agent}, environ_base={"REMOTE_ADDR": address})
    assert resp.status_code == 302
    return pages


def listed(resp) -> dict[int, bool]:
    """Session id -> whether it is this browser's, from the page's rows."""
    return {int(sid): bool(current) for sid, current in
            re.findall(r'<tr data-session="(\d+)"( data-current)?', resp.get_data(as_text=True))}


def session_ids(app, email):
    with runtime_of(app).session_factory() as s:
        user_id = s.scalar(select(User.id).where(User.email == email))
        return [r for r in s.scalars(select(WebSession.id).where(WebSession.user_id == user_id)
                                     .order_by(WebSession.id))]


def test_a_person_sees_their_own_live_sessions(app, person, seed, clock):
    counter = browser(app, person, agent="Counter/1.0 (Windows)", address="10.0.0.5")
    clock.advance(minutes=5)
    phone = browser(app, person, agent="Phone/2.0 (Android)", address="198.51.100.23")
    browser(app, seed.user("auditor"), agent="Elsewhere/3.0", address="10.9.9.9")  # someone else's
    clock.advance(minutes=2)
    resp = phone.get(SESSIONS)
    assert resp.status_code == 200
    body = text(resp)
    counter_id, phone_id = session_ids(app, person)
    assert listed(resp) == {counter_id: False, phone_id: True}
    for shown in ("Counter/1.0 (Windows)", "10.0.0.5", "Phone/2.0 (Android)", "198.51.100.23", "This browser"):
        assert shown in body
    assert "Elsewhere/3.0" not in body and "10.9.9.9" not in body
    # Times in the pharmacy's zone: signed in at 10:00 and 10:05, this page seen at 10:07 (New York).
    assert "10:00" in body and "10:05" in body and "10:07" in body
    assert "<title>Your sessions · PharmSafe</title>" in resp.get_data(as_text=True)
    assert counter.get(SESSIONS).status_code == 200


def test_ending_another_session_signs_that_browser_out(app, person, count):
    counter = browser(app, person, agent="Counter", address="10.0.0.5")
    phone = browser(app, person, agent="Phone", address="198.51.100.23")
    counter_id, phone_id = session_ids(app, person)
    resp = phone.submit(f"{SESSIONS}/{counter_id}/end", page=SESSIONS)
    assert resp.status_code == 303 and resp.headers["Location"] == SESSIONS
    assert "Session ended" in text(phone.get(SESSIONS))
    assert counter.get("/pharmacist/").status_code == 302
    assert phone.get("/pharmacist/").status_code == 200
    assert listed(phone.get(SESSIONS)) == {phone_id: True}
    assert count(AuditEvent, AuditEvent.action == "session.ended", AuditEvent.subject == f"session:{counter_id}") == 1


def test_ending_all_other_sessions(app, person):
    others = [browser(app, person, agent=f"B{n}", address=f"10.0.0.{n}") for n in range(3)]
    here = browser(app, person, agent="Here", address="10.0.1.1")
    resp = here.submit(f"{SESSIONS}/end-others", page=SESSIONS)
    assert resp.status_code == 303
    assert all(o.get("/pharmacist/").status_code == 302 for o in others)
    assert here.get("/pharmacist/").status_code == 200
    assert len(listed(here.get(SESSIONS))) == 1


def test_nobody_ends_a_session_of_someone_else(app, person, seed, count):
    victim = browser(app, person, agent="Victim", address="10.0.0.5")
    (victim_session,) = session_ids(app, person)
    intruder = browser(app, seed.user("pharmacist", pharmacy_id=seed.pharmacy()), agent="X", address="10.0.0.6")
    forged = {"csrf_token": intruder.csrf_token(SESSIONS)}  # the intruder's own page offers no such form
    resp = intruder.client.post(f"{SESSIONS}/{victim_session}/end", data=forged)
    assert resp.status_code == 404
    assert victim.get("/pharmacist/").status_code == 200
    assert count(AuditEvent, AuditEvent.action == "session.ended") == 0


def test_the_sessions_page_needs_a_sign_in(client):
    resp = client.get(SESSIONS)
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?next=")


def test_changing_the_password_ends_the_other_sessions_and_keeps_this_one(app, person, count):
    other = browser(app, person, agent="Other", address="10.0.0.5")
    here = browser(app, person, agent="Here", address="10.0.0.6")
    page = "/account/password"
    form = here.get(page)
    assert form.status_code == 200 and "<title>Change your password · PharmSafe</title>" in form.get_data(as_text=True)

    wrong = here.submit(page, {"current_password": "not it", "new_password": "a brand new passphrase",
                               "confirm_password": "a brand new passphrase"})
    assert wrong.status_code == 422 and field_error(wrong, "f-current-password") == "This is not your current password."
    short = here.submit(page, {"current_password": PASSWORD, "new_password": "short", "confirm_password": "short"})
    assert short.status_code == 422 and field_error(short, "f-new-password") == "Length must be between 8 and 1024."
    differ = here.submit(page, {"current_password": PASSWORD, "new_password": "a brand new passphrase",
                                "confirm_password": "a brand new passphrasf"})
    assert differ.status_code == 422 and field_error(differ, "f-confirm-password") == "Does not match the new password."
    assert count(AuditEvent, AuditEvent.action == "session.ended") == 0
    assert "not it" not in wrong.get_data(as_text=True) and PASSWORD not in short.get_data(as_text=True)

    done = here.submit(page, {"current_password": PASSWORD, "new_password": "a brand new passphrase",
                              "confirm_password": "a brand new passphrase"})
    assert done.status_code == 303 and done.headers["Location"] == SESSIONS
    assert "Password changed" in text(here.get(SESSIONS))
    assert other.get("/pharmacist/").status_code == 302
    assert here.get("/pharmacist/").status_code == 200
    assert count(AuditEvent, AuditEvent.action == "session.ended") == 2  # the other one, and this one renewed
    assert Pages(app.test_client()).login(person, PASSWORD).status_code == 401
    assert Pages(app.test_client()).login(person, "a brand new passphrase").status_code == 302
