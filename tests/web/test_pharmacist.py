"""The pharmacist's workbench through the test client: queue, prescription page, Evaluate,
Dispense (RMA, quantity, warnings, twice), Reverse, and the ownership rules."""
from __future__ import annotations

import re

import pytest

from pharmsafe.models import Authorization, Decision, Dispense
from pharmsafe.runtime import runtime_of
from tests.web.conftest import field_error, input_value, text

GATES = ["pharmacy", "prescriber", "patient", "pregnancy_test", "contraception", "comprehension", "counseling",
         "labs", "prescription", "rems_authorization"]


def gates(resp) -> dict[str, str]:
    return dict(re.findall(r'data-gate="([a-z_]+)" data-status="([a-z_]+)"', resp.get_data(as_text=True)))


def outcome(resp) -> str:
    return re.search(r'data-outcome="([a-z]+)"', resp.get_data(as_text=True)).group(1)


def page(rx: int) -> str:
    return f"/pharmacist/prescriptions/{rx}"


@pytest.fixture
def scene(seed):
    return seed.scene()


@pytest.fixture
def rph(scene, signed_in):
    return signed_in(scene["pharmacist"])


def evaluate(rph, rx):
    resp = rph.submit(f"{page(rx)}/evaluate", page=page(rx))
    assert resp.status_code == 303 and resp.headers["Location"] == page(rx)
    return rph.get(page(rx))


def dispense(rph, rx, **data):
    html = rph.get(page(rx)).get_data(as_text=True)
    auth_id = re.search(r'name="authorization_id" value="(\d+)"', html).group(1)
    return rph.submit(f"{page(rx)}/dispense", {"authorization_id": auth_id, **data}, page=page(rx))


def test_queue_lists_the_pharmacys_prescriptions_and_searches(seed, scene, rph):
    other = seed.scene()
    resp = rph.get("/pharmacist/")
    body = text(resp)
    assert resp.status_code == 200 and "<title>Queue · PharmSafe</title>" in resp.get_data(as_text=True)
    assert f'href="{page(scene["rx"])}"' in resp.get_data(as_text=True)
    assert f'href="{page(other["rx"])}"' not in resp.get_data(as_text=True)
    assert "Waiting for evaluation" in body

    with runtime_of(seed.app).session_factory() as s:
        from pharmsafe.models import Patient, Prescriber
        patient = s.get(Patient, scene["patient"])
        prescriber = s.get(Prescriber, scene["prescriber"])
    for query in (patient.last_name, patient.last_name.upper(), prescriber.last_name, f"mia {patient.last_name}"):
        found = rph.get(f"/pharmacist/?q={query}").get_data(as_text=True)
        assert f'href="{page(scene["rx"])}"' in found, query
    assert f'href="{page(scene["rx"])}"' not in rph.get("/pharmacist/?q=Nobody").get_data(as_text=True)
    assert "No prescription matches." in text(rph.get("/pharmacist/?q=%25"))
    assert f'href="{page(scene["rx"])}"' not in rph.get("/pharmacist/?status=dispensed").get_data(as_text=True)
    assert f'href="{page(scene["rx"])}"' in rph.get("/pharmacist/?status=submitted").get_data(as_text=True)


def test_queue_shows_time_left_for_an_authorized_prescription(seed, scene, rph):
    seed.evaluate(scene["rx"])
    body = text(rph.get("/pharmacist/?status=authorized"))
    # Confirmatory test collected 2026-11-24: current through 2026-11-30 in New York; now is 11-26 10:00.
    assert "2026-11-30 23:59 EST" in body and "4 days 13 h left" in body


def test_submitted_prescription_shows_patient_prescriber_product_and_evaluate(scene, rph):
    resp = rph.get(page(scene["rx"]))
    html, body = resp.get_data(as_text=True), text(resp)
    assert resp.status_code == 200 and outcome(resp) == "submitted"
    assert "Patient" in body and "Prescriber" in body and "isotretinoin (NDC 0591-2434-15)" in body
    assert ">Evaluate</button>" in html and ">Dispense</button>" not in html and ">Reverse</button>" not in html
    assert f"<title>Prescription #{scene['rx']} · PharmSafe</title>" in html


