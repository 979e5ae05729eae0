"""HL7's own example resources (INTEROP.md §8), as they are or re-wrapped as transaction entries:
what PharmSafe refuses it refuses with nothing written, what it reads it reads as the contract says."""
from __future__ import annotations

import copy

import pytest
from fhir.resources.R4B import get_fhir_model_class

from tests.fhir.conftest import CLIA, ORDER, bundle, counts, entry, fixture, send, subject


@pytest.fixture
def doc_and_patient(world):
    prescriber, doc = world.prescriber_api()
    return prescriber, doc, world.patient(doc)


def as_ours(resource: dict, rems_id: str, ident: str) -> dict:
    """The example pointed at our patient, with an identifier of its sender."""
    out = copy.deepcopy(resource)
    out.pop("id", None)
    out["subject"] = subject(rems_id)
    out["identifier"] = [{"system": ORDER, "value": ident}]
    return out


def ghp_entries(rems_id: str, *, with_report: bool) -> dict:
    by_id = {e["resource"]["id"]: e["resource"] for e in fixture("Bundle-ghp")["entry"]}
    alt, ast = as_ours(by_id["o14"], rems_id, "o14"), as_ours(by_id["o15"], rems_id, "o15")
    entries = [entry(alt, 1), entry(ast, 2)]
    if with_report:
        report = copy.deepcopy(by_id["ghp"])
        report.pop("id")
        report["result"] = [{"reference": entries[0]["fullUrl"]}, {"reference": entries[1]["fullUrl"]}]
        entries.append(entry(report, 3))
    return bundle(*entries)


def test_the_transaction_example_is_refused_with_nothing_written(app, doc_and_patient):
    _, doc, _ = doc_and_patient
    before = counts(app)
    send(doc, "POST", "", fixture("Bundle-bundle-transaction"), 422)
    assert counts(app) == before


def test_the_ghp_collection_is_refused(app, doc_and_patient):
    _, doc, _ = doc_and_patient
    outcome = send(doc, "POST", "", fixture("Bundle-ghp"), 422).get_json(force=True)
    assert outcome["issue"][0]["expression"] == ["Bundle.type"]


def test_ghp_alt_and_ast_are_refused_undated_and_read_when_the_report_dates_them(app, doc_and_patient):
    _, doc, patient = doc_and_patient
    before = counts(app)
    outcome = send(doc, "POST", "", ghp_entries(patient["rems_patient_id"], with_report=False), 422).get_json(force=True)
    assert {e for i in outcome["issue"] for e in i["expression"]} == {
        "Bundle.entry[0].resource.effective", "Bundle.entry[1].resource.effective"}
    assert counts(app) == before
    send(doc, "POST", "", ghp_entries(patient["rems_patient_id"], with_report=True), 200)
    labs = {r["test"]: r for r in doc.ok("GET", f"/patients/{patient['id']}")["lab_results"]}
    assert (labs["ALT"]["unit"], str(labs["ALT"]["value"]), str(labs["ALT"]["reference_upper"])) == ("U/L", "54", "45")
    assert labs["ALT"]["collected_on"] == labs["AST"]["collected_on"] == "2015-08-16"


def lipid_bundle(rems_id: str, *, with_hdl: bool) -> dict:
    by_id = {e["resource"]["id"]: e["resource"] for e in fixture("Bundle-lipids")["entry"]}
    names = ["cholesterol", "triglyceride"] + (["hdlcholesterol"] if with_hdl else [])
    entries = [entry(as_ours(by_id[name], rems_id, name), n) for n, name in enumerate(names, start=1)]
    report = copy.deepcopy(by_id["lipids"])
    report.pop("id")
    report["result"] = [{"reference": e["fullUrl"]} for e in entries]
    return bundle(*entries, entry(report, 9))


def test_lipids_in_mmol_are_dated_by_the_report_and_hdl_rolls_back_everything(app, doc_and_patient):
    _, doc, patient = doc_and_patient
    before = counts(app)
    outcome = send(doc, "POST", "", lipid_bundle(patient["rems_patient_id"], with_hdl=True), 422).get_json(force=True)
    assert outcome["issue"][0]["code"] == "code-invalid"
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[2].resource.code"]
    assert counts(app) == before
    send(doc, "POST", "", lipid_bundle(patient["rems_patient_id"], with_hdl=False), 200)
    labs = {r["test"]: r for r in doc.ok("GET", f"/patients/{patient['id']}")["lab_results"]}
    assert {(t, r["unit"], r["collected_on"]) for t, r in labs.items()} == {
        ("TOTAL_CHOLESTEROL", "mmol/L", "2011-03-04"), ("TRIGLYCERIDES", "mmol/L", "2011-03-04")}


def test_the_oyster_test_is_refused_as_is_and_its_value_reads_positive_on_a_urine_hcg(world, app, doc_and_patient):
    _, doc, patient = doc_and_patient
    oyster = as_ours(fixture("Observation-vp-oyster"), patient["rems_patient_id"], "oyster")
    oyster["performer"] = [{"identifier": {"system": CLIA, "value": "05D1234567"}}]
    outcome = send(doc, "POST", "/Observation", oyster, 422).get_json(force=True)
    assert {e for i in outcome["issue"] for e in i["expression"]} == {"Observation.status", "Observation.code"}
    oyster.update(status="final", code={"coding": [{"system": "http://loinc.org", "code": "2106-3"}]},
                  effectiveDateTime=world.day(-1))
    send(doc, "POST", "/Observation", oyster, 201)
    [test] = doc.ok("GET", f"/patients/{patient['id']}")["pregnancy_tests"]
    assert (test["result"], test["specimen"], test["setting"]) == ("positive", "urine", "medical")


