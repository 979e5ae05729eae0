"""INTEROP.md §8, the first conformance test: every kind of resource PharmSafe emits passes its R4B
model, and no invariant of HL7's StructureDefinitions is violated; and nothing imports fhir.resources
but its R4B models."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from tests.fhir.conftest import BASE, REMS, bundle, entry, send
from tests.fhir.constraints import check, has_constraints

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def emitted(world, app, clock):
    """(what, resource) for one of every kind the facade answers with."""
    out: list[tuple[str, dict]] = []

    def keep(what: str, resp, status: int = 200):
        assert resp.status_code == status, resp.get_data(as_text=True)
        out.append((what, resp.get_json(force=True)))
        return out[-1][1]

    keep("capability statement", send(world.anon, "GET", "/metadata"))
    keep("questionnaire", send(world.anon, "GET", "/Questionnaire/isotretinoin-attestation"))
    rph, doc, patient, rx, decision = world.authorized()
    keep("guidance response, success", send(rph, "GET", f"/GuidanceResponse/{decision['id']}"))
    other = world.patient(doc)
    other_pharmacy, other_rph = world.pharmacist_api()
    blocked_rx = world.prescription(doc, other, other_pharmacy)
    keep("guidance response, data-required",
         send(other_rph, "POST", f"/MedicationRequest/{blocked_rx['id']}/$evaluate"), 201)
    keep("rems-etasu, data-required", send(doc, "POST", "/GuidanceResponse/$rems-etasu", {
        "resourceType": "Parameters", "parameter": [{"name": "prescription", "valueReference": {
            "reference": f"MedicationRequest/{blocked_rx['id']}"}}]}))
    keep("rems-etasu, success", send(rph, "POST", "/GuidanceResponse/$rems-etasu", {
        "resourceType": "Parameters", "parameter": [{"name": "prescription", "valueReference": {
            "reference": f"MedicationRequest/{rx['id']}"}}]}))
    keep("rems-etasu, failure", send(rph, "POST", "/GuidanceResponse/$rems-etasu", {
        "resourceType": "Parameters", "parameter": [{"name": "case_number", "valueString": "NOBODY"}]}))
    auth = decision["authorization"]["id"]
    assert rph.post(f"/authorizations/{auth}/dispense", {"quantity": 60}).status_code == 409
    clock.advance(minutes=1)
    dispense = rph.ok("POST", f"/authorizations/{auth}/dispense", {
        "quantity": 60, "rma_number": "RMA-C-1", "rma_do_not_dispense_after": world.day(5)})
    keep("medication dispense, completed", send(rph, "GET", f"/MedicationDispense/dispense-{dispense['id']}"))
    searchset = keep("searchset", send(rph, "GET", f"/MedicationDispense?patient:identifier={REMS}|"
                                                   f"{patient['rems_patient_id']}"))
    declined = [e["resource"] for e in searchset["entry"] if e["resource"]["status"] == "declined"]
    out.append(("medication dispense, declined", declined[0]))
    third = world.patient(doc)
    keep("transaction-response", send(doc, "POST", "", bundle(entry({
        "resourceType": "Patient", "identifier": [{"system": REMS, "value": third["rems_patient_id"]}]}, 0,
        if_none_exist=f"identifier={REMS}|{third['rems_patient_id']}"))))
    keep("operation outcome, 404", send(rph, "GET", "/GuidanceResponse/999999"), 404)
    keep("operation outcome, 422", send(doc, "POST", "", {"resourceType": "Bundle", "type": "batch"}), 422)
    _, auditor = world.user("auditor")
    lines = auditor.get("/audit-events/export?format=fhir").get_data(as_text=True).splitlines()
    out.extend(("export line", json.loads(line)) for line in lines)
    return out


def test_every_emitted_resource_passes_its_r4b_model_and_the_invariants(emitted):
    kinds = {what for what, _ in emitted}
    assert {"capability statement", "questionnaire", "guidance response, success",
            "guidance response, data-required", "rems-etasu, success",
            "rems-etasu, data-required", "rems-etasu, failure", "medication dispense, completed",
            "medication dispense, declined", "searchset", "transaction-response", "operation outcome, 404",
            "operation outcome, 422", "export line"} <= kinds
    evaluated = 0
    for what, resource in emitted:
        if what == "guidance response, data-required":
            assert resource["status"] == "data-required"
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        nested = [resource] + [e["resource"] for e in resource.get("entry", []) if "resource" in e] + \
            [p["resource"] for p in resource.get("parameter", []) if "resource" in p]
        for item in nested:
            if has_constraints(item["resourceType"]):
                violated, count = check(item)
                assert violated == [], (what, violated)
                evaluated += count
    assert evaluated > 100  # the invariants really ran over the dispenses and the export lines


def test_the_invariants_catch_a_violation():
    """The checker can fail: mdd-1 (handed over before prepared), dom-3 (a contained resource no one
    references), ele-1 (an empty element)."""
    dispense = {"resourceType": "MedicationDispense", "status": "completed",
                "medicationCodeableConcept": {"text": "isotretinoin 20 mg"},
                "whenPrepared": "2026-11-26T10:00:00Z", "whenHandedOver": "2026-11-25T10:00:00Z",
                "contained": [{"resourceType": "DetectedIssue", "id": "issue-1", "status": "final"}],
                "note": [{"text": ""}]}
    violated, _ = check(dispense)
    assert set(violated) == {"mdd-1 at MedicationDispense", "dom-3", "ele-1"}


def _fhir_imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fhir"):
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(a.name for a in node.names if a.name.startswith("fhir"))
    return names


def test_only_r4b_models_are_imported():
    offending = {str(p.relative_to(ROOT)): names for p in [*ROOT.glob("pharmsafe/**/*.py"), *ROOT.glob("tests/**/*.py"),
                                                           *ROOT.glob("bench/*.py")]
                 if (names := [n for n in _fhir_imports(p) if n.startswith("fhir.resources")
                               and not (n == "fhir.resources.R4B" or n.startswith("fhir.resources.R4B."))])}
    assert offending == {}
    assert _fhir_imports(ROOT / "pharmsafe" / "fhir" / "__init__.py")  # the scan reads real imports


def test_the_base_of_every_emitted_identifier_system_is_the_configured_one(emitted):
    text = json.dumps([r for w, r in emitted if w != "capability statement"])
    assert f"{BASE}/fhir/sid/" in text and "http://localhost" not in text
