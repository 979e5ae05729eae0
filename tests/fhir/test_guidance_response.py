"""A recorded decision read as FHIR (INTEROP.md §4.1): GuidanceResponse with its contained
Parameters and DetectedIssues, valid R4B; who may read it."""
from __future__ import annotations

from fhir.resources.R4B.guidanceresponse import GuidanceResponse

from tests.fhir.conftest import BASE


def read(api, decision_id: int, status: int = 200) -> dict:
    resp = api.client.get(f"/fhir/R4/GuidanceResponse/{decision_id}",
                          headers={"Authorization": f"Bearer {api.token}"} if api.token else {})
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/fhir+json"
    return resp.get_json(force=True)


def outputs(body: dict) -> list[dict]:
    [parameters] = body["contained"]
    assert parameters["resourceType"] == "Parameters" and body["outputParameters"] == {"reference": "#outputs"}
    return parameters["parameter"]


def test_an_authorized_decision_reads_back_as_a_successful_guidance_response(world):
    rph, doc, patient, rx, decision = world.authorized()
    body = read(rph, decision["id"])
    GuidanceResponse.model_validate(body)
    assert (body["id"], body["status"]) == (str(decision["id"]), "success")
    assert body["moduleCanonical"] == f"{BASE}/fhir/PlanDefinition/{decision['policy']['name']}|" \
                                      f"{decision['policy']['version']}"
    assert body["subject"] == {"reference": f"Patient/{patient['id']}", "identifier": {
        "system": f"{BASE}/fhir/sid/rems-patient-id", "value": patient["rems_patient_id"]}}
    params = outputs(body)
    gates = [g["gate"] for g in decision["gates"]]
    assert [p["name"] for p in params[:len(gates)]] == gates
    assert all(p["resource"]["status"] == "success" for p in params[:len(gates)])
    named = {p["name"]: p for p in params[len(gates):]}
    assert named["outcome"]["valueCode"] == "authorized"
    assert named["prescription"]["valueIdentifier"] == {"system": f"{BASE}/fhir/sid/prescription",
                                                        "value": str(rx["id"])}
    assert named["case_number"]["valueString"] == patient["rems_patient_id"]
    assert named["dispense-by"]["valueInstant"] == decision["dispense_by"]
    assert named["authorization"]["valueString"] == str(decision["authorization"]["id"])
    assert {part["name"] for part in named["dispense-by-source"]["part"]} == {"gate", "evidence", "last-day"}
    assert "detected-issue" not in named


def test_a_blocked_decision_names_each_failing_gate_and_its_detected_issue(world):
    pharmacy, rph = world.pharmacist_api()
    _, doc = world.prescriber_api()
    patient = world.patient(doc, rems_patient_id=None)
    rx = world.prescription(doc, patient, pharmacy)
    decision = rph.ok("POST", f"/prescriptions/{rx['id']}/evaluations")
    assert decision["outcome"] == "blocked"
    body = read(rph, decision["id"])
    GuidanceResponse.model_validate(body)
    assert body["status"] == "data-required"
    assert body["subject"]["identifier"] == {"system": f"{BASE}/fhir/sid/patient", "value": str(patient["id"])}
    params = outputs(body)
    failing = [g for g in decision["gates"] if g["status"] == "fail"]
    # The gate "prescription" and the prescription's identifier share a name (INTEROP.md §4.1): the
    # gates come first, in order, each holding a resource.
    by_gate = {p["name"]: p["resource"] for p in params[:len(decision["gates"])]}
    assert list(by_gate) == [g["gate"] for g in decision["gates"]]
    for gate in failing:
        guidance = by_gate[gate["gate"]]
        assert guidance["status"] == "data-required"
        assert guidance["reasonCode"][0]["coding"][0]["code"] == gate["code"]
        assert guidance["note"][0]["text"] == gate["message"]
    issues = [p["resource"] for p in params if p["name"] == "detected-issue"]
    flagged = [g for g in decision["gates"] if g["status"] in ("fail", "warn")]
    assert [i["code"]["coding"][1]["code"] for i in issues] == [g["code"] for g in flagged]
    pregnancy = next(i for i, g in zip(issues, flagged, strict=True) if g["gate"] == "pregnancy_test")
    assert pregnancy["code"]["coding"][0] == {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                              "code": "PREG"}
    assert all(i["severity"] == "high" and i["status"] == "final" for i in issues)
    assert all(i["implicated"][0]["reference"] == f"MedicationRequest/{rx['id']}" for i in issues)
    names = {p["name"] for p in params}
    assert "case_number" not in names and "dispense-by" not in names and "authorization" not in names


