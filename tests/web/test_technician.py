"""The technician (DESIGN.md §5): linked to one pharmacy, searches and reads what is routed to it as
its pharmacists do and prepares (records transfers-in, keeps the RMA for the Dispense form); never
evaluates, dispenses, reverses or withdraws a transfer-in, on the pages or through the API."""
from __future__ import annotations

import re

import pytest

from pharmsafe.models import Decision, Dispense, TransferIn
from tests.support import World
from tests.web.conftest import text

TRANSFER = {"dispensed_on": "2026-10-01", "days_supply": "30", "quantity": "60", "source_ncpdp_id": "7654321",
            "rma_number": "RMA-TECH-1"}


@pytest.fixture
def scene(seed):
    scene = seed.scene(evaluate=True)
    scene["technician"] = seed.user("technician", pharmacy_id=scene["pharmacy"])
    return scene


@pytest.fixture
def tech(scene, signed_in):
    return signed_in(scene["technician"])


def test_a_technician_reads_the_queue_and_the_prescription_without_its_actions(scene, tech):
    queue = tech.get("/pharmacist/")
    assert queue.status_code == 200 and f'<tr data-prescription="{scene["rx"]}"' in queue.get_data(as_text=True)
    resp = tech.get(f"/pharmacist/prescriptions/{scene['rx']}")
    html, body = resp.get_data(as_text=True), text(resp)
    assert resp.status_code == 200 and 'data-outcome="authorized"' in html
    assert 'data-next-action="none"' in html and "Ready for a pharmacist to dispense." in body
    for action in ("evaluate", "dispense", "reverse"):
        assert f'data-action="{action}"' not in html, action
    assert f'href="/pharmacist/prescriptions/{scene["rx"]}/transfers-in/new"' in html


def test_a_technician_records_a_transfer_in_and_cannot_act_on_the_prescription(scene, tech, count):
    page = f"/pharmacist/prescriptions/{scene['rx']}"
    recorded = tech.submit(f"{page}/transfers-in/new", TRANSFER)
    assert recorded.status_code == 303 and count(TransferIn) == 1
    decisions, dispenses = count(Decision), count(Dispense)
    html = tech.get(page).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    for action in ("evaluate", "dispense", "reverse"):
        resp = tech.client.post(f"{page}/{action}", data={"csrf_token": token, "quantity": "60",
                                                          "rma_number": "RMA-X", "reason": "no"})
        assert resp.status_code == 403, action
        assert "Only a pharmacist evaluates, dispenses or reverses" in text(resp)
    assert (count(Decision), count(Dispense)) == (decisions, dispenses)
    assert "Mark entered in error" not in text(tech.get(page))


def test_a_technician_needs_a_pharmacy(app, client):
    world = World(app, client)
    refused = world.admin.post("/users", json={"email": "tech-none@example.com", "role": "technician"})
    assert refused.status_code == 422
    assert refused.get_json()["error"]["fields"]["pharmacy_id"] == ["Required for a technician."]


def test_through_the_api_a_technician_reads_and_records_transfers_in_only(app, client):
    world = World(app, client)
    rph, doc, patient, rx, decision = world.authorized()
    _, tech = world.user("technician", pharmacy_id=rx["pharmacy_id"])
    _, elsewhere = world.user("technician", pharmacy_id=world.pharmacy()["id"])
    assert tech.ok("GET", f"/prescriptions/{rx['id']}")["status"] == "authorized"
    assert [p["id"] for p in tech.ok("GET", "/patients")["items"]] == [patient["id"]]
    assert elsewhere.get(f"/prescriptions/{rx['id']}").status_code == 403
    auth = decision["authorization"]["id"]
    assert tech.ok("GET", f"/authorizations/{auth}")["status"] == "active"
    assert elsewhere.get(f"/authorizations/{auth}").status_code == 403
    assert tech.ok("POST", f"/patients/{patient['id']}/transfers-in", dict(TRANSFER, quantity=60, days_supply=30))
    for method, path, body in (("POST", f"/prescriptions/{rx['id']}/evaluations", None),
                               ("POST", f"/authorizations/{auth}/dispense", {"quantity": 60}),
                               ("POST", f"/authorizations/{auth}/reversal", {"reason": "no"})):
        resp = tech.call(method, path, json=body)
        assert resp.status_code == 403, path
    assert rph.ok("GET", f"/prescriptions/{rx['id']}")["authorization"]["status"] == "active"


def test_a_technician_prepares_the_rma_and_the_pharmacist_finds_it_in_the_dispense_form(scene, tech, signed_in,
                                                                                        count, app):
    from sqlalchemy import select

    from pharmsafe.models import AuditEvent
    from pharmsafe.runtime import runtime_of
    from tests.web.conftest import input_value
    page = f"/pharmacist/prescriptions/{scene['rx']}"
    html = tech.get(page).get_data(as_text=True)
    assert 'data-action="prepare"' in html and 'data-action="dispense"' not in html
    refused = tech.submit(f"{page}/prepare", {"authorization_id": str(scene["auth"]), "rma_number": " ",
                                              "rma_do_not_dispense_after": "2026-11-30"}, page=page)
    assert refused.status_code == 422
    assert "Required: the RMA number obtained from the REMS." in text(refused)
    undated = tech.submit(f"{page}/prepare", {"authorization_id": str(scene["auth"]), "rma_number": "RMA-PREP-1",
                                              "rma_do_not_dispense_after": ""}, page=page)
    assert undated.status_code == 422
    assert "Required: the RMA's do-not-dispense-after date, as the REMS shows it." in text(undated)
    kept = tech.submit(f"{page}/prepare", {"authorization_id": str(scene["auth"]), "rma_number": "rma-prep-1 ",
                                           "rma_do_not_dispense_after": "2026-11-30"}, page=page)
    assert kept.status_code == 303 and count(Dispense) == 0
    rph = signed_in(scene["pharmacist"])
    shown = rph.get(page)
    assert input_value(shown, "rma_number") == "RMA-PREP-1"
    assert input_value(shown, "rma_do_not_dispense_after") == "2026-11-30"
    assert f"RMA prepared by {scene['technician']} (technician) at" in text(shown)
    with runtime_of(app).session_factory() as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "authorization.prepared"))
    assert event.subject == f"authorization:{scene['auth']}" and event.actor.startswith("user:")
    # The pharmacist dispenses with it: the dispense checks it like anything typed.
    done = rph.submit(f"{page}/dispense", {"authorization_id": str(scene["auth"]), "quantity": "60",
                                           "rma_number": "RMA-PREP-1", "rma_do_not_dispense_after": "2026-11-30"},
                      page=page)
    assert done.status_code == 303 and count(Dispense) == 1


def test_a_technician_cannot_keep_an_rma_number_already_used(scene, tech, count, app):
    from sqlalchemy import select

    from pharmsafe.models import Authorization
    from pharmsafe.runtime import runtime_of
    page = f"/pharmacist/prescriptions/{scene['rx']}"
    assert tech.submit(f"{page}/transfers-in/new", TRANSFER).status_code == 303 and count(TransferIn) == 1
    refused = tech.submit(f"{page}/prepare", {"authorization_id": str(scene["auth"]), "rma_number": "rma-tech-1",
                                              "rma_do_not_dispense_after": "2026-11-30"}, page=page)
    assert refused.status_code == 422
    assert "This RMA number is already used by a dispense or a transfer-in" in text(refused)
    with runtime_of(app).session_factory() as s:
        assert s.scalar(select(Authorization.prepared_rma_number).where(Authorization.id == scene["auth"])) is None
