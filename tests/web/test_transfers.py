"""Transfers-in on the pages: the pharmacist records the patient's earlier dispense at another pharmacy
from a prescription routed to their pharmacy, sees the patient's transfers-in there, and withdraws
(entered-in-error) those their own pharmacy recorded; the prescriber sees them on the patient page."""
from __future__ import annotations

import re
from html import unescape

import pytest

from pharmsafe.models import Pharmacy, TransferIn
from pharmsafe.runtime import runtime_of
from tests.web.conftest import field_error, input_value, text


def rx_page(rx: int) -> str:
    return f"/pharmacist/prescriptions/{rx}"


def new_form(rx: int) -> str:
    return f"{rx_page(rx)}/transfers-in/new"


def withdraw(rx: int, tid: int) -> str:
    return f"{rx_page(rx)}/transfers-in/{tid}/entered-in-error"


GOOD = {"dispensed_on": "2026-11-20", "days_supply": "30", "quantity": "60", "source_ncpdp_id": "7654321",
        "rma_number": " rma-t1 "}


@pytest.fixture
def scene(seed):
    return seed.scene()


@pytest.fixture
def rph(scene, signed_in):
    return signed_in(scene["pharmacist"])


def evaluate(rph, rx):
    token = rph.csrf_token(rx_page(rx))
    assert rph.client.post(f"{rx_page(rx)}/evaluate", data={"csrf_token": token}).status_code == 303
    return rph.get(rx_page(rx))


def outcome(resp) -> str:
    return re.search(r'data-outcome="([a-z]+)"', resp.get_data(as_text=True)).group(1)


def test_the_prescription_page_links_to_the_form_and_the_form_labels_every_field(scene, rph):
    page = rph.get(rx_page(scene["rx"]))
    assert f'href="{new_form(scene["rx"])}"' in page.get_data(as_text=True)
    assert "None recorded for this patient." in text(page)
    form = rph.get(new_form(scene["rx"]))
    html = form.get_data(as_text=True)
    assert form.status_code == 200 and "<title>Record a transfer-in · PharmSafe</title>" in html
    for fid, label in (("f-dispensed-on", "Dispensed on"), ("f-days-supply", "Days' supply"),
                       ("f-quantity", "Quantity"), ("f-source-ncpdp-id", "Source pharmacy NCPDP ID"),
                       ("f-rma-number", "RMA number")):
        assert f'<label for="{fid}">{label}</label>' in unescape(html), fid
    assert 'type="date"' in html and ">Record transfer-in</button>" in html


@pytest.mark.parametrize("data,errors", [
    ({"dispensed_on": "2026-11-27", "days_supply": "0", "quantity": "abc", "source_ncpdp_id": "12345",
      "rma_number": "R-1"},
     {"f-days-supply": "Must be greater than or equal to 1 and less than or equal to 365.",
      "f-quantity": "Not a valid number.", "f-source-ncpdp-id": "Must be 7 digits."}),
    ({"dispensed_on": "2026-11-27", "days_supply": "30", "quantity": "60", "source_ncpdp_id": "7654321",
      "rma_number": "R-1"},
     {"f-dispensed-on": "May not be in the future (today is 2026-11-26)."}),
    ({"dispensed_on": "", "days_supply": "", "quantity": "60", "source_ncpdp_id": "7654321", "rma_number": ""},
     {"f-dispensed-on": "This field is required.", "f-days-supply": "This field is required."}),
    ({"dispensed_on": "2026-11-20", "days_supply": "30", "quantity": "60", "source_ncpdp_id": "7654321",
      "rma_number": "   "},
     {"f-rma-number": "Required under iPLEDGE: the RMA number of the earlier dispense."}),
])
def test_bad_input_shows_field_messages_keeps_what_was_typed_and_writes_nothing(scene, rph, count, data, errors):
    resp = rph.submit(new_form(scene["rx"]), data)
    assert resp.status_code == 422
    assert "Some fields need attention" in text(resp)
    for fid, message in errors.items():
        assert field_error(resp, fid) == message, fid
    for name, value in data.items():
        assert input_value(resp, name) == value, name
    assert count(TransferIn) == 0


def test_the_pharmacys_own_ncpdp_id_is_refused(scene, rph, app, count):
    with runtime_of(app).session_factory() as s:
        own = s.get(Pharmacy, scene["pharmacy"]).ncpdp_id
    resp = rph.submit(new_form(scene["rx"]), {**GOOD, "source_ncpdp_id": own})
    assert resp.status_code == 422
    assert field_error(resp, "f-source-ncpdp-id").startswith("A transfer-in comes from another pharmacy")
    assert count(TransferIn) == 0


