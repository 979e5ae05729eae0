"""A dispense entered by mistake: a pharmacist of the dispensing pharmacy undoes it on the day it was
recorded, with a reason (DESIGN.md §2). It then stops counting everywhere, its RMA number stays used,
the prescription becomes reversed and may be evaluated and dispensed again; no row is deleted."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from pharmsafe.models import AuditEvent, Dispense
from pharmsafe.runtime import runtime_of
from tests.web.conftest import field_error, text


def page(rx: int) -> str:
    return f"/pharmacist/prescriptions/{rx}"


@pytest.fixture
def dispensed(seed):
    scene = seed.scene(evaluate=True)
    scene["dispense"] = seed.dispense(scene["auth"], "RMA-UNDO-1")
    return scene


def undo(who, rx: int, reason: str = "Scanned the wrong patient's bag", **over):
    html = who.get(page(rx)).get_data(as_text=True)
    found = re.search(r'name="dispense_id" value="(\d+)"', html)
    data = {"dispense_id": found.group(1) if found else "1", "reason": reason, "rma_reversed": "yes", **over}
    return who.client.post(f"{page(rx)}/dispense-reversal", data={**data, "csrf_token": who.csrf_token(page(rx))})


def dispense_row(app, dispense_id: int) -> Dispense:
    with runtime_of(app).session_factory() as s:
        return s.get(Dispense, dispense_id)


def test_undone_the_same_day_it_stops_counting_keeps_its_rma_used_and_can_be_dispensed_again(
        app, seed, dispensed, signed_in, count):
    rph = signed_in(dispensed["pharmacist"])
    assert 'data-action="undo-dispense"' in rph.get(page(dispensed["rx"])).get_data(as_text=True)
    done = undo(rph, dispensed["rx"])
    assert done.status_code == 303
    shown = rph.get(page(dispensed["rx"]))
    assert 'data-outcome="reversed"' in shown.get_data(as_text=True)
    assert "The dispense was reversed as entered by mistake (Scanned the wrong patient's bag)" in text(shown)
    row = dispense_row(app, dispensed["dispense"])
    assert row.reversed_at is not None and row.reversed_by.startswith("user:") and count(Dispense) == 1
    with runtime_of(app).session_factory() as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "dispense.reversed"))
    payload = json.loads(event.payload)
    assert event.subject == f"dispense:{row.id}" and payload["rma_number"] == "RMA-UNDO-1" and payload["rma_stays_used"]
    # Evaluated again, it is authorized; the old RMA number stays used; a new one dispenses.
    auth = seed.evaluate(dispensed["rx"])
    assert auth is not None
    html = rph.get(page(dispensed["rx"])).get_data(as_text=True)
    auth_id = re.search(r'name="authorization_id" value="(\d+)"', html).group(1)
    token = rph.csrf_token(page(dispensed["rx"]))
    again = rph.client.post(f"{page(dispensed['rx'])}/dispense", data={
        "authorization_id": auth_id, "quantity": "60", "rma_number": "RMA-UNDO-1",
        "rma_do_not_dispense_after": "2026-11-30", "csrf_token": token})
    assert again.status_code == 409 and "RMA" in text(again)
    second = rph.client.post(f"{page(dispensed['rx'])}/dispense", data={
        "authorization_id": auth_id, "quantity": "60", "rma_number": "RMA-UNDO-2",
        "rma_do_not_dispense_after": "2026-11-30", "csrf_token": token})
    assert second.status_code == 303 and count(Dispense) == 2


def test_a_reversed_dispense_no_longer_counts_for_the_next_prescription(app, seed, dispensed):
    """A second prescription of the patient is blocked while the first dispense is in effect, and
    passes that gate once the dispense is undone."""
    from pharmsafe.models import Decision
    rx2 = seed.prescription(dispensed["prescriber"], dispensed["patient"], dispensed["pharmacy"])
    assert seed.evaluate(rx2) is None

    def failing(rx):
        with runtime_of(app).session_factory() as s:
            d = s.scalars(select(Decision).where(Decision.prescription_id == rx).order_by(Decision.id.desc())).first()
            return {g["gate"] for g in d.gates if g["status"] == "fail"}

    before = failing(rx2)
    assert before, "the dispense in effect blocks a second prescription"
    from pharmsafe.services.dispensing import reverse_dispense
    seed.run(lambda ctx: reverse_dispense(ctx, dispensed["dispense"], dispensed["pharmacy"], "wrong bag",
                                             rma_reversal_noted=True))
    assert seed.evaluate(rx2) is not None and failing(rx2) == set()


def test_the_next_day_it_is_too_late_and_the_form_is_gone(app, seed, dispensed, signed_in, clock):
    clock.advance(days=1)
    rph = signed_in(dispensed["pharmacist"])  # signed in again: a sign-in lasts 12 hours at most
    assert 'data-action="undo-dispense"' not in rph.get(page(dispensed["rx"])).get_data(as_text=True)
    late = undo(rph, dispensed["rx"], dispense_id=str(dispensed["dispense"]))
    assert late.status_code == 409 and "can be reversed only on the day it was recorded" in text(late)
    assert dispense_row(app, dispensed["dispense"]).reversed_at is None


def test_a_reason_is_required_and_others_may_not(app, seed, dispensed, signed_in):
    rph = signed_in(dispensed["pharmacist"])
    refused = undo(rph, dispensed["rx"], reason="")
    assert refused.status_code == 422 and field_error(refused, "undo-reason")
    tech = signed_in(seed.user("technician", pharmacy_id=dispensed["pharmacy"]))
    assert undo(tech, dispensed["rx"], dispense_id=str(dispensed["dispense"])).status_code == 403
    other = signed_in(seed.user("pharmacist", pharmacy_id=seed.pharmacy()))
    assert other.get(page(dispensed["rx"])).status_code == 403
    assert dispense_row(app, dispensed["dispense"]).reversed_at is None
    # Twice: the second is refused as reversed already.
    assert undo(rph, dispensed["rx"]).status_code == 303
    twice = rph.client.post(f"{page(dispensed['rx'])}/dispense-reversal", data={
        "dispense_id": str(dispensed["dispense"]), "reason": "again", "rma_reversed": "yes", "csrf_token": rph.csrf_token(page(dispensed["rx"]))})
    assert twice.status_code == 409 and "reversed already" in text(twice)


def test_in_fhir_it_reads_as_entered_in_error(app, client, seed, dispensed):
    from pharmsafe.services.dispensing import reverse_dispense
    from tests.support import Api, admin_token
    seed.run(lambda ctx: reverse_dispense(ctx, dispensed["dispense"], dispensed["pharmacy"], "wrong bag",
                                             rma_reversal_noted=True))
    admin = Api(client, admin_token(app))
    resp = client.get(f"/fhir/R4/MedicationDispense/dispense-{dispensed['dispense']}",
                      headers={"Authorization": f"Bearer {admin.token}"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "entered-in-error"
    # The JSON API lists it with the patient, reversed.
    listed = admin.ok("GET", f"/patients/{dispensed['patient']}")["dispenses"]
    assert [(d["id"], d["reversal_reason"]) for d in listed] == [(dispensed["dispense"], "wrong bag")]
    assert listed[0]["reversed_at"] is not None


@pytest.mark.parametrize("at,allowed", [("2026-11-27T04:59:59+00:00", True),   # 23:59:59 in New York
                                        ("2026-11-27T05:00:00+00:00", False)])  # midnight: the next day
def test_the_day_ends_at_midnight_where_the_program_counts_it(app, seed, dispensed, signed_in, clock, at, allowed):
    from datetime import datetime
    clock.set(datetime.fromisoformat(at))
    rph = signed_in(dispensed["pharmacist"])
    resp = undo(rph, dispensed["rx"], dispense_id=str(dispensed["dispense"]))
    assert resp.status_code == (303 if allowed else 409)
    assert (dispense_row(app, dispensed["dispense"]).reversed_at is not None) is allowed


def test_the_rma_reversal_with_the_rems_is_noted_before_the_dispense_is_undone(app, seed, dispensed, signed_in):
    """The REMS still counts the RMA as dispensed until the pharmacist reverses it there: the undo asks
    them to say they did, names the number, and records it in the trail."""
    rph = signed_in(dispensed["pharmacist"])
    html = rph.get(page(dispensed["rx"])).get_data(as_text=True)
    assert 'name="rma_reversed"' in html and "RMA-UNDO-1" in html
    refused = undo(rph, dispensed["rx"], rma_reversed="")
    assert refused.status_code == 422 and "Reverse RMA RMA-UNDO-1 with the REMS" in field_error(refused, "undo-rma-reversed")
    assert 'value="Scanned the wrong patient' in refused.get_data(as_text=True)  # what was typed is kept
    assert dispense_row(app, dispensed["dispense"]).reversed_at is None
    assert undo(rph, dispensed["rx"]).status_code == 303
    with runtime_of(app).session_factory() as s:
        payload = json.loads(s.scalar(select(AuditEvent.payload).where(AuditEvent.action == "dispense.reversed")))
    assert payload["rma_reversal_noted"] is True and payload["rma_number"] == "RMA-UNDO-1"
    assert re.search(r"RMA RMA-UNDO-1 stays used here, and user:\d+ noted it reversed with the REMS\.",
                     text(rph.get(page(dispensed["rx"]))))


def test_a_dispense_without_an_rma_is_undone_without_that_note(eu_app):
    """Under eu-ppp there is no RMA: nothing to reverse with a REMS, and nothing asked."""
    from tests.web.conftest import Pages, eu_dispensable

    seed, scene = eu_dispensable(eu_app)
    rx = scene["rx"]
    dispense_id = seed.dispense(scene["auth"], None)
    rph = Pages(eu_app.test_client())
    assert rph.login(seed.user("pharmacist", pharmacy_id=scene["pharmacy"])).status_code == 302
    assert 'name="rma_reversed"' not in rph.get(page(rx)).get_data(as_text=True)
    assert undo(rph, rx, rma_reversed="").status_code == 303
    with runtime_of(eu_app).session_factory() as s:
        assert s.get(Dispense, dispense_id).reversed_at is not None
        payload = json.loads(s.scalar(select(AuditEvent.payload).where(AuditEvent.action == "dispense.reversed")))
    assert payload["rma_number"] is None and payload["rma_reversal_noted"] is False