def test_evaluate_shows_every_gate_the_deadline_and_the_dispense_form(scene, rph):
    resp = evaluate(rph, scene["rx"])
    html, body = resp.get_data(as_text=True), text(resp)
    assert outcome(resp) == "authorized"
    assert list(gates(resp)) == GATES
    assert set(gates(resp).values()) <= {"pass", "not_applicable"}
    assert gates(resp)["rems_authorization"] == "not_applicable"
    assert "Evaluated: every gate allows dispensing" in body
    # The deadline in the policy's zone, and what sets it.
    assert "Dispense by 2026-11-30 23:59:59 EST" in body
    assert re.search(r"Set by the Pregnancy test gate: Pregnancy test #\d+, which counts through 2026-11-30", body)
    assert '<label for="f-rma-number">RMA number</label>' in html
    assert '<label for="f-rma-do-not-dispense-after">Do not dispense after</label>' in html
    assert re.search(r'<input id="f-rma-do-not-dispense-after" name="rma_do_not_dispense_after" type="date"', html)
    assert input_value(resp, "quantity") == "60"
    assert ">Dispense</button>" in html and ">Reverse</button>" in html


def test_dispense_without_rma_is_refused_and_the_refusal_is_recorded(seed, scene, rph, count):
    evaluate(rph, scene["rx"])
    decisions = count(Decision)
    resp = dispense(rph, scene["rx"], quantity="60", rma_number="")
    assert resp.status_code == 409
    body = text(resp)
    assert "Dispensing is refused" in body and "Why the last dispense attempt was refused" in body
    assert gates(resp)["rems_authorization"] == "fail"
    assert count(Decision) == decisions + 1
    assert count(Authorization, Authorization.status == "active") == 1
    assert outcome(resp) == "authorized"
    assert input_value(resp, "quantity") == "60"


def test_dispense_without_the_rma_date_is_refused_recorded_and_keeps_what_was_typed(scene, rph, count):
    evaluate(rph, scene["rx"])
    decisions = count(Decision)
    resp = dispense(rph, scene["rx"], quantity="60", rma_number="rma-5150", rma_do_not_dispense_after="")
    assert resp.status_code == 409
    body = text(resp)
    assert "Dispensing is refused: rems_authorization: The dispense carries no RMA do-not-dispense-after date." in body
    assert "Enter the RMA's do-not-dispense-after date" in body
    assert gates(resp)["rems_authorization"] == "fail"
    assert count(Decision) == decisions + 1 and count(Dispense) == 0
    assert outcome(resp) == "authorized"
    assert input_value(resp, "rma_number") == "rma-5150" and input_value(resp, "rma_do_not_dispense_after") == ""
    # With the date it goes through; the number is stored normalised.
    done = dispense(rph, scene["rx"], quantity="60", rma_number="rma-5150", rma_do_not_dispense_after="2026-11-29")
    assert done.status_code == 303
    page_after = rph.get(page(scene["rx"]))
    assert outcome(page_after) == "dispensed"
    assert "RMA number RMA-5150 (do not dispense after 2026-11-29)" in text(page_after)


def test_an_unreadable_rma_date_is_a_field_message(scene, rph, count):
    evaluate(rph, scene["rx"])
    resp = dispense(rph, scene["rx"], quantity="60", rma_number="RMA-8", rma_do_not_dispense_after="2026-02-30")
    assert resp.status_code == 422
    assert field_error(resp, "f-rma-do-not-dispense-after") == "Not a valid date."
    assert input_value(resp, "rma_do_not_dispense_after") == "2026-02-30"
    assert input_value(resp, "rma_number") == "RMA-8"
    assert count(Dispense) == 0


