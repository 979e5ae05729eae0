"""GET /fhir/R4/MedicationDispense?… (INTEROP.md §2, §4.3): what the caller may see, newest first, 50
a page with a next link; unknown or repeated parameters 422."""
from __future__ import annotations

from fhir.resources.R4B.bundle import Bundle

from tests.fhir.conftest import BASE, REMS, send


def search(api, query: str, status: int = 200) -> dict:
    body = send(api, "GET", f"/MedicationDispense?{query}", None, status).get_json(force=True)
    if status == 200:
        Bundle.model_validate(body)
        assert body["type"] == "searchset"
    return body


def ids(body: dict) -> list[str]:
    return [e["resource"]["id"] for e in body.get("entry", [])]


def test_dispenses_and_refused_attempts_newest_first_filtered(world, app, clock):
    rph, doc, patient, rx, decision = world.authorized()
    auth = decision["authorization"]["id"]
    refused = rph.post(f"/authorizations/{auth}/dispense", {"quantity": 60})
    assert refused.status_code == 409
    clock.advance(minutes=5)  # the dispense is the newer
    dispense = rph.ok("POST", f"/authorizations/{auth}/dispense",
                      {"quantity": 60, "rma_number": "RMA-S-1", "rma_do_not_dispense_after": world.day(5)})
    blocked_id = next(d["id"] for d in rph.ok("GET", f"/prescriptions/{rx['id']}")["decisions"]
                      if d["stage"] == "dispense" and d["outcome"] == "blocked")
    everything = search(rph, f"patient:identifier={REMS}|{patient['rems_patient_id']}")
    assert ids(everything) == [f"dispense-{dispense['id']}", f"decision-{blocked_id}"]
    assert everything["entry"][0]["fullUrl"] == f"{BASE}/fhir/R4/MedicationDispense/dispense-{dispense['id']}"
    assert ids(search(rph, "status=declined")) == [f"decision-{blocked_id}"]
    assert ids(search(doc, f"prescription:identifier={BASE}/fhir/sid/prescription|{rx['id']}&status=completed")) == [
        f"dispense-{dispense['id']}"]
    assert ids(search(world.admin, "")) == ids(everything)
    _, other = world.pharmacist_api()
    assert ids(search(other, "")) == []
    assert ids(search(rph, f"patient:identifier={REMS}|NOBODY")) == []


def test_unknown_or_repeated_parameters_are_422(world):
    rph, *_ = world.authorized()
    assert search(rph, "subject=Patient/1", 422)["issue"][0]["expression"] == ["subject"]
    search(rph, "status=completed&status=declined", 422)
    search(rph, "status=in-progress", 422)
    search(rph, "patient:identifier=P1", 422)
    search(rph, "_cursor=%%%", 422)
    send(world.anon, "GET", "/MedicationDispense", None, 401)


def test_fifty_a_page_with_a_next_link_that_continues(world, app):
    rph, doc, patient, rx, decision = world.authorized()
    auth = decision["authorization"]["id"]
    for _ in range(53):  # refused for want of an RMA, each recorded
        assert rph.post(f"/authorizations/{auth}/dispense", {"quantity": 60}).status_code == 409
    first = search(rph, "status=declined")
    assert len(first["entry"]) == 50
    [next_link] = [link["url"] for link in first["link"] if link["relation"] == "next"]
    second = search(rph, next_link.split("?", 1)[1])
    assert len(second["entry"]) == 3 and not [link for link in second["link"] if link["relation"] == "next"]
    seen = ids(first) + ids(second)
    numbers = [int(i.split("-")[1]) for i in seen]
    assert numbers == sorted(numbers, reverse=True) and len(set(numbers)) == 53
