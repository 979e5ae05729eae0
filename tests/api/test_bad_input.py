"""Bad input never yields a 500 or a partial write: each case asserts the status, the error shape
and that nothing was written (no new row, no new audit event)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from pharmsafe.models import (
    Attestation,
    AuditEvent,
    Dispense,
    LabResult,
    Patient,
    Pharmacy,
    PregnancyTest,
    Prescriber,
    Prescription,
)
from pharmsafe.runtime import runtime_of
from tests.support import World

TABLES = (AuditEvent, Pharmacy, Prescriber, Patient, PregnancyTest, LabResult, Attestation, Prescription, Dispense)


@pytest.fixture
def world(app, client):
    return World(app, client)


def counts(app):
    with runtime_of(app).session_factory() as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) for m in TABLES}


def assert_error(resp, status, code=None, field=None):
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:500])
    assert resp.is_json, resp.get_data(as_text=True)[:200]
    body = resp.get_json()
    assert set(body) == {"error"} and isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    if field:
        assert field in body["error"]["fields"], body


@pytest.fixture
def doc_and_patient(world):
    _, doc = world.prescriber_api()
    return doc, world.patient(doc)


def test_malformed_json(world, app, doc_and_patient):
    doc, patient = doc_and_patient
    before = counts(app)
    resp = doc.call("POST", f"/patients/{patient['id']}/pregnancy-tests", data="{not json",
                    headers={"Content-Type": "application/json"})
    assert_error(resp, 400, "bad_request")
    assert counts(app) == before


@pytest.mark.parametrize("body,field", [
    ({"specimen_collected_on": 20261120, "result": "negative", "specimen": "urine", "setting": "medical"},
     "specimen_collected_on"),
    ({"specimen_collected_on": "2026-11-20", "result": "maybe", "specimen": "urine", "setting": "medical"}, "result"),
    ({"specimen_collected_on": "2026-02-30", "result": "negative", "specimen": "urine", "setting": "medical"},
     "specimen_collected_on"),
    ({"specimen_collected_on": "2026-11-27", "result": "negative", "specimen": "urine", "setting": "medical"},
     "specimen_collected_on"),
    ({"specimen_collected_on": "2026-11-20", "result": "negative", "specimen": "urine", "setting": "medical",
      "extra": 1}, "extra"),
    ({"specimen_collected_on": "2026-11-20", "result": "negative", "specimen": "serum", "setting": "home"}, "specimen"),
    ({"specimen_collected_on": "2026-11-20", "result": "negative", "specimen": "urine", "setting": "medical",
      "clia_number": "12345"}, "clia_number"),
    ({"result": "negative", "specimen": "urine", "setting": "medical"}, "specimen_collected_on"),
])
def test_pregnancy_test_field_errors(world, app, doc_and_patient, body, field):
    doc, patient = doc_and_patient
    before = counts(app)
    assert_error(doc.post(f"/patients/{patient['id']}/pregnancy-tests", json=body), 422, "validation_error", field)
    assert counts(app) == before


@pytest.mark.parametrize("body,field", [
    ({"test": "GLUCOSE", "value": 1, "unit": "mg/dL", "collected_on": "2026-11-20"}, "test"),
    ({"test": "ALT", "value": "abc", "unit": "U/L", "collected_on": "2026-11-20"}, "value"),
    ({"test": "ALT", "value": "NaN", "unit": "U/L", "collected_on": "2026-11-20"}, "value"),
    ({"test": "ALT", "value": 10, "unit": "", "collected_on": "2026-11-20"}, "unit"),
    ({"test": "ALT", "value": 10, "unit": "U/L", "collected_on": "2026-11-20", "reference_upper": 0}, "reference_upper"),
])
def test_lab_result_field_errors(world, app, doc_and_patient, body, field):
    doc, patient = doc_and_patient
    before = counts(app)
    assert_error(doc.post(f"/patients/{patient['id']}/lab-results", json=body), 422, "validation_error", field)
    assert counts(app) == before


def test_unknown_contraception_method_is_422(world, app, doc_and_patient):
    doc, patient = doc_and_patient
    before = counts(app)
    resp = doc.post(f"/patients/{patient['id']}/attestations",
                    json={"kind": "contraception", "attested_on": "2026-11-20", "methods": ["iud", "wishful_thinking"]})
    assert_error(resp, 422, "validation_error", "methods")
    assert counts(app) == before


@pytest.mark.parametrize("over,field", [
    ({"npi": "1234567890"}, "npi"),
    ({"npi": "123456789"}, "npi"),
    ({"status": "retired"}, "status"),
    ({"license_expires_on": "not-a-date"}, "license_expires_on"),
    ({"first_name": ""}, "first_name"),
    ({"first_name": "x" * 101}, "first_name"),
])
def test_prescriber_field_errors(world, app, over, field):
    body = {"npi": "1234567893", "first_name": "A", "last_name": "B", "license_state": "NY", "license_number": "1",
            "license_expires_on": "2027-01-01", "rems_certified_until": "2027-01-01", "status": "active", **over}
    before = counts(app)
    assert_error(world.admin.post("/prescribers", json=body), 422, "validation_error", field)
    assert counts(app) == before


@pytest.mark.parametrize("over,field", [
    ({"ncpdp_id": "123456"}, "ncpdp_id"),
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"rems_registration_id": "x" * 65}, "rems_registration_id"),
])
def test_pharmacy_field_errors(world, app, over, field):
    body = {"name": "P", "ncpdp_id": "1234567", "rems_registration_id": "R", "activated_until": "2027-01-01",
            "time_zone": "America/New_York", **over}
    before = counts(app)
    assert_error(world.admin.post("/pharmacies", json=body), 422, "validation_error", field)
    assert counts(app) == before


@pytest.mark.parametrize("over,field", [
    ({"drug": "tretinoin", "ndc": None}, "drug"),
    ({"days_supply": "30"}, "days_supply"),
    ({"refills": -1}, "refills"),
    ({"quantity": 0}, "quantity"),
    ({"written_on": "2026-11-27"}, "written_on"),
    ({"patient_id": 999999}, "patient_id"),
    ({"pharmacy_id": 999999}, "pharmacy_id"),
    ({"first_of_course": "yes"}, "first_of_course"),
])
def test_prescription_field_errors(world, app, over, field):
    pharmacy = world.pharmacy()
    _, doc = world.prescriber_api()
    patient = world.patient(doc)
    body = {"patient_id": patient["id"], "pharmacy_id": pharmacy["id"], "drug": "isotretinoin", "strength_mg": 20,
            "quantity": 60, "days_supply": 30, "refills": 0, "written_on": "2026-11-25", **over}
    before = counts(app)
    assert_error(doc.post("/prescriptions", json=body), 422, "validation_error", field)
    assert counts(app) == before


def test_oversized_body_is_413(world, app, doc_and_patient):
    doc, patient = doc_and_patient
    before = counts(app)
    resp = doc.call("POST", f"/patients/{patient['id']}/attestations", data=b'{"kind": "' + b"x" * (1024 * 1024 + 10) + b'"}',
                    headers={"Content-Type": "application/json"})
    assert_error(resp, 413, "payload_too_large")
    assert counts(app) == before


def test_body_that_is_not_an_object_is_422(world, app, doc_and_patient):
    doc, patient = doc_and_patient
    assert_error(doc.post(f"/patients/{patient['id']}/attestations", json=[1, 2]), 422, "validation_error")


def test_unknown_ids_are_404(world, app):
    _, rph = world.pharmacist_api()
    _, doc = world.prescriber_api()
    before = counts(app)
    assert_error(rph.post("/prescriptions/999999/evaluations"), 404, "not_found")
    assert_error(rph.get("/authorizations/999999"), 404, "not_found")
    assert_error(rph.post("/authorizations/999999/dispense", json={"quantity": 1}), 404, "not_found")
    assert_error(doc.post("/patients/999999/pregnancy-tests", json={}), 404, "not_found")
    assert_error(world.admin.patch("/prescribers/999999", json={"status": "active"}), 404, "not_found")
    assert_error(world.admin.get("/nothing-here"), 404)
    assert counts(app) == before


def test_authentication_then_role_then_body(world, app, doc_and_patient):
    doc, patient = doc_and_patient
    _, rph = world.pharmacist_api()
    _, other_doc = world.prescriber_api()
    before = counts(app)
    path = f"/patients/{patient['id']}/pregnancy-tests"
    assert_error(world.anon.post(path, json={"bad": 1}), 401, "unauthorized")
    assert_error(world.anon.as_("not-a-token").post(path, json={"bad": 1}), 401, "unauthorized")
    assert_error(rph.post(path, json={"bad": 1}), 403, "forbidden")
    assert_error(other_doc.post(path, json={"bad": 1}), 403, "forbidden")
    assert_error(other_doc.get(f"/patients/{patient['id']}"), 403, "forbidden")
    assert counts(app) == before


def test_revoked_token_and_deactivated_user_are_refused_at_once(world):
    created, doc = world.user("prescriber", prescriber_id=world.prescriber()["id"])
    assert doc.get("/patients").status_code == 200
    world.admin.ok("PATCH", f"/users/{created['id']}", {"active": False})
    assert_error(doc.get("/patients"), 401)
    world.admin.ok("PATCH", f"/users/{created['id']}", {"active": True})
    assert doc.get("/patients").status_code == 200
    token = world.admin.ok("POST", f"/users/{created['id']}/tokens")
    fresh = doc.as_(token["api_token"])
    assert fresh.get("/patients").status_code == 200
    fresh.ok("DELETE", f"/tokens/{token['id']}")
    assert_error(fresh.get("/patients"), 401)
    assert doc.get("/patients").status_code == 200


def test_duplicate_npi_is_409_with_field(world, app):
    prescriber = world.prescriber()
    body = {"npi": prescriber["npi"], "first_name": "A", "last_name": "B", "license_state": "NY",
            "license_number": "1", "license_expires_on": "2027-01-01", "rems_certified_until": "2027-01-01",
            "status": "active"}
    before = counts(app)
    assert_error(world.admin.post("/prescribers", json=body), 409, "duplicate", "npi")
    assert counts(app) == before


def test_openapi_document_lists_every_route(client, app):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    documented = {(m.upper(), "/api/v1" + p) for p, ops in doc["paths"].items() for m in ops}
    registered = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1") and rule.rule != "/api/v1/openapi.json":
            path = rule.rule
            for arg in rule.arguments:
                path = path.replace(f"<int:{arg}>", "{" + arg + "}")
            registered |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert registered == documented


# Found by the long fuzzing profile: a NUL in a name reached PostgreSQL, which refuses it (a 500).
@pytest.mark.parametrize("raw_name", [r'"Ient\u0000"', r'"\udb9fq"', r'"tab\u0007bell"'])
def test_text_a_database_cannot_store_is_refused(world, app, raw_name):
    _, doc = world.prescriber_api()
    before = counts(app)
    body = ('{"first_name": "Pat", "last_name": ' + raw_name + ', "date_of_birth": "2001-04-05", '
            '"can_get_pregnant": false, "rems_patient_id": "P1", "enrolled_on": "2026-10-01"}')
    resp = doc.call("POST", "/patients", data=body, headers={"Content-Type": "application/json"})
    assert_error(resp, 422, "validation_error", "last_name")
    assert counts(app) == before


def test_tabs_and_line_breaks_in_text_are_kept(doc_and_patient):
    doc, patient = doc_and_patient
    assert doc.ok("PATCH", f"/patients/{patient['id']}", {"last_name": "Smith\tJones"})["last_name"] == "Smith\tJones"


# Found by the long fuzzing profile: a long, odd time zone name made ZoneInfo raise OSError (a 500).
@pytest.mark.parametrize("zone", ["T\u033ao\u035e " * 60, "../../etc/passwd", "America/Nowhere", "america/new_york"])
def test_unknown_time_zone_is_a_field_error(world, app, zone):
    before = counts(app)
    resp = world.admin.call("POST", "/pharmacies", {"name": "P", "ncpdp_id": "1234567", "rems_registration_id": "R",
                                                    "activated_until": "2027-12-31", "time_zone": zone})
    assert_error(resp, 422, "validation_error", "time_zone")
    assert counts(app) == before


# Found by an outside fuzzer: the PATCH operations declared every field required while the service
# (rightly) accepts any subset, so negative cases that only left a field out were accepted.
def _resolved(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _request_schema(doc: dict, method: str, path: str) -> dict:
    return _resolved(doc, doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"])


PATCHES = {"/users/{user_id}": {"active": True}, "/pharmacies/{pharmacy_id}": {"name": "Renamed"},
           "/prescribers/{prescriber_id}": {"license_number": "L-2"}, "/patients/{patient_id}": {"first_name": "Al"}}


def test_openapi_patch_bodies_declare_no_required_field(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    documented = {path for path, operations in doc["paths"].items() if "patch" in operations}
    assert documented == set(PATCHES)
    for path in PATCHES:
        schema = _request_schema(doc, "patch", path)
        assert schema["properties"] and "required" not in schema, (path, schema.get("required"))
        assert schema.get("additionalProperties") is False, path
    # The creating operations still require what they need.
    for path in ("/users", "/pharmacies", "/prescribers", "/patients"):
        assert _request_schema(doc, "post", path)["required"], path


def test_patch_accepts_the_one_field_body_the_document_allows(world, app):
    """What the document allows is what the service accepts: one field of each PATCH body."""
    prescriber, doc = world.prescriber_api()
    patient = world.patient(doc)
    user, _ = world.user("auditor")
    ids = {"user_id": user["id"], "pharmacy_id": world.pharmacy()["id"], "prescriber_id": prescriber["id"],
           "patient_id": patient["id"]}
    for path, body in PATCHES.items():
        caller = doc if path.startswith("/patients") else world.admin
        url = path.format(**ids)
        changed = caller.ok("PATCH", url, body)
        assert all(changed[k] == v for k, v in body.items()), (path, changed)