def test_an_rma_date_already_passed_is_refused(scene, rph, count):
    evaluate(rph, scene["rx"])
    resp = dispense(rph, scene["rx"], quantity="60", rma_number="RMA-9", rma_do_not_dispense_after="2026-11-25")
    assert resp.status_code == 409
    assert "RMA RMA-9 was valid for dispensing through 2026-11-25." in text(resp)
    assert input_value(resp, "rma_do_not_dispense_after") == "2026-11-25"
    assert count(Dispense) == 0


@pytest.mark.parametrize("quantity,message", [
    ("abc", "Not a valid number."), ("", "This field is required."), ("59", "Must equal the prescription's quantity (60)."),
    ("-1", "Must be greater than 0"),
])
def test_dispense_with_a_bad_quantity_shows_the_field_message_and_keeps_the_input(scene, rph, count, quantity,
                                                                                   message):
    evaluate(rph, scene["rx"])
    resp = dispense(rph, scene["rx"], quantity=quantity, rma_number="RMA-77", rma_do_not_dispense_after="2026-11-30")
    assert resp.status_code == 422
    assert message in field_error(resp, "f-quantity")
    assert input_value(resp, "quantity") == quantity and input_value(resp, "rma_number") == "RMA-77"
    assert input_value(resp, "rma_do_not_dispense_after") == "2026-11-30"
    assert count(Dispense) == 0


def test_dispense_then_a_second_dispense_of_the_same_form_is_refused(scene, rph, count):
    evaluate(rph, scene["rx"])
    html_before = rph.get(page(scene["rx"])).get_data(as_text=True)
    auth_id = re.search(r'name="authorization_id" value="(\d+)"', html_before).group(1)
    resp = rph.submit(f"{page(scene['rx'])}/dispense", {
        "authorization_id": auth_id, "quantity": "60", "rma_number": "RMA-1001",
        "rma_do_not_dispense_after": "2026-11-30"}, page=page(scene["rx"]))
    assert resp.status_code == 303
    done = rph.get(page(scene["rx"]))
    assert outcome(done) == "dispensed" and "RMA number RMA-1001 (do not dispense after 2026-11-30)" in text(done)
    assert ">Dispense</button>" not in done.get_data(as_text=True)
    # The same request from another form (another RMA number: a second tab) reaches the service and is refused.
    token = rph.csrf_token(page(scene["rx"]))
    again = rph.client.post(f"{page(scene['rx'])}/dispense", data={
        "authorization_id": auth_id, "quantity": "60", "rma_number": "RMA-1002",
        "rma_do_not_dispense_after": "2026-11-30", "csrf_token": token})
    assert again.status_code == 409
    assert f"Authorization {auth_id} has already been dispensed." in text(again)
    assert outcome(again) == "dispensed"
    assert count(Dispense) == 1


def test_each_warning_has_a_checkbox_and_must_be_acknowledged(seed, signed_in):
    scene = seed.scene(can_get_pregnant=False, triglycerides="612")
    rph = signed_in(scene["pharmacist"])
    resp = evaluate(rph, scene["rx"])
    html = resp.get_data(as_text=True)
    assert gates(resp)["labs"] == "warn"
    assert 'name="acknowledged_warnings" value="TRIGLYCERIDES_ELEVATED"' in html
    assert re.search(r'<label for="ack-TRIGLYCERIDES_ELEVATED"><code>TRIGLYCERIDES_ELEVATED</code> \(Lab results\): '
                     r'Triglycerides 612 mg/dL', html)
    refused = dispense(rph, scene["rx"], quantity="60", rma_number="RMA-W1", rma_do_not_dispense_after="2026-11-28")
    assert refused.status_code == 409
    assert "Acknowledge every warning before dispensing: TRIGLYCERIDES_ELEVATED." in text(refused)
    assert input_value(refused, "rma_number") == "RMA-W1"
    assert input_value(refused, "rma_do_not_dispense_after") == "2026-11-28"
    accepted = dispense(rph, scene["rx"], quantity="60", rma_number="RMA-W1", rma_do_not_dispense_after="2026-11-28",
                        acknowledged_warnings="TRIGLYCERIDES_ELEVATED")
    assert accepted.status_code == 303
    done = rph.get(page(scene["rx"]))
    assert outcome(done) == "dispensed" and "warnings acknowledged: TRIGLYCERIDES_ELEVATED" in text(done)