def test_an_entered_in_error_temperature_is_not_postable(app, doc_and_patient):
    _, doc, patient = doc_and_patient
    before = counts(app)
    send(doc, "POST", "/Observation", as_ours(fixture("Observation-f202"), patient["rems_patient_id"], "t"), 422)
    assert counts(app) == before


@pytest.mark.parametrize("name", ["MedicationRequest-medrx0302", "MedicationRequest-medrx0310"])
def test_other_medications_are_not_isotretinoin(world, app, doc_and_patient, name):
    prescriber, doc, patient = doc_and_patient
    pharmacy = world.pharmacy()
    rx = as_ours(fixture(name), patient["rems_patient_id"], name)
    rx["requester"] = {"identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": prescriber["npi"]}}
    rx["authoredOn"] = world.day(-1)
    rx["dispenseRequest"] = {"performer": {"identifier": {
        "system": "http://terminology.hl7.org/CodeSystem/NCPDPProviderIdentificationNumber",
        "value": pharmacy["ncpdp_id"]}}, "quantity": {"value": 6, "code": "{capsule}"},
        "expectedSupplyDuration": {"value": 5, "system": "http://unitsofmeasure.org", "code": "d"}}
    outcome = send(doc, "POST", "/MedicationRequest", rx, 422).get_json(force=True)
    assert [i["code"] for i in outcome["issue"]] == ["code-invalid"]
    assert counts(app)["prescriptions"] == 0


def test_a_patient_without_a_rems_id_is_refused(app, doc_and_patient):
    _, doc, _ = doc_and_patient
    patient = fixture("Patient-example")
    before = counts(app)
    send(doc, "POST", "", bundle(entry(patient, 0, if_none_exist="identifier=urn:oid:1.2.36.146.595.217.0.1|12345")),
         422)
    send(doc, "POST", "", bundle(entry(patient, 0)), 422)
    assert counts(app) == before


def test_a_practitioner_without_an_npi_is_refused(app, doc_and_patient):
    _, doc, _ = doc_and_patient
    practitioner = fixture("Practitioner-example")
    send(doc, "POST", "", bundle(entry(practitioner, 0, if_none_exist="identifier=http://www.acme.org/practitioners|23")),
         422)


def test_a_foreign_questionnaires_response_is_refused(app, doc_and_patient):
    prescriber, doc, patient = doc_and_patient
    response = fixture("QuestionnaireResponse-3141")
    send(doc, "POST", "/QuestionnaireResponse", response, 404)  # its subject is a contained patient
    ours = copy.deepcopy(response)
    ours["subject"] = subject(patient["rems_patient_id"])
    ours["author"] = {"identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": prescriber["npi"]}}
    outcome = send(doc, "POST", "/QuestionnaireResponse", ours, 422).get_json(force=True)
    assert "QuestionnaireResponse.questionnaire" in {e for i in outcome["issue"] for e in i["expression"]}
    assert counts(app)["attestations"] == 0


@pytest.mark.parametrize("name", [
    "MedicationDispense-meddisp0301", "MedicationDispense-meddisp0305", "MedicationDispense-meddisp0321",
    "GuidanceResponse-example", "DetectedIssue-ddi", "OperationOutcome-validationfail", "AuditEvent-example",
    "AuditEvent-example-disclosure", "AuditEvent-example-error", "AuditEvent-example-login",
    "AuditEvent-example-rest", "Bundle-bundle-response"])
def test_hl7s_examples_pass_the_r4b_models(name):
    """So that a failure on PharmSafe's own resources is PharmSafe's."""
    resource = fixture(name)
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_the_kept_examples_are_hl7s_as_published():
    """Every file the manifest lists is here with its published sha256, and nothing else is."""
    import hashlib
    import re

    from tests.fhir.conftest import FIXTURES

    listed = dict((name, digest) for digest, name in
                  re.findall(r"^([0-9a-f]{64})  (\S+)$", (FIXTURES / "MANIFEST.md").read_text(), flags=re.M))
    assert len(listed) >= 27
    assert {p.name for p in FIXTURES.glob("*.json")} == set(listed)
    for name, digest in listed.items():
        assert hashlib.sha256((FIXTURES / name).read_bytes()).hexdigest() == digest, name


def test_a_report_about_another_patient_dates_nothing_and_is_refused(app, world, doc_and_patient):
    _, doc, patient = doc_and_patient
    other = world.patient(doc)
    body = ghp_entries(patient["rems_patient_id"], with_report=True)
    body["entry"][2]["resource"]["subject"] = subject(other["rems_patient_id"])
    before = counts(app)
    outcome = send(doc, "POST", "", body, 422).get_json(force=True)
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[2].resource.subject"]
    assert counts(app) == before
    body["entry"][2]["resource"]["subject"] = subject(patient["rems_patient_id"])  # its own patient: read
    send(doc, "POST", "", body, 200)
    assert {r["collected_on"] for r in doc.ok("GET", f"/patients/{patient['id']}")["lab_results"]} == {"2015-08-16"}
