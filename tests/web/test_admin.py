"""Admin pages: pharmacies, prescribers (a lapse shows what it reversed), users and API tokens."""
from __future__ import annotations

import re

import pytest

from pharmsafe.models import ApiToken, AuditEvent, Authorization, Pharmacy, Prescriber, SignInCounter, User
from pharmsafe.runtime import runtime_of
from tests.support import npi_with_check_digit
from tests.web.conftest import Pages, field_error, input_value, text

PHARMACY = {"name": "Main Street Pharmacy", "ncpdp_id": "1234567", "rems_registration_id": "RPH-42",
            "activated_until": "2027-12-31", "time_zone": "America/New_York"}
PRESCRIBER = {"npi": npi_with_check_digit("124531959"), "first_name": "Ana", "last_name": "Silva",
              "license_state": "NY", "license_number": "NY-1", "license_expires_on": "2027-12-31",
              "rems_certified_until": "2027-12-31", "status": "active"}


@pytest.fixture
def admin(seed, signed_in):
    return signed_in(seed.user("admin"))


def test_admin_home_links_to_every_list(admin):
    html = admin.get("/admin/").get_data(as_text=True)
    for href in ("/admin/pharmacies", "/admin/prescribers", "/admin/users", "/audit/"):
        assert f'href="{href}"' in html


@pytest.mark.parametrize("change,fid,message", [
    ({"ncpdp_id": "12345"}, "f-ncpdp-id", "Must be 7 digits."),
    ({"name": ""}, "f-name", "This field is required."),
    ({"time_zone": "Mars/Olympus"}, "f-time-zone", "Not a known IANA time zone (for example America/New_York)."),
    ({"activated_until": "31/12/2027"}, "f-activated-until", "Not a valid date."),
])
def test_new_pharmacy_refuses_bad_input(admin, count, change, fid, message):
    resp = admin.submit("/admin/pharmacies/new", {**PHARMACY, **change})
    assert resp.status_code == 422 and field_error(resp, fid) == message
    assert input_value(resp, "rems_registration_id") == "RPH-42"
    assert count(Pharmacy) == 0


def test_pharmacy_is_registered_and_edited(admin, app):
    resp = admin.submit("/admin/pharmacies/new", PHARMACY)
    assert resp.status_code == 303 and resp.headers["Location"] == "/admin/pharmacies"
    listing = admin.get("/admin/pharmacies")
    assert "Main Street Pharmacy" in text(listing) and "registered" in text(listing)
    with runtime_of(app).session_factory() as s:
        pid = s.query(Pharmacy).one().id
    edit = admin.get(f"/admin/pharmacies/{pid}")
    assert input_value(edit, "ncpdp_id") == "1234567"
    duplicate = admin.submit("/admin/pharmacies/new", PHARMACY)
    assert duplicate.status_code == 409 and field_error(duplicate, "f-ncpdp-id") == "Already registered."
    resp = admin.submit(f"/admin/pharmacies/{pid}", {**PHARMACY, "name": "Main St. Pharmacy"})
    assert resp.status_code == 303
    assert "Main St. Pharmacy" in text(admin.get(f"/admin/pharmacies/{pid}"))


def test_pharmacy_lapse_shows_the_reversed_authorizations(seed, admin):
    scene = seed.scene(evaluate=True)
    resp = admin.submit(f"/admin/pharmacies/{scene['pharmacy']}",
                        {**PHARMACY, "ncpdp_id": "7654321", "activated_until": "2026-11-01"})
    assert resp.status_code == 303
    page = text(admin.get(resp.headers["Location"]))
    assert (f"This change reversed 1 authorization: #{scene['auth']} (prescription #{scene['rx']}, "
            f"reason: pharmacy_activation_lapsed).") in page


@pytest.mark.parametrize("change,fid,message", [
    ({"npi": "1234567890"}, "f-npi", "Not a valid NPI: 10 digits starting with 1 or 2, with a correct check digit."),
    ({"status": "retired"}, "f-status", "Must be one of: active, suspended, inactive."),
    ({"license_expires_on": ""}, "f-license-expires-on", "This field is required."),
])
def test_new_prescriber_refuses_bad_input(admin, count, change, fid, message):
    resp = admin.submit("/admin/prescribers/new", {**PRESCRIBER, **change})
    assert resp.status_code == 422 and field_error(resp, fid) == message
    assert input_value(resp, "last_name") == "Silva"
    assert count(Prescriber) == 0


def test_prescriber_license_lapse_shows_the_reversed_authorization(seed, admin, count, app):
    scene = seed.scene(evaluate=True)
    with runtime_of(app).session_factory() as s:
        prescriber = s.get(Prescriber, scene["prescriber"])
        values = {name: str(getattr(prescriber, name)) for name in PRESCRIBER}
    path = f"/admin/prescribers/{scene['prescriber']}"
    edit = admin.get(path)
    assert input_value(edit, "license_expires_on") == values["license_expires_on"]
    resp = admin.submit(path, {**values, "license_expires_on": "2026-11-25"})
    assert resp.status_code == 303 and resp.headers["Location"] == path
    page = text(admin.get(path))
    assert (f"This change reversed 1 authorization: #{scene['auth']} (prescription #{scene['rx']}, "
            "reason: prescriber_license_lapsed).") in page
    assert count(Authorization, Authorization.status == "reversed") == 1