def test_a_blocked_prescription_says_what_is_missing_and_by_when(seed, signed_in):
    scene = seed.scene(test_day=-8)
    rph = signed_in(scene["pharmacist"])
    resp = evaluate(rph, scene["rx"])
    body = text(resp)
    assert outcome(resp) == "blocked"
    assert gates(resp)["pregnancy_test"] == "fail"
    assert "What is missing" in body and "cannot be dispensed until this is resolved" in body
    assert ("Pregnancy test: The latest negative test that counts (collected 2026-11-18) was current through "
            "2026-11-24.") in body
    assert "To unblock: Record a negative confirmatory pregnancy test" in body
    assert "The rest of the evidence stays current through" in body
    assert ">Dispense</button>" not in resp.get_data(as_text=True)


def test_reverse_needs_a_reason(seed, scene, rph, count):
    evaluate(rph, scene["rx"])
    html = rph.get(page(scene["rx"])).get_data(as_text=True)
    auth_id = re.search(r'name="authorization_id" value="(\d+)"', html).group(1)
    refused = rph.submit(f"{page(scene['rx'])}/reverse", {"authorization_id": auth_id, "reason": "  "},
                         page=page(scene["rx"]))
    assert refused.status_code == 422
    assert field_error(refused, "reverse-reason") == "This field is required."
    assert count(Authorization, Authorization.status == "reversed") == 0
    done = rph.submit(f"{page(scene['rx'])}/reverse", {"authorization_id": auth_id, "reason": "Patient postponed"},
                      page=page(scene["rx"]))
    assert done.status_code == 303
    resp = rph.get(page(scene["rx"]))
    assert outcome(resp) == "reversed" and "Patient postponed" in text(resp)


def test_another_pharmacys_prescription_is_403_and_an_unknown_one_404(seed, scene, rph):
    other = seed.scene()
    assert rph.get(page(other["rx"])).status_code == 403
    assert rph.get(page(999999)).status_code == 404
    token = rph.csrf_token(page(scene["rx"]))
    assert rph.client.post(f"{page(other['rx'])}/evaluate", data={"csrf_token": token}).status_code == 403


def test_an_authorization_of_another_prescription_is_404(seed, scene, rph):
    second = seed.prescription(scene["prescriber"], scene["patient"], scene["pharmacy"])
    auth_id = seed.evaluate(second)
    evaluate(rph, scene["rx"])
    resp = rph.submit(f"{page(scene['rx'])}/dispense", {"authorization_id": str(auth_id), "quantity": "60",
                                                        "rma_number": "R-1"}, page=page(scene["rx"]))
    assert resp.status_code == 404


def test_a_dispensed_prescription_cannot_be_evaluated_again(seed, scene, rph):
    seed.dispense(seed.evaluate(scene["rx"]), "RMA-D")
    token = rph.csrf_token(page(scene["rx"]))
    resp = rph.client.post(f"{page(scene['rx'])}/evaluate", data={"csrf_token": token})
    assert resp.status_code == 409 and "cannot be evaluated again" in text(resp)


