"""A form sent after its session timed out: the person signs in again and lands on the same form with
what they typed (never a password), once; nothing is recorded until they send it again. Another
person signing in on that browser gets nothing of it, and a sign-out on purpose keeps nothing."""
from __future__ import annotations

import re

from pharmsafe.models import Dispense, LabResult
from tests.web.conftest import input_value, text


def sign_in_again(who, sent, email: str) -> str:
    """Sign in on the page a timed-out form was sent to; where the sign-in leads."""
    from tests.web.seed import PASSWORD

    login_page = sent.headers["Location"]
    back = who.client.post(login_page, data={"email": email, "password": PASSWORD,
                                             "csrf_token": who.csrf_token(login_page)})
    assert back.status_code == 302
    return back.headers["Location"]


def test_the_rma_typed_into_dispense_comes_back_after_signing_in_again(seed, signed_in, clock, count):
    scene = seed.scene(evaluate=True)
    rph = signed_in(scene["pharmacist"])
    page = f"/pharmacist/prescriptions/{scene['rx']}"
    html = rph.get(page).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    auth_id = re.search(r'name="authorization_id" value="(\d+)"', html).group(1)
    clock.advance(minutes=31)  # past the 30 minutes without a request
    sent = rph.client.post(f"{page}/dispense", data={"csrf_token": token, "authorization_id": auth_id,
                                                     "quantity": "60", "rma_number": "RMA-KEPT-1",
                                                     "rma_do_not_dispense_after": "2026-11-30"})
    assert sent.status_code == 302 and sent.headers["Location"].endswith(f"/login?next={page}")
    assert count(Dispense) == 0
    assert sign_in_again(rph, sent, scene["pharmacist"]) == page
    shown = rph.get(page)
    assert "what you typed is back (passwords never are)" in text(shown)
    assert input_value(shown, "rma_number") == "RMA-KEPT-1"
    assert input_value(shown, "rma_do_not_dispense_after") == "2026-11-30"
    assert count(Dispense) == 0
    again = rph.get(page)  # once
    assert input_value(again, "rma_number") == "" and "what you typed is back" not in text(again)


def test_a_form_of_the_prescriber_comes_back_and_another_person_gets_nothing(seed, signed_in, clock, count):
    prescriber = seed.prescriber()
    email = seed.user("prescriber", prescriber_id=prescriber)
    patient = seed.patient(prescriber)
    doc = signed_in(email)
    form_page = f"/prescriber/patients/{patient}/lab-results/new"
    token = doc.csrf_token(form_page)
    clock.advance(hours=13)  # past the 12 hours a sign-in lasts
    sent = doc.client.post(form_page, data={"csrf_token": token, "test": "ALT", "value": "31", "unit": "U/L",
                                            "collected_on": "2026-11-26"})
    assert sent.status_code == 302 and count(LabResult) == 0
    other = seed.user("prescriber", prescriber_id=prescriber)
    assert doc.login(other).status_code == 302
    assert input_value(doc.get(form_page), "value") == ""  # not theirs
    doc.submit("/logout", page="/prescriber/")
    assert doc.login(email).status_code == 302
    assert input_value(doc.get(form_page), "value") == ""  # that browser no longer names the timed-out session


def test_a_sign_in_form_or_a_deliberate_sign_out_keeps_nothing(seed, signed_in, clock):
    scene = seed.scene(evaluate=True)
    rph = signed_in(scene["pharmacist"])
    page = f"/pharmacist/prescriptions/{scene['rx']}"
    token = rph.csrf_token(page)
    rph.submit("/logout", page=page)
    sent = rph.client.post(f"{page}/dispense", data={"csrf_token": token, "quantity": "60", "rma_number": "X-1"})
    assert sent.status_code in (302, 400)
    rph.login(scene["pharmacist"])
    assert input_value(rph.get(page), "rma_number") == ""


def test_the_rma_a_technician_typed_into_prepare_comes_back_after_signing_in_again(seed, signed_in, clock, app):
    from pharmsafe.models import Authorization
    from pharmsafe.runtime import runtime_of
    scene = seed.scene(evaluate=True)
    tech_email = seed.user("technician", pharmacy_id=scene["pharmacy"])
    tech = signed_in(tech_email)
    page = f"/pharmacist/prescriptions/{scene['rx']}"
    html = tech.get(page).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    clock.advance(minutes=31)
    sent = tech.client.post(f"{page}/prepare", data={"csrf_token": token, "authorization_id": str(scene["auth"]),
                                                     "rma_number": "RMA-PREP-KEPT",
                                                     "rma_do_not_dispense_after": "2026-11-30"})
    assert sent.status_code == 302
    assert sign_in_again(tech, sent, tech_email) == page
    shown = tech.get(page)
    assert "what you typed is back" in text(shown)
    assert input_value(shown, "rma_number") == "RMA-PREP-KEPT"
    assert input_value(shown, "rma_do_not_dispense_after") == "2026-11-30"
    with runtime_of(app).session_factory() as s:
        assert s.get(Authorization, scene["auth"]).prepared_rma_number is None  # nothing kept until sent again