def test_prescriber_is_registered(admin, count):
    resp = admin.submit("/admin/prescribers/new", PRESCRIBER)
    assert resp.status_code == 303 and count(Prescriber) == 1
    assert "Silva, Ana" in text(admin.get("/admin/prescribers"))


@pytest.mark.parametrize("data,errors", [
    ({"email": "not-an-email", "role": "auditor"}, {"f-email": "Not a valid email address."}),
    ({"email": "rph@example.test", "role": "pharmacist"}, {"f-pharmacy-id": "Required for a pharmacist."}),
    ({"email": "a@example.test", "role": "auditor", "password": "short"},
     {"f-password": "Length must be between 8 and 1024."}),
    ({"email": "a@example.test", "role": "wizard"}, {"f-role": "Must be one of: admin, prescriber, pharmacist, technician, manager, auditor."}),
])
def test_new_user_refuses_bad_input(admin, count, data, errors):
    users_before = count(User)
    resp = admin.submit("/admin/users/new", data)
    assert resp.status_code == 422
    for fid, message in errors.items():
        assert field_error(resp, fid) == message
    assert input_value(resp, "email") == data["email"]
    assert input_value(resp, "password") is None
    assert count(User) == users_before


def test_new_user_with_password_signs_in_and_a_token_is_shown_once(seed, admin, app, client):
    pharmacy = seed.pharmacy()
    resp = admin.submit("/admin/users/new", {"email": "rph@example.test", "role": "pharmacist",
                                             "pharmacy_id": str(pharmacy), "password": "a long enough password",
                                             "issue_token": "yes"})
    with runtime_of(app).session_factory() as s:
        user = s.query(User).filter_by(email="rph@example.test").one()
    # Post, redirect, get: the token is shown once, on the page the redirect leads to.
    assert resp.status_code == 303 and resp.headers["Location"] == f"/admin/users/{user.id}"
    shown = admin.get(resp.headers["Location"])
    token = re.search(r"data-api-token>([^<]+)<", shown.get_data(as_text=True)).group(1)
    assert "shown only this once" in text(shown) and f"User #{user.id} created." in text(shown)
    assert token not in resp.headers["Location"] and token not in resp.get_data(as_text=True)
    assert client.get("/api/v1/pharmacies", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert token not in admin.get(f"/admin/users/{user.id}").get_data(as_text=True)
    assert Pages(app.test_client()).login("rph@example.test", "a long enough password").headers["Location"] == "/pharmacist/"


def test_duplicate_email_is_refused(seed, admin):
    email = seed.user("auditor")
    resp = admin.submit("/admin/users/new", {"email": email.upper(), "role": "auditor"})
    assert resp.status_code == 409 and field_error(resp, "f-email") == "Already registered."


def test_deactivate_reactivate_issue_and_revoke_tokens(seed, admin, app, client, count):
    email = seed.user("auditor")
    with runtime_of(app).session_factory() as s:
        user_id = s.query(User).filter_by(email=email).one().id
    page = f"/admin/users/{user_id}"
    issued = admin.submit(f"/admin/users/{user_id}/tokens", page=page)
    assert issued.status_code == 303 and issued.headers["Location"] == page
    token = re.search(r"data-api-token>([^<]+)<", admin.get(page).get_data(as_text=True)).group(1)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/audit-events", headers=headers).status_code == 200

    assert admin.submit(f"/admin/users/{user_id}/active", {"active": "no"}, page=page).status_code == 303
    assert "Deactivated" in text(admin.get(page))
    assert client.get("/api/v1/audit-events", headers=headers).status_code == 401
    assert admin.submit(f"/admin/users/{user_id}/active", {"active": "yes"}, page=page).status_code == 303
    assert client.get("/api/v1/audit-events", headers=headers).status_code == 200

    with runtime_of(app).session_factory() as s:
        token_id = s.query(ApiToken).filter_by(user_id=user_id).one().id
    revoked = admin.submit(f"/admin/tokens/{token_id}/revoke", page=page)
    assert revoked.status_code == 303 and revoked.headers["Location"] == page
    assert f"API token #{token_id} revoked." in text(admin.get(page))
    assert client.get("/api/v1/audit-events", headers=headers).status_code == 401
    assert count(ApiToken, ApiToken.revoked_at.is_not(None)) == 1


def test_a_bad_active_value_changes_nothing(seed, admin, app):
    email = seed.user("auditor")
    with runtime_of(app).session_factory() as s:
        user_id = s.query(User).filter_by(email=email).one().id
    resp = admin.submit(f"/admin/users/{user_id}/active", {"active": "maybe"}, page=f"/admin/users/{user_id}")
    assert resp.status_code == 303
    assert "The change was refused: Not a valid boolean." in text(admin.get(f"/admin/users/{user_id}"))
    with runtime_of(app).session_factory() as s:
        assert s.get(User, user_id).active


def test_unknown_records_are_404(admin):
    for path in ("/admin/pharmacies/999999", "/admin/prescribers/999999", "/admin/users/999999"):
        assert admin.get(path).status_code == 404


def test_reloading_after_issuing_a_token_issues_no_other(seed, admin, app, count):
    email = seed.user("auditor")
    with runtime_of(app).session_factory() as s:
        user_id = s.query(User).filter_by(email=email).one().id
    page = f"/admin/users/{user_id}"
    issued = admin.submit(f"/admin/users/{user_id}/tokens", page=page)
    assert issued.status_code == 303
    first = admin.get(issued.headers["Location"])
    assert re.search(r"data-api-token>([^<]+)<", first.get_data(as_text=True))
    for _ in range(3):  # the browser's reload repeats the GET, never the POST
        again = admin.get(issued.headers["Location"])
        assert again.status_code == 200 and "data-api-token" not in again.get_data(as_text=True)
    assert count(ApiToken, ApiToken.user_id == user_id) == 1


def test_a_token_waiting_to_be_shown_is_for_that_admin_and_that_user_only(seed, admin, signed_in, app):
    emails = seed.user("auditor"), seed.user("auditor")
    with runtime_of(app).session_factory() as s:
        first, second = (s.query(User).filter_by(email=e).one().id for e in emails)
    issued = admin.submit(f"/admin/users/{first}/tokens", page=f"/admin/users/{first}")
    other_admin = signed_in(seed.user("admin"))
    assert "data-api-token" not in other_admin.get(f"/admin/users/{first}").get_data(as_text=True)
    assert "data-api-token" not in admin.get(f"/admin/users/{second}").get_data(as_text=True)
    assert "data-api-token" in admin.get(issued.headers["Location"]).get_data(as_text=True)


def test_every_admin_form_that_changes_something_redirects(app, seed, admin):
    """Post, redirect, get: no successful post of the admin pages answers with a page of its own."""
    email = seed.user("auditor")
    with runtime_of(app).session_factory() as s:
        user_id = s.query(User).filter_by(email=email).one().id
    for _ in range(5):
        Pages(app.test_client()).login(email, "guess")
    with runtime_of(app).session_factory() as s:
        lock_id = s.query(SignInCounter).filter_by(scope="account").one().id
    posts = [
        ("/admin/pharmacies/new", PHARMACY, "/admin/pharmacies/new"),
        ("/admin/prescribers/new", PRESCRIBER, "/admin/prescribers/new"),
        ("/admin/users/new", {"email": "new@example.test", "role": "auditor", "issue_token": "yes"}, "/admin/users/new"),
        (f"/admin/users/{user_id}/tokens", {}, f"/admin/users/{user_id}"),
        (f"/admin/users/{user_id}/active", {"active": "no"}, f"/admin/users/{user_id}"),
        (f"/admin/sign-in-locks/{lock_id}/lift", {}, "/admin/sign-in-locks"),
    ]
    for action, data, page in posts:
        resp = admin.submit(action, data, page=page)
        assert resp.status_code == 303, (action, resp.status_code)


def test_the_locks_page_lists_and_lifts_sign_in_locks(seed, admin, app, count):
    email = seed.user("pharmacist", pharmacy_id=seed.pharmacy())
    for n in range(5):
        Pages(app.test_client()).login(email, "guess", environ_base={"REMOTE_ADDR": f"203.0.113.{n}"})
    for n in range(20):
        Pages(app.test_client()).login(f"typo{n}@example.test", "typo", environ_base={"REMOTE_ADDR": "10.8.8.8"})
    assert Pages(app.test_client()).login(email).status_code == 429
    assert 'href="/admin/sign-in-locks"' in admin.get("/admin/").get_data(as_text=True)
    page = admin.get("/admin/sign-in-locks")
    body = text(page)
    assert page.status_code == 200 and email in body and "10.8.8.8" in body
    html = page.get_data(as_text=True)
    locks = dict((scope, int(lid)) for lid, scope in re.findall(r'data-lock="(\d+)" data-scope="([a-z]+)"', html))
    assert set(locks) == {"account", "address"}
    resp = admin.submit(f"/admin/sign-in-locks/{locks['account']}/lift", page="/admin/sign-in-locks")
    assert resp.status_code == 303 and resp.headers["Location"] == "/admin/sign-in-locks"
    after = admin.get("/admin/sign-in-locks")
    assert "Lock lifted" in text(after) and f'data-lock="{locks["account"]}"' not in after.get_data(as_text=True)
    assert count(AuditEvent, AuditEvent.action == "user.lock_lifted") == 1
    assert Pages(app.test_client()).login(email).status_code == 302
    # Lifting a lock that is gone (a second tab, a second click) changes nothing.
    token = {"csrf_token": admin.csrf_token("/admin/sign-in-locks")}
    again = admin.client.post(f"/admin/sign-in-locks/{locks['account']}/lift", data=token)
    assert again.status_code == 303 and count(AuditEvent, AuditEvent.action == "user.lock_lifted") == 1
    assert "was no longer in force" in text(admin.get("/admin/sign-in-locks"))
    assert admin.client.post("/admin/sign-in-locks/999999/lift", data=token).status_code == 404