def test_under_eu_ppp_times_show_in_the_pharmacys_zone_and_no_rma_is_asked(eu_app):
    from tests.web.conftest import Pages, eu_dispensable

    seed, scene = eu_dispensable(eu_app)
    pharmacy, rx = scene["pharmacy"], scene["rx"]
    assert scene["auth"] is not None
    rph = Pages(eu_app.test_client())
    assert rph.login(seed.user("pharmacist", pharmacy_id=pharmacy)).status_code == 302
    resp = rph.get(page(rx))
    body, html = text(resp), resp.get_data(as_text=True)
    assert outcome(resp) == "authorized"
    assert "Times in Europe/Paris, as the eu-ppp-2018 policy counts them." in body
    assert re.search(r"Dispense by \d{4}-\d\d-\d\d 23:59:59 CET", body)
    assert "RMA number" not in html and "Do not dispense after" not in html and ">Dispense</button>" in html
    # A transfer-in's RMA number is optional where the policy has no RMA.
    transfer_form = rph.get(f"{page(rx)}/transfers-in/new").get_data(as_text=True)
    assert '<label for="f-rma-number">RMA number <span class="optional">(optional)</span></label>' in transfer_form


def test_the_same_form_sent_again_by_the_same_person_soon_after_gets_the_first_answer(seed, scene, rph, count,
                                                                                     signed_in, app):
    evaluate(rph, scene["rx"])
    html = rph.get(page(scene["rx"])).get_data(as_text=True)
    form = {"authorization_id": re.search(r'name="authorization_id" value="(\d+)"', html).group(1),
            "quantity": "60", "rma_number": "rma-2001 ", "rma_do_not_dispense_after": "2026-11-30"}

    def send(who, **over):
        return who.client.post(f"{page(scene['rx'])}/dispense",
                               data={**form, **over, "csrf_token": who.csrf_token(page(scene["rx"]))})

    assert send(rph).status_code == 303
    clock = runtime_of(app).clock
    clock.advance(minutes=10)  # exactly at the end of the window: still the same click
    again = send(rph, rma_number="RMA-2001")  # the RMA as normalised
    assert again.status_code == 303 and again.headers["Location"] == page(scene["rx"])
    assert "Dispensed and recorded." in text(rph.get(page(scene["rx"])))
    assert count(Dispense) == 1
    # Another pharmacist of the pharmacy sending the same fields: refused.
    colleague = signed_in(seed.user("pharmacist", pharmacy_id=scene["pharmacy"]))
    assert send(colleague).status_code == 409
    # Another quantity, or one second past the window: refused.
    assert send(rph, quantity="59").status_code == 409
    clock.advance(seconds=1)
    late = send(rph)
    assert late.status_code == 409 and "has already been dispensed" in text(late)
    assert count(Dispense) == 1


def test_the_same_form_sent_again_after_its_dispense_was_undone_is_refused(seed, scene, rph, count, app):
    """A dispense undone (entered by mistake) answers no repeated click as if it stood: the form sent
    again says the authorization was used, and the prescription stays reversed."""
    from pharmsafe.models import Prescription
    evaluate(rph, scene["rx"])
    html = rph.get(page(scene["rx"])).get_data(as_text=True)
    form = {"authorization_id": re.search(r'name="authorization_id" value="(\d+)"', html).group(1),
            "quantity": "60", "rma_number": "RMA-2002", "rma_do_not_dispense_after": "2026-11-30"}

    def send(path, data):
        return rph.client.post(f"{page(scene['rx'])}/{path}",
                               data={**data, "csrf_token": rph.csrf_token(page(scene["rx"]))})

    assert send("dispense", form).status_code == 303
    dispense_id = re.search(r'name="dispense_id" value="(\d+)"', rph.get(page(scene["rx"])).get_data(as_text=True))
    assert send("dispense-reversal", {"dispense_id": dispense_id.group(1), "reason": "Wrong patient's bag",
                                      "rma_reversed": "yes"}).status_code == 303
    runtime_of(app).clock.advance(minutes=1)
    again = send("dispense", form)
    assert again.status_code == 409 and "has already been dispensed" in text(again)
    assert "Dispensed and recorded." not in text(again)
    with runtime_of(app).session_factory() as s:
        assert s.get(Prescription, scene["rx"]).status == "reversed"
    assert count(Dispense) == 1