def test_who_may_read_a_decision(world):
    rph, doc, _, _, decision = world.authorized()
    _, other_rph = world.pharmacist_api()
    _, other_doc = world.prescriber_api()
    _, auditor = world.user("auditor")
    read(doc, decision["id"])
    read(world.admin, decision["id"])
    for api, status, code in ((other_rph, 403, "forbidden"), (other_doc, 403, "forbidden"),
                              (auditor, 403, "forbidden"), (world.anon, 401, "login")):
        body = read(api, decision["id"], status)
        assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == code
    missing = read(rph, decision["id"] + 1000, 404)
    assert missing["issue"][0]["code"] == "not-found"


def evaluate(api, rx_id: int, status: int = 201, **kw) -> dict:
    headers = {"Authorization": f"Bearer {api.token}"} if api.token else {}
    headers.update(kw.pop("headers", {}))
    resp = api.client.post(f"/fhir/R4/MedicationRequest/{rx_id}/$evaluate", headers=headers, **kw)
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/fhir+json"
    body = resp.get_json(force=True)
    if status == 201:
        assert resp.headers["Location"] == f"{BASE}/fhir/R4/GuidanceResponse/{body['id']}"
    return body


def test_evaluate_records_a_decision_and_answers_its_guidance_response(world):
    pharmacy, rph = world.pharmacist_api()
    _, doc = world.prescriber_api()
    patient = world.patient(doc)
    world.ready_evidence(doc, patient)
    rx = world.prescription(doc, patient, pharmacy)
    body = evaluate(rph, rx["id"])
    GuidanceResponse.model_validate(body)
    assert body["status"] == "success"
    # Recorded: it reads back the same, and the JSON API sees the authorization.
    assert read(rph, int(body["id"])) == body
    detail = rph.ok("GET", f"/prescriptions/{rx['id']}")
    assert detail["status"] == "authorized" and str(detail["authorization"]["id"]) in {
        p.get("valueString") for p in outputs(body) if p["name"] == "authorization"}


def test_evaluate_answers_201_when_blocked_and_409_once_dispensed(world):
    pharmacy, rph = world.pharmacist_api()
    _, doc = world.prescriber_api()
    patient = world.patient(doc)
    rx = world.prescription(doc, patient, pharmacy)
    assert evaluate(rph, rx["id"])["status"] == "data-required"
    rph2, _, _, rx2, decision = world.authorized()
    rph2.ok("POST", f"/authorizations/{decision['authorization']['id']}/dispense",
            {"quantity": 60, "rma_number": "RMA-FHIR-1", "rma_do_not_dispense_after": "2027-12-31"})
    conflict = evaluate(rph2, rx2["id"], 409)
    assert conflict["issue"][0]["code"] == "conflict"
    assert conflict["issue"][0]["details"]["coding"][0]["code"] == "already_dispensed"


def test_evaluate_refuses_in_the_contracts_order(world, app):
    from pharmsafe.models import Decision
    from pharmsafe.runtime import runtime_of

    rph, doc, _, rx, _ = world.authorized()
    _, other_rph = world.pharmacist_api()
    with runtime_of(app).session_factory() as s:
        before = s.query(Decision).count()
    assert evaluate(world.anon, rx["id"], 401)["issue"][0]["code"] == "login"
    assert evaluate(doc, rx["id"], 403)["issue"][0]["code"] == "forbidden"  # the role
    assert evaluate(rph, rx["id"] + 1000, 404)["issue"][0]["code"] == "not-found"
    assert evaluate(other_rph, rx["id"], 403)["issue"][0]["code"] == "forbidden"  # another pharmacy's
    media = evaluate(rph, rx["id"], 415, data="hello", headers={"Content-Type": "text/plain"})
    assert media["issue"][0]["code"] == "not-supported"
    with runtime_of(app).session_factory() as s:
        assert s.query(Decision).count() == before


def test_a_superseded_decision_still_names_the_authorization_it_issued(world):
    rph, _, _, rx, first = world.authorized()
    second = rph.ok("POST", f"/prescriptions/{rx['id']}/evaluations")
    assert second["authorization"]["id"] != first["authorization"]["id"]
    named = {p["name"]: p for p in outputs(read(rph, first["id"])) if "valueString" in p}
    assert named["authorization"]["valueString"] == str(first["authorization"]["id"])
