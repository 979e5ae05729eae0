"""A positive pregnancy test locks the patient (rulebook §2): the pharmacist sees it at a glance on the
prescription page and in the queue; the prescriber sees it on the patient page with the two ways out,
records the clearance (pregnancy_excluded, with a note) or marks the test entered in error, and the
lock is gone at once."""
from __future__ import annotations

import re

import pytest

from pharmsafe.models import Attestation, Authorization
from tests.web.conftest import field_error, text

LOCKED = "Patient locked by a positive pregnancy test collected"


def rx_page(rx: int) -> str:
    return f"/pharmacist/prescriptions/{rx}"


def patient_page(pid: int) -> str:
    return f"/prescriber/patients/{pid}"


def gates(resp) -> dict[str, str]:
    return dict(re.findall(r'data-gate="([a-z_]+)" data-status="([a-z_]+)"', resp.get_data(as_text=True)))


@pytest.fixture
def locked(seed):
    """An authorized prescription, then a positive test collected yesterday (it reverses the authorization)."""
    scene = seed.scene(evaluate=True)
    scene["positive"] = seed.pregnancy_test(scene["patient"], -1, result="positive")
    return scene


def test_the_pharmacist_sees_the_lock_near_the_top_with_the_two_ways_out(locked, signed_in, count):
    rph = signed_in(locked["pharmacist"])
    resp = rph.get(rx_page(locked["rx"]))
    html, body = resp.get_data(as_text=True), text(resp)
    assert f"{LOCKED} 2026-11-25" in body
    assert f'data-locked-by="pregnancy_test:{locked["positive"]}"' in html
    # Near the top: before the patient card and the gates.
    assert html.index(LOCKED) < html.index("<h2>Patient</h2>") < html.index('id="gates-heading"')
    assert "Two ways out: the prescriber records a pregnancy_excluded clearance dated 2026-11-25 or later" in body
    assert f"or the prescriber marks test {locked['positive']} entered in error" in body
    assert "Only the patient's prescriber can clear the lock" in body
    # Recording the positive reversed the authorization.
    assert 'data-outcome="reversed"' in html and count(Authorization, Authorization.status == "active") == 0
    # Evaluating again fails the pregnancy test gate on the positive.
    token = rph.csrf_token(rx_page(locked["rx"]))
    rph.client.post(f"{rx_page(locked['rx'])}/evaluate", data={"csrf_token": token})
    evaluated = rph.get(rx_page(locked["rx"]))
    assert gates(evaluated)["pregnancy_test"] == "fail"
    assert "PREGNANCY_TEST_POSITIVE" in evaluated.get_data(as_text=True)
    assert f"{LOCKED} 2026-11-25" in text(evaluated)


def test_the_queue_row_shows_the_lock(seed, locked, signed_in):
    other = seed.scene()
    other_rx = seed.prescription(other["prescriber"], other["patient"], locked["pharmacy"])
    rph = signed_in(locked["pharmacist"])
    html = rph.get("/pharmacist/").get_data(as_text=True)
    rows = {m.group(1): m.group(0) for m in re.finditer(r'<tr data-prescription="(\d+)".*?</tr>', html, re.S)}
    assert "Locked: positive pregnancy test 2026-11-25" in rows[str(locked["rx"])]
    assert "Locked" not in rows[str(other_rx)]


def test_a_later_negative_alone_does_not_lift_the_lock(seed, locked, signed_in):
    seed.pregnancy_test(locked["patient"], 0)
    assert f"{LOCKED} 2026-11-25" in text(signed_in(locked["pharmacist"]).get(rx_page(locked["rx"])))