def test_a_transfer_in_is_recorded_shown_and_counts_as_an_earlier_dispense(scene, rph, signed_in, app):
    assert outcome(evaluate(rph, scene["rx"])) == "authorized"
    resp = rph.submit(new_form(scene["rx"]), GOOD)
    assert resp.status_code == 303 and resp.headers["Location"] == rx_page(scene["rx"])
    with runtime_of(app).session_factory() as s:
        row = s.query(TransferIn).one()
    assert (row.patient_id, row.pharmacy_id, row.rma_number, row.days_supply) == (
        scene["patient"], scene["pharmacy"], "RMA-T1", 30)
    page = rph.get(rx_page(scene["rx"]))
    html, body = page.get_data(as_text=True), text(page)
    assert "Transfer-in recorded" in body
    assert f'data-evidence="transfer_in:{row.id}"' in html
    assert "2026-11-20" in body and "7654321" in body and "RMA-T1" in body
    assert f'href="{withdraw(scene["rx"], row.id)}"' in html
    # Dispensed six days ago with 30 days' supply: a new dispense now is an early refill.
    assert outcome(evaluate(rph, scene["rx"])) == "blocked"
    # The prescriber sees it too.
    doc = signed_in(scene["doctor"])
    patient = doc.get(f"/prescriber/patients/{scene['patient']}")
    assert f'data-evidence="transfer_in:{row.id}"' in patient.get_data(as_text=True)
    assert "7654321" in text(patient) and "RMA-T1" in text(patient)


def test_an_rma_number_already_used_is_refused(seed, scene, rph, count):
    seed.transfer_in(scene["patient"], scene["pharmacy"], rma_number="RMA-T1")
    resp = rph.submit(new_form(scene["rx"]), GOOD)
    assert resp.status_code == 409
    assert "RMA RMA-T1 is already used by another dispense or transfer-in." in text(resp)
    assert field_error(resp, "f-rma-number") == "Already used."
    assert input_value(resp, "rma_number") == " rma-t1 "
    assert count(TransferIn) == 1


def test_entered_in_error_needs_a_reason_then_the_transfer_stops_counting(seed, scene, rph, count):
    tid = seed.transfer_in(scene["patient"], scene["pharmacy"])
    assert outcome(evaluate(rph, scene["rx"])) == "blocked"
    page = rph.get(withdraw(scene["rx"], tid))
    assert page.status_code == 200 and "dispensed 2026-11-20 by NCPDP 7654321" in text(page)
    refused = rph.submit(withdraw(scene["rx"], tid), {"reason": " "})
    assert refused.status_code == 422 and field_error(refused, "f-reason") == "This field is required."
    assert count(TransferIn, TransferIn.entered_in_error_at.is_not(None)) == 0
    done = rph.submit(withdraw(scene["rx"], tid), {"reason": "Recorded for the wrong patient"})
    assert done.status_code == 303 and done.headers["Location"] == rx_page(scene["rx"])
    after = rph.get(rx_page(scene["rx"]))
    assert "Entered in error Recorded for the wrong patient" in text(after)
    assert f'href="{withdraw(scene["rx"], tid)}"' not in after.get_data(as_text=True)
    assert "Already marked entered-in-error" in text(rph.get(withdraw(scene["rx"], tid)))
    assert outcome(evaluate(rph, scene["rx"])) == "authorized"


def test_only_the_recording_pharmacy_may_withdraw_a_transfer_in(seed, scene, rph, signed_in, count):
    other_pharmacy = seed.pharmacy()
    seed.prescription(scene["prescriber"], scene["patient"], other_pharmacy)
    tid = seed.transfer_in(scene["patient"], other_pharmacy)
    page = rph.get(rx_page(scene["rx"]))
    assert f'data-evidence="transfer_in:{tid}"' in page.get_data(as_text=True)
    assert f'href="{withdraw(scene["rx"], tid)}"' not in page.get_data(as_text=True)
    assert "can withdraw it" in text(page)
    assert rph.get(withdraw(scene["rx"], tid)).status_code == 403
    token = rph.csrf_token(rx_page(scene["rx"]))
    resp = rph.client.post(withdraw(scene["rx"], tid), data={"reason": "not ours", "csrf_token": token})
    assert resp.status_code == 403
    assert count(TransferIn, TransferIn.entered_in_error_at.is_not(None)) == 0


def test_another_pharmacys_prescription_and_unknown_transfers(seed, scene, rph, count):
    other = seed.scene()
    assert rph.get(new_form(other["rx"])).status_code == 403
    token = rph.csrf_token(rx_page(scene["rx"]))
    assert rph.client.post(new_form(other["rx"]), data={**GOOD, "csrf_token": token}).status_code == 403
    foreign = seed.transfer_in(other["patient"], other["pharmacy"])
    # A transfer-in of another patient is not one of this prescription's patient.
    assert rph.get(withdraw(scene["rx"], foreign)).status_code == 404
    assert rph.get(withdraw(scene["rx"], 999999)).status_code == 404
    assert count(TransferIn) == 1


def test_a_prescriber_cannot_use_the_pharmacists_forms(scene, signed_in):
    doc = signed_in(scene["doctor"])
    assert doc.get(new_form(scene["rx"])).status_code == 403
