"""The FHIR facade's foundation (INTEROP.md §1, §3.4, §4.5, §5): the CapabilityStatement, the
attestation Questionnaire, and an OperationOutcome for every failure, each valid R4B."""
from __future__ import annotations

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.questionnaire import Questionnaire

from pharmsafe import create_app
from pharmsafe.config import ConfigError, load_settings
from pharmsafe.gates import CONTRACEPTION_METHODS

BASE = "https://pharmsafe.example.org"


@pytest.fixture
def client(settings, clock):
    app = create_app(dict(settings, BASE_URL=BASE), clock=clock)
    yield app.test_client()
    from pharmsafe.runtime import runtime_of

    runtime_of(app).dispose()


def fhir(resp, status: int = 200) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/fhir+json"
    return resp.get_json(force=True)


def test_the_capability_statement_is_valid_r4b_and_names_the_base(client):
    body = fhir(client.get("/fhir/R4/metadata"))
    CapabilityStatement.model_validate(body)
    assert (body["status"], body["kind"], body["fhirVersion"], body["format"]) == ("active", "instance", "4.0.1",
                                                                                     ["json"])
    assert body["software"]["name"] == "PharmSafe" and body["implementation"]["url"] == f"{BASE}/fhir/R4"
    [rest] = body["rest"]
    assert rest["mode"] == "server"
    # Only what is served is listed.
    served = [(r["type"], [i["code"] for i in r.get("interaction", [])], [o["name"] for o in r.get("operation", [])])
              for r in rest["resource"]]
    assert served == [("GuidanceResponse", ["read"], ["rems-etasu"]),
                      ("MedicationDispense", ["read", "search-type"], []),
                      ("MedicationRequest", ["create"], ["evaluate"]),
                      ("Observation", ["create", "update"], []),
                      ("Questionnaire", ["read"], []),
                      ("QuestionnaireResponse", ["create", "update"], [])]
    assert rest["interaction"] == [{"code": "transaction"}]
    [dispenses] = [r for r in rest["resource"] if r["type"] == "MedicationDispense"]
    assert [p["name"] for p in dispenses["searchParam"]] == ["patient:identifier", "prescription:identifier",
                                                             "status"]


def test_the_attestation_questionnaire_is_valid_r4b_with_the_forms_items(client):
    body = fhir(client.get("/fhir/R4/Questionnaire/isotretinoin-attestation"))
    Questionnaire.model_validate(body)
    assert body["url"] == f"{BASE}/fhir/Questionnaire/isotretinoin-attestation" and body["version"] == "1"
    items = {item["linkId"]: item for item in body["item"]}
    assert list(items) == ["kind", "attested-on", "methods", "note", "confirmed"]
    assert [o["valueCoding"]["code"] for o in items["kind"]["answerOption"]] == [
        "contraception", "comprehension", "counseling", "pregnancy_excluded"]
    assert {o["valueCoding"]["code"] for o in items["methods"]["answerOption"]} == set(CONTRACEPTION_METHODS)
    assert {o["valueCoding"]["system"] for o in items["methods"]["answerOption"]} == {
        f"{BASE}/fhir/CodeSystem/contraception-method"}
    assert items["methods"]["repeats"] is True and items["confirmed"]["type"] == "boolean"
    assert items["note"]["enableWhen"][0]["answerCoding"]["code"] == "pregnancy_excluded"
    assert items["kind"]["required"] and items["attested-on"]["required"] and items["confirmed"]["required"]


@pytest.mark.parametrize("method,path,status,issue,code", [
    ("GET", "/fhir/R4/Patient/1", 404, "not-found", "not_found"),
    ("GET", "/fhir/R4/Questionnaire/some-other-form", 404, "not-found", "not_found"),
    ("POST", "/fhir/R4/metadata", 405, "not-supported", "method_not_allowed"),
    ("DELETE", "/fhir/R4/Questionnaire/isotretinoin-attestation", 405, "not-supported", "method_not_allowed"),
])
def test_every_failure_is_an_operation_outcome(client, method, path, status, issue, code):
    body = fhir(client.open(path, method=method), status)
    OperationOutcome.model_validate(body)
    [only] = body["issue"]
    assert (only["severity"], only["code"]) == ("error", issue)
    assert only["details"]["coding"] == [{"system": f"{BASE}/fhir/CodeSystem/error-code", "code": code}]
    assert only["details"]["text"]


def test_the_json_api_keeps_its_own_error_shape(client):
    resp = client.get("/api/v1/nothing-here")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("value", ["http://127.0.0.1:5000/", "ftp://pharmsafe.example.org", "pharmsafe.example.org",
                                   "https://user@pharmsafe.example.org", "http://h:port", "https://h/?a=1", ""])
def test_a_bad_base_url_stops_start_up(value):
    with pytest.raises(ConfigError, match="PHARMSAFE_BASE_URL must be"):
        load_settings(environ={"PHARMSAFE_ENV": "testing", "PHARMSAFE_BASE_URL": value})


def test_the_base_url_defaults_to_the_development_server():
    assert load_settings(environ={"PHARMSAFE_ENV": "testing"})["BASE_URL"] == "http://127.0.0.1:5000"
    assert load_settings(environ={"PHARMSAFE_ENV": "testing", "PHARMSAFE_BASE_URL": "https://h.example/ps"})[
        "BASE_URL"] == "https://h.example/ps"