def test_the_prescriber_sees_the_lock_and_records_the_clearance(seed, locked, signed_in, clock, count):
    doc = signed_in(locked["doctor"])
    resp = doc.get(patient_page(locked["patient"]))
    html, body = resp.get_data(as_text=True), text(resp)
    assert f"{LOCKED} 2026-11-25" in body and "Two ways out:" in body
    assert html.index(LOCKED) < html.index('id="tests-heading"')
    form_path = f"{patient_page(locked['patient'])}/attestations/new?kind=pregnancy_excluded"
    assert f'href="{form_path}"' in html and "Record a pregnancy-excluded clearance" in body
    eie = f"{patient_page(locked['patient'])}/pregnancy-tests/{locked['positive']}/entered-in-error"
    assert f'href="{eie}"' in html
    assert "Locked: positive pregnancy test 2026-11-25" in text(doc.get("/prescriber/"))
    assert f"{LOCKED} 2026-11-25" in text(doc.get(f"/prescriber/prescriptions/{locked['rx']}"))

    # The form opens on the clearance, with a Note box.
    form = doc.get(form_path)
    form_html = form.get_data(as_text=True)
    assert re.search(r'<option value="pregnancy_excluded"\s+selected>', form_html)
    assert '<label for="f-note">Note' in form_html and re.search(r'<textarea id="f-note" name="note"', form_html)

    # Without a note it is refused, and what was typed stays.
    action = f"{patient_page(locked['patient'])}/attestations/new"
    clock.advance(minutes=5)
    refused = doc.submit(action, {"kind": "pregnancy_excluded", "attested_on": "2026-11-26", "note": "  "})
    assert refused.status_code == 422
    assert field_error(refused, "f-note").startswith("A pregnancy_excluded attestation needs a note")
    assert re.search(r'<option value="pregnancy_excluded"\s+selected>', refused.get_data(as_text=True))
    assert count(Attestation, Attestation.kind == "pregnancy_excluded") == 0

    note = "Quantitative serum hCG < 5 mIU/mL on 2026-11-26 <b>"
    done = doc.submit(action, {"kind": "pregnancy_excluded", "attested_on": "2026-11-26", "note": note})
    assert done.status_code == 303 and done.headers["Location"] == patient_page(locked["patient"])
    after = doc.get(patient_page(locked["patient"]))
    assert LOCKED not in text(after) and "Attestation recorded." in text(after)
    assert note in text(after) and "&lt;b&gt;" in after.get_data(as_text=True)
    assert "Locked" not in text(doc.get("/prescriber/"))
    # The pharmacist's page drops the banner at once, before any evaluation.
    assert LOCKED not in text(signed_in(locked["pharmacist"]).get(rx_page(locked["rx"])))


def test_a_note_belongs_to_a_clearance_only(locked, signed_in, count):
    doc = signed_in(locked["doctor"])
    resp = doc.submit(f"{patient_page(locked['patient'])}/attestations/new",
                      {"kind": "counseling", "attested_on": "2026-11-26", "note": "Discussed"})
    assert resp.status_code == 422
    assert field_error(resp, "f-note") == "Only a pregnancy_excluded attestation carries a note."
    assert "Discussed" in resp.get_data(as_text=True)
    assert count(Attestation, Attestation.kind == "counseling", Attestation.note.is_not(None)) == 0


def test_a_clearance_recorded_before_the_positive_does_not_count(seed, signed_in):
    scene = seed.scene()
    seed.clearance(scene["patient"])
    seed.pregnancy_test(scene["patient"], 0, result="positive")
    assert f"{LOCKED} 2026-11-26" in text(signed_in(scene["pharmacist"]).get(rx_page(scene["rx"])))


def test_marking_the_positive_entered_in_error_lifts_the_lock(locked, signed_in):
    doc = signed_in(locked["doctor"])
    path = f"{patient_page(locked['patient'])}/pregnancy-tests/{locked['positive']}/entered-in-error"
    page = doc.get(path)
    assert page.status_code == 200
    assert "positive, serum, medical setting, collected 2026-11-25" in text(page)
    assert "pregnancy-excluded clearance" in text(page)
    refused = doc.submit(path, {"reason": ""})
    assert refused.status_code == 422 and field_error(refused, "f-reason") == "This field is required."
    assert LOCKED in text(doc.get(patient_page(locked["patient"])))
    done = doc.submit(path, {"reason": "Another patient's sample"})
    assert done.status_code == 303
    after = text(doc.get(patient_page(locked["patient"])))
    assert LOCKED not in after and "Entered in error Another patient's sample" in after
    assert LOCKED not in text(signed_in(locked["pharmacist"]).get(rx_page(locked["rx"])))


def test_a_withdrawn_clearance_locks_again(seed, locked, signed_in, clock):
    clock.advance(minutes=5)
    clearance = seed.clearance(locked["patient"])
    doc = signed_in(locked["doctor"])
    assert LOCKED not in text(doc.get(patient_page(locked["patient"])))
    path = f"{patient_page(locked['patient'])}/attestations/{clearance}/entered-in-error"
    assert doc.submit(path, {"reason": "Recorded for the wrong patient"}).status_code == 303
    assert f"{LOCKED} 2026-11-25" in text(doc.get(patient_page(locked["patient"])))


def test_after_the_clearance_new_tests_let_the_pharmacist_dispense(seed, signed_in, clock):
    """A positive long ago, cleared; the negatives after it authorize a new course."""
    scene = seed.scene()
    seed.pregnancy_test(scene["patient"], -47, result="positive")
    rph = signed_in(scene["pharmacist"])
    assert f"{LOCKED} 2026-10-10" in text(rph.get(rx_page(scene["rx"])))
    clock.advance(minutes=1)
    seed.clearance(scene["patient"])
    token = rph.csrf_token(rx_page(scene["rx"]))
    rph.client.post(f"{rx_page(scene['rx'])}/evaluate", data={"csrf_token": token})
    resp = rph.get(rx_page(scene["rx"]))
    assert 'data-outcome="authorized"' in resp.get_data(as_text=True), text(resp)[:2000]
    assert LOCKED not in text(resp)
