"""The prescriber's pages: lists with status and gate results, and every form with good and bad
input (field messages, typed values kept, nothing written on refusal)."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from pharmsafe.models import Attestation, Authorization, LabResult, Patient, PregnancyTest, Prescription
from pharmsafe.runtime import runtime_of
from tests.web.conftest import field_error, input_value, text


@pytest.fixture
def doctor(seed):
    prescriber = seed.prescriber()
    return {"prescriber": prescriber, "email": seed.user("prescriber", prescriber_id=prescriber),
            "pharmacy": seed.pharmacy()}


@pytest.fixture
def doc(doctor, signed_in):
    return signed_in(doctor["email"])


@pytest.fixture
def patient(seed, doctor):
    return seed.patient(doctor["prescriber"])


def patient_page(pid: int) -> str:
    return f"/prescriber/patients/{pid}"


def checked(resp, name: str, value: str) -> bool:
    return bool(re.search(rf'name="{name}" value="{re.escape(value)}"\s*checked', resp.get_data(as_text=True)))


def test_home_lists_patients_and_prescriptions_with_status_and_gate_results(seed, doctor, doc):
    patient = seed.patient(doctor["prescriber"])
    seed.ready_evidence(patient, test_day=-8)
    rx = seed.prescription(doctor["prescriber"], patient, doctor["pharmacy"])
    seed.evaluate(rx)
    resp = doc.get("/prescriber/")
    html, body = resp.get_data(as_text=True), text(resp)
    assert resp.status_code == 200 and '<a class="button-link" href="/prescriber/patients/new">New patient</a>' in html
    assert f'href="{patient_page(patient)}"' in html
    assert f'href="/prescriber/prescriptions/{rx}"' in html
    assert "Blocked" in body and "Fail: Pregnancy test" in body
    detail = doc.get(f"/prescriber/prescriptions/{rx}")
    assert 'data-outcome="blocked"' in detail.get_data(as_text=True)
    assert 'data-gate="pregnancy_test" data-status="fail"' in detail.get_data(as_text=True)
    assert "To unblock:" in text(detail)


def test_new_patient_form_has_labels_for_every_field(doc):
    html = doc.get("/prescriber/patients/new").get_data(as_text=True)
    for fid, label in (("f-first-name", "First name"), ("f-last-name", "Last name"), ("f-date-of-birth", "Date of birth"),
                       ("f-enrolled-on", "Enrolled on"), ("f-can-get-pregnant-1", "Can get pregnant"),
                       ("f-can-get-pregnant-2", "Cannot get pregnant"),
                       ("f-home-pregnancy-tests-allowed", "Home pregnancy tests allowed")):
        assert f'<label for="{fid}">{label}' in html, fid
    assert "<legend>Pregnancy-capability category</legend>" in html
    ids = re.findall(r'<(?:input|select)[^>]* id="([^"]+)"', html)
    labels = set(re.findall(r'<label for="([^"]+)"', html))
    assert ids and set(ids) <= labels


def test_new_patient_with_bad_input_shows_field_messages_and_keeps_what_was_typed(doc, count):
    resp = doc.submit("/prescriber/patients/new", {
        "first_name": "Zoë <b>", "last_name": "", "date_of_birth": "2030-01-01", "rems_patient_id": "IPL-9",
        "enrolled_on": "not a date", "home_pregnancy_tests_allowed": "yes"})
    assert resp.status_code == 422
    assert field_error(resp, "f-last-name") == "This field is required."
    assert field_error(resp, "f-date-of-birth") == "" or "future" in field_error(resp, "f-date-of-birth")
    assert field_error(resp, "f-enrolled-on") == "Not a valid date."
    assert field_error(resp, "f-can-get-pregnant") == "This field is required."
    assert input_value(resp, "first_name") == "Zoë <b>" and input_value(resp, "rems_patient_id") == "IPL-9"
    assert "Zoë &lt;b&gt;" in resp.get_data(as_text=True)
    assert checked(resp, "home_pregnancy_tests_allowed", "yes")
    assert count(Patient) == 0


def test_a_future_date_of_birth_is_refused_by_the_service_check(doc, count):
    resp = doc.submit("/prescriber/patients/new", {
        "first_name": "Ana", "last_name": "Lee", "date_of_birth": "2030-01-01", "can_get_pregnant": "no",
        "rems_patient_id": "IPL-1", "enrolled_on": "2026-10-01"})
    assert resp.status_code == 422
    assert field_error(resp, "f-date-of-birth") == "May not be in the future (today is 2026-11-26)."
    assert checked(resp, "can_get_pregnant", "no")
    assert count(Patient) == 0


def test_new_patient_is_registered_for_this_prescriber(doctor, doc, app):
    resp = doc.submit("/prescriber/patients/new", {
        "first_name": "Ana", "last_name": "Lee", "date_of_birth": "2001-02-03", "can_get_pregnant": "yes",
        "rems_patient_id": "IPL-1", "enrolled_on": "2026-10-01", "home_pregnancy_tests_allowed": "yes"})
    assert resp.status_code == 303
    with runtime_of(app).session_factory() as s:
        patient = s.query(Patient).one()
    assert resp.headers["Location"] == patient_page(patient.id)
    assert patient.prescriber_id == doctor["prescriber"] and patient.can_get_pregnant
    assert patient.home_pregnancy_tests_allowed
    page = doc.get(patient_page(patient.id))
    assert "Patient registered." in text(page) and "Ana Lee" in text(page)


@pytest.mark.parametrize("data,errors", [
    ({"specimen_collected_on": "2026-11-20", "result": "negative", "specimen": "serum", "setting": "home",
      "clia_number": "05D1234567"},
     {"f-specimen": "A home test is a urine test.", "f-clia-number": "A home test has no CLIA number."}),
    ({"specimen_collected_on": "2026-11-30", "result": "negative", "specimen": "urine", "setting": "medical"},
     {"f-specimen-collected-on": "May not be in the future (today is 2026-11-26)."}),
    ({"specimen_collected_on": "", "result": "maybe", "specimen": "urine", "setting": "medical", "clia_number": "123"},
     {"f-specimen-collected-on": "This field is required.", "f-result": "Must be one of: negative, positive.",
      "f-clia-number": "Must be 2 digits, D, 7 digits (for example 05D1234567)."}),
])
def test_pregnancy_test_form_refuses_bad_input(doc, patient, count, data, errors):
    resp = doc.submit(f"{patient_page(patient)}/pregnancy-tests/new", data)
    assert resp.status_code == 422
    for fid, message in errors.items():
        assert field_error(resp, fid) == message, fid
    if data.get("clia_number"):
        assert input_value(resp, "clia_number") == data["clia_number"]
    assert count(PregnancyTest) == 0


def test_pregnancy_test_is_recorded(doc, patient, count):
    resp = doc.submit(f"{patient_page(patient)}/pregnancy-tests/new", {
        "specimen_collected_on": "2026-11-25", "result": "negative", "specimen": "serum", "setting": "medical",
        "clia_number": "05D1234567"})
    assert resp.status_code == 303 and resp.headers["Location"] == patient_page(patient)
    assert count(PregnancyTest) == 1
    page = text(doc.get(patient_page(patient)))
    assert "Pregnancy test recorded." in page and "05D1234567" in page


@pytest.mark.parametrize("data,errors", [
    ({"test": "ALT", "value": "abc", "unit": "U/L", "collected_on": "2026-11-20"}, {"f-value": "Not a valid number."}),
    ({"test": "XYZ", "value": "10", "unit": "", "collected_on": "2026-11-20"},
     {"f-test": "Unknown test: use ALT, AST, TRIGLYCERIDES, TOTAL_CHOLESTEROL, LDL or a LOINC code.",
      "f-unit": "This field is required."}),
    ({"test": "ALT", "value": "-3", "unit": "U/L", "collected_on": "2026-11-20", "reference_upper": "0"},
     {"f-value": "Must be greater than or equal to 0 and less than or equal to 10000000.",
      "f-reference-upper": "Must be greater than 0 and less than or equal to 10000000."}),
])
def test_lab_result_form_refuses_bad_input(doc, patient, count, data, errors):
    resp = doc.submit(f"{patient_page(patient)}/lab-results/new", data)
    assert resp.status_code == 422
    for fid, message in errors.items():
        assert field_error(resp, fid) == message, fid
    assert input_value(resp, "value") == data["value"]
    assert count(LabResult) == 0


def test_lab_result_is_recorded_with_its_unit(doc, patient, app):
    resp = doc.submit(f"{patient_page(patient)}/lab-results/new", {
        "test": "TRIGLYCERIDES", "value": "1.7", "unit": "mmol/L", "collected_on": "2026-11-20"})
    assert resp.status_code == 303
    with runtime_of(app).session_factory() as s:
        row = s.query(LabResult).one()
    assert (row.test, row.value, row.unit, row.loinc) == ("TRIGLYCERIDES", "1.7", "mmol/L", "2571-8")
    assert "1.7 mmol/L" in text(doc.get(patient_page(patient)))


def test_lab_form_offers_units(doc, patient):
    html = doc.get(f"{patient_page(patient)}/lab-results/new").get_data(as_text=True)
    for unit in ("U/L", "IU/L", "mg/dL", "mmol/L"):
        assert f'<option value="{unit}">{unit}</option>' in html
    assert '<label for="f-unit">Unit</label>' in html


def test_attestation_form_lists_method_codes_with_readable_names(doc, patient):
    html = doc.get(f"{patient_page(patient)}/attestations/new").get_data(as_text=True)
    assert '<label for="f-methods-iud">Intrauterine device (IUD) <code>iud</code></label>' in html
    assert '<label for="f-methods-male_condom">Male condom <code>male_condom</code></label>' in html
    assert "Highly effective (primary)" in html


@pytest.mark.parametrize("data,message", [
    ({"kind": "contraception", "attested_on": "2026-11-25"}, "A contraception attestation lists its methods."),
    ({"kind": "counseling", "attested_on": "2026-11-25", "methods": ["iud"]},
     "Only a contraception attestation lists methods."),
    ({"kind": "contraception", "attested_on": "2026-11-25", "methods": ["iud", "prayer"]}, "Unknown method code(s): prayer."),
])
def test_attestation_form_refuses_bad_methods_and_keeps_the_ticks(doc, patient, count, data, message):
    resp = doc.submit(f"{patient_page(patient)}/attestations/new", data)
    assert resp.status_code == 422
    assert field_error(resp, "f-methods").startswith(message)
    for code in data.get("methods", []):
        if code == "iud":
            assert checked(resp, "methods", "iud")
    assert count(Attestation) == 0


def test_attestation_is_recorded_and_shown_with_method_names(doc, patient, count):
    resp = doc.submit(f"{patient_page(patient)}/attestations/new", {
        "kind": "contraception", "attested_on": "2026-11-25", "methods": ["hormonal_pill", "male_condom"]})
    assert resp.status_code == 303 and count(Attestation) == 1
    assert "Hormonal pill, Male condom" in text(doc.get(patient_page(patient)))


def test_entered_in_error_needs_a_reason_then_reverses_what_cited_it(seed, doctor, doc, count, app):
    patient = seed.patient(doctor["prescriber"])
    seed.ready_evidence(patient)
    rx = seed.prescription(doctor["prescriber"], patient, doctor["pharmacy"])
    assert seed.evaluate(rx) is not None
    with runtime_of(app).session_factory() as s:
        test_id = max(t.id for t in s.query(PregnancyTest).filter_by(patient_id=patient))
    path = f"{patient_page(patient)}/pregnancy-tests/{test_id}/entered-in-error"
    assert f'href="{path}"' in doc.get(patient_page(patient)).get_data(as_text=True)
    refused = doc.submit(path, {"reason": ""})
    assert refused.status_code == 422 and field_error(refused, "f-reason") == "This field is required."
    assert count(Authorization, Authorization.status == "active") == 1
    done = doc.submit(path, {"reason": "Wrong patient's sample"})
    assert done.status_code == 303
    assert count(Authorization, Authorization.status == "reversed") == 1
    page = text(doc.get(patient_page(patient)))
    assert "Entered in error Wrong patient's sample" in page
    assert "Already marked entered-in-error" in text(doc.get(path))


def test_new_prescription_refuses_bad_input_and_keeps_it(seed, doctor, doc, patient, count):
    others = seed.patient(seed.prescriber())
    resp = doc.submit("/prescriber/prescriptions/new", {
        "patient_id": str(others), "pharmacy_id": str(doctor["pharmacy"]), "drug": "aspirin", "ndc": "",
        "strength_mg": "twenty", "quantity": "60", "days_supply": "1.5", "refills": "", "written_on": "2026-11-25",
        "first_of_course": ""}, page="/prescriber/prescriptions/new")
    assert resp.status_code == 422
    assert field_error(resp, "f-strength-mg") == "Not a valid number."
    assert field_error(resp, "f-days-supply") == "Not a valid integer."
    assert field_error(resp, "f-refills") == "This field is required."
    assert input_value(resp, "drug") == "aspirin" and input_value(resp, "strength_mg") == "twenty"
    # Fields the schema accepts are then checked by the service, with the same messages as the API.
    resp = doc.submit("/prescriber/prescriptions/new", {
        "patient_id": str(others), "pharmacy_id": str(doctor["pharmacy"]), "drug": "aspirin", "strength_mg": "20",
        "quantity": "60", "days_supply": "30", "refills": "0", "written_on": "2026-11-25"})
    assert resp.status_code == 422
    assert field_error(resp, "f-patient-id") == "No patient of this prescriber has this id."
    assert field_error(resp, "f-drug").startswith("PharmSafe handles isotretinoin only")
    assert count(Prescription) == 0


def test_new_prescription_is_submitted_to_the_pharmacy(doctor, doc, patient, app):
    form = doc.get(f"/prescriber/prescriptions/new?patient_id={patient}")
    assert re.search(rf'<option value="{patient}"\s+selected>', form.get_data(as_text=True))
    resp = doc.submit("/prescriber/prescriptions/new", {
        "patient_id": str(patient), "pharmacy_id": str(doctor["pharmacy"]), "drug": "isotretinoin",
        "ndc": "0591-2434-15", "strength_mg": "20", "quantity": "60", "days_supply": "30", "refills": "0",
        "written_on": "2026-11-25", "first_of_course": "yes"})
    assert resp.status_code == 303
    with runtime_of(app).session_factory() as s:
        rx = s.query(Prescription).one()
    assert resp.headers["Location"] == f"/prescriber/prescriptions/{rx.id}"
    assert (rx.pharmacy_id, rx.status, rx.first_of_course) == (doctor["pharmacy"], "submitted", True)
    page = doc.get(resp.headers["Location"])
    assert 'data-outcome="submitted"' in page.get_data(as_text=True)
    assert "The pharmacy has not evaluated it yet." in text(page)


def test_another_prescribers_patient_and_prescription_are_403(seed, doc, doctor):
    scene = seed.scene()
    assert doc.get(patient_page(scene["patient"])).status_code == 403
    assert doc.get(f"{patient_page(scene['patient'])}/lab-results/new").status_code == 403
    assert doc.get(f"/prescriber/prescriptions/{scene['rx']}").status_code == 403
    assert doc.get(patient_page(999999)).status_code == 404
    assert doc.get(f"{patient_page(scene['patient'])}/lab-results/1/entered-in-error").status_code == 403


def test_the_attestation_form_offers_the_clearance_with_a_note(doc, patient):
    html = doc.get(f"{patient_page(patient)}/attestations/new").get_data(as_text=True)
    assert '<option value="pregnancy_excluded">Pregnancy excluded (clears a positive pregnancy test)</option>' in html
    assert '<label for="f-note">Note <span class="optional">(optional)</span></label>' in html
    assert re.search(r'<textarea id="f-note" name="note" rows="4" aria-describedby="f-note-hint" maxlength="500">',
                     html)
    # A kind the form does not know is not preselected.
    other = doc.get(f"{patient_page(patient)}/attestations/new?kind=bogus").get_data(as_text=True)
    assert not re.search(r'<option value="[a-z_]+"\s+selected>', other)


def test_a_clearance_is_recorded_with_its_note(doc, patient, app):
    resp = doc.submit(f"{patient_page(patient)}/attestations/new", {
        "kind": "pregnancy_excluded", "attested_on": "2026-11-26", "note": "  Serum hCG negative (quantitative)  "})
    assert resp.status_code == 303
    with runtime_of(app).session_factory() as s:
        row = s.query(Attestation).one()
    assert (row.kind, row.note, row.methods) == ("pregnancy_excluded", "Serum hCG negative (quantitative)", [])
    assert "Serum hCG negative (quantitative)" in text(doc.get(patient_page(patient)))


def edit_page(pid: int) -> str:
    return f"/prescriber/patients/{pid}/edit"


def patient_fields(resp) -> dict:
    return {name: input_value(resp, name) for name in ("first_name", "last_name", "date_of_birth", "rems_patient_id",
                                                         "enrolled_on")}


def test_the_edit_form_shows_the_patient_as_recorded_with_the_status(seed, doctor, doc, patient):
    page = doc.get(patient_page(patient))
    assert f'href="{edit_page(patient)}">Edit patient</a>' in page.get_data(as_text=True)
    assert "Status Active" in text(page)
    resp = doc.get(edit_page(patient))
    assert resp.status_code == 200
    fields = patient_fields(resp)
    assert fields["first_name"] == "Mia" and fields["enrolled_on"] == "2026-09-27"
    assert checked(resp, "can_get_pregnant", "yes") and checked(resp, "status", "active")
    assert not checked(resp, "home_pregnancy_tests_allowed", "yes")
    html = resp.get_data(as_text=True)
    assert "<legend>Status</legend>" in html and ">Save patient</button>" in html
    assert re.search(r'<label for="f-status-2">Deactivated</label>', html)


def form_of(resp) -> dict:
    data = {k: v for k, v in patient_fields(resp).items()}
    data["can_get_pregnant"] = "yes" if checked(resp, "can_get_pregnant", "yes") else "no"
    if checked(resp, "home_pregnancy_tests_allowed", "yes"):
        data["home_pregnancy_tests_allowed"] = "yes"
    data["status"] = "active" if checked(resp, "status", "active") else "deactivated"
    return data


def test_deactivating_reverses_the_authorizations_and_reactivating_allows_again(seed, doctor, doc, count, app,
                                                                               signed_in):
    patient = seed.patient(doctor["prescriber"])
    seed.ready_evidence(patient)
    rx = seed.prescription(doctor["prescriber"], patient, doctor["pharmacy"])
    auth = seed.evaluate(rx)
    data = form_of(doc.get(edit_page(patient)))
    resp = doc.submit(edit_page(patient), {**data, "status": "deactivated"})
    assert resp.status_code == 303 and resp.headers["Location"] == patient_page(patient)
    page = doc.get(patient_page(patient))
    body = text(page)
    assert "Patient deactivated" in body
    assert (f"This change reversed 1 authorization: #{auth} (prescription #{rx}, reason: patient_deactivated)."
            in body)
    assert 'data-patient-status="deactivated"' in page.get_data(as_text=True) and "Status Deactivated" in body
    assert count(Authorization, Authorization.status == "active") == 0
    assert "Deactivated" in text(doc.get("/prescriber/"))
    rph = signed_in(seed.user("pharmacist", pharmacy_id=doctor["pharmacy"]))
    rx_page = rph.get(f"/pharmacist/prescriptions/{rx}")
    assert "Status Deactivated" in text(rx_page) and 'data-outcome="reversed"' in rx_page.get_data(as_text=True)
    with runtime_of(app).session_factory() as s:
        assert s.get(Patient, patient).status == "deactivated"
    # Reactivated: the status is back, and nothing else changed.
    again = doc.submit(edit_page(patient), {**data, "status": "active"})
    assert again.status_code == 303
    body = text(doc.get(patient_page(patient)))
    assert "Patient reactivated" in body and "Status Active" in body and "reversed" not in body
    with runtime_of(app).session_factory() as s:
        row = s.get(Patient, patient)
        assert (row.status, row.first_name, row.can_get_pregnant) == ("active", "Mia", True)


def test_saving_unchanged_reverses_nothing(seed, doctor, doc, count):
    patient = seed.patient(doctor["prescriber"])
    seed.ready_evidence(patient)
    seed.evaluate(seed.prescription(doctor["prescriber"], patient, doctor["pharmacy"]))
    resp = doc.submit(edit_page(patient), form_of(doc.get(edit_page(patient))))
    assert resp.status_code == 303
    assert "Patient saved." in text(doc.get(patient_page(patient)))
    assert count(Authorization, Authorization.status == "active") == 1


def test_the_edit_form_refuses_bad_input_and_keeps_it(doc, patient, app):
    data = form_of(doc.get(edit_page(patient)))
    resp = doc.submit(edit_page(patient), {**data, "last_name": "", "enrolled_on": "2030-01-01", "status": "paused",
                                           "first_name": "Zoë <i>"})
    assert resp.status_code == 422
    assert field_error(resp, "f-last-name") == "This field is required."
    assert field_error(resp, "f-status") == "Must be one of: active, deactivated."
    assert input_value(resp, "first_name") == "Zoë <i>" and input_value(resp, "enrolled_on") == "2030-01-01"
    assert "Zoë &lt;i&gt;" in resp.get_data(as_text=True)
    with runtime_of(app).session_factory() as s:
        assert (s.get(Patient, patient).first_name, s.get(Patient, patient).status) == ("Mia", "active")
    future = doc.submit(edit_page(patient), {**data, "enrolled_on": "2030-01-01"})
    assert future.status_code == 422
    assert field_error(future, "f-enrolled-on") == "May not be in the future (today is 2026-11-26)."


def test_another_prescribers_patient_cannot_be_edited(seed, doc):
    scene = seed.scene()
    assert doc.get(edit_page(scene["patient"])).status_code == 403
    token = doc.csrf_token("/prescriber/patients/new")
    resp = doc.client.post(edit_page(scene["patient"]), data={"status": "deactivated", "csrf_token": token})
    assert resp.status_code == 403


def test_recording_what_was_missing_moves_the_blocked_prescription_and_says_so(seed, doctor, doc, signed_in):
    patient = seed.patient(doctor["prescriber"])
    seed.ready_evidence(patient, test_day=-8)
    rx = seed.prescription(doctor["prescriber"], patient, doctor["pharmacy"])
    assert seed.evaluate(rx) is None  # blocked: the confirmatory test is 8 days old
    resp = doc.submit(f"{patient_page(patient)}/pregnancy-tests/new", {
        "specimen_collected_on": seed.day(0).isoformat(), "result": "negative", "specimen": "serum",
        "setting": "medical", "clia_number": "05D1234567"})
    assert resp.status_code == 303
    page = text(doc.get(patient_page(patient)))
    assert f"Evaluated again with it: prescription #{rx} is now authorized: the pharmacy can dispense it." in page
    shown = text(doc.get(f"/prescriber/prescriptions/{rx}"))
    assert re.search(r"automatically when Pregnancy test #\d+ was recorded, under ipledge", shown), shown
    rph = signed_in(seed.user("pharmacist", pharmacy_id=doctor["pharmacy"]))
    pharmacist_page = rph.get(f"/pharmacist/prescriptions/{rx}")
    assert 'data-outcome="authorized"' in pharmacist_page.get_data(as_text=True)
    assert "by system:reevaluation, automatically when Pregnancy test #" in text(pharmacist_page)


def readiness(resp) -> dict[str, str]:
    section = re.search(r'<section class="readiness.*?</section>', resp.get_data(as_text=True), flags=re.S)
    assert section, "no readiness check on the page"
    return dict(re.findall(r'<li data-gate="([a-z_]+)" data-status="([a-z_]+)"', section.group(0)))


def test_a_readiness_check_before_sending_runs_the_gates_and_stores_nothing_but_the_check(
        seed, doctor, doc, count, app):
    from pharmsafe.models import AuditEvent, Decision
    patient = seed.patient(doctor["prescriber"])
    seed.ready_evidence(patient, test_day=-8)
    before = (count(Prescription), count(Decision))
    draft = {"patient_id": str(patient), "pharmacy_id": str(doctor["pharmacy"]), "drug": "isotretinoin",
             "ndc": "0591-2434-15", "strength_mg": "20", "quantity": "60", "days_supply": "30", "refills": "0",
             "written_on": seed.day(0).isoformat(), "first_of_course": ""}
    resp = doc.submit("/prescriber/prescriptions/new", {**draft, "intent": "check"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'data-readiness="missing"' in html
    assert readiness(resp) == {"pregnancy_test": "fail"}
    assert f'href="/prescriber/patients/{patient}/pregnancy-tests/new" data-supplies="pregnancy_test"' in html
    assert input_value(resp, "days_supply") == "30"  # the form keeps what was typed
    assert (count(Prescription), count(Decision)) == before
    with runtime_of(app).session_factory() as s:
        check = s.query(AuditEvent).filter_by(action="check.performed").one()
    assert check.subject == f"patient:{patient}" and '"kind":"readiness"' in check.payload.replace(" ", "")

    # A refused draft is a refused form: field messages, no check.
    bad = doc.submit("/prescriber/prescriptions/new", {**draft, "days_supply": "x", "intent": "check"})
    assert bad.status_code == 422 and "data-readiness" not in bad.get_data(as_text=True)
    assert count(AuditEvent, AuditEvent.action == "check.performed") == 1

    # Sent once the test is recorded: the check after sending is ready, shown again from its event.
    seed.pregnancy_test(patient, 0)
    sent = doc.submit("/prescriber/prescriptions/new", draft)
    assert sent.status_code == 303
    page = sent.headers["Location"]
    checked = doc.submit(f"{page}/readiness", page=page)
    assert checked.status_code == 303 and "?check=" in checked.headers["Location"]
    shown = doc.get(checked.headers["Location"])
    assert 'data-readiness="ready"' in shown.get_data(as_text=True) and readiness(shown) == {}
    assert count(Decision) == before[1] and count(AuditEvent, AuditEvent.action == "check.performed") == 2


def test_a_check_before_sending_counts_the_patients_earlier_dispenses_here(seed, doctor, doc, app):
    """A draft has no id yet: its check must still see the patient's dispenses at this pharmacy, and
    answer what the evaluation of the same prescription answers once it is sent."""
    from pharmsafe.models import Decision
    patient = seed.patient(doctor["prescriber"])
    seed.ready_evidence(patient)
    first = seed.prescription(doctor["prescriber"], patient, doctor["pharmacy"])
    seed.dispense(seed.evaluate(first), "RMA-EARLIER-1")
    draft = {"patient_id": str(patient), "pharmacy_id": str(doctor["pharmacy"]), "drug": "isotretinoin",
             "ndc": "0591-2434-15", "strength_mg": "20", "quantity": "60", "days_supply": "30", "refills": "0",
             "written_on": seed.day(0).isoformat(), "first_of_course": ""}
    checked = readiness(doc.submit("/prescriber/prescriptions/new", {**draft, "intent": "check"}))
    assert checked, "a second prescription the day after a 30-day dispense is not ready"
    sent = doc.submit("/prescriber/prescriptions/new", draft)
    rx = int(sent.headers["Location"].rsplit("/", 1)[1])
    assert seed.evaluate(rx) is None
    with runtime_of(app).session_factory() as s:
        decision = s.scalars(select(Decision).where(Decision.prescription_id == rx)).one()
        failing = {g["gate"]: g["status"] for g in decision.gates if g["status"] in ("fail", "warn")}
    assert checked == failing


def test_a_check_is_shown_only_to_who_ran_it_on_that_prescription(seed, doctor, doc, signed_in):
    patient = seed.patient(doctor["prescriber"])
    seed.ready_evidence(patient)
    rx = seed.prescription(doctor["prescriber"], patient, doctor["pharmacy"])
    other = seed.prescription(doctor["prescriber"], patient, doctor["pharmacy"])
    location = doc.submit(f"/prescriber/prescriptions/{rx}/readiness", page=f"/prescriber/prescriptions/{rx}")
    check = location.headers["Location"].rsplit("=", 1)[1]
    assert doc.get(f"/prescriber/prescriptions/{other}?check={check}").status_code == 404
    assert doc.get(f"/prescriber/prescriptions/{rx}?check=abc").status_code == 400
    colleague = signed_in(seed.user("prescriber", prescriber_id=doctor["prescriber"]))
    assert colleague.get(f"/prescriber/prescriptions/{rx}?check={check}").status_code == 404


VISIT = {"test_collected_on": "2026-11-26", "test_result": "negative", "test_specimen": "serum",
         "test_setting": "medical", "test_clia": "05D1234567", "labs_collected_on": "2026-11-25",
         "alt_value": "25", "alt_unit": "U/L", "ast_value": "22", "ast_unit": "U/L", "tg_value": "150",
         "tg_unit": "mg/dL", "tc_value": "180", "tc_unit": "mg/dL", "ldl_value": "", "ldl_unit": "mg/dL",
         "attested_on": "2026-11-26", "contraception": "yes", "methods": ["iud", "male_condom"],
         "comprehension": "yes", "counseling": "yes"}


def test_a_visit_records_the_test_the_labs_and_the_attestations_on_one_page(seed, doctor, doc, count):
    patient = seed.patient(doctor["prescriber"])
    seed.pregnancy_test(patient, -30)  # the screening test of the course
    rx = seed.prescription(doctor["prescriber"], patient, doctor["pharmacy"])
    assert seed.evaluate(rx) is None  # blocked: nothing current yet
    visit = f"{patient_page(patient)}/visit"
    assert "Record a visit" in text(doc.get(patient_page(patient)))
    resp = doc.submit(visit, VISIT)
    assert resp.status_code == 303, text(resp)[:500]
    assert (count(PregnancyTest), count(LabResult), count(Attestation)) == (2, 4, 3)
    page = text(doc.get(patient_page(patient)))
    assert "Visit recorded: 1 pregnancy test, 4 lab results, 3 attestations." in page
    assert f"prescription #{rx} is now authorized" in page


def test_a_visit_with_one_bad_field_records_nothing_and_keeps_what_was_typed(seed, doctor, doc, count):
    patient = seed.patient(doctor["prescriber"])
    visit = f"{patient_page(patient)}/visit"
    resp = doc.submit(visit, {**VISIT, "tg_value": "lots", "attested_on": "2026-11-27"})  # and tomorrow
    assert resp.status_code == 422
    assert field_error(resp, "f-tg-value") == "Not a valid number."
    assert input_value(resp, "alt_value") == "25" and input_value(resp, "test_clia") == "05D1234567"
    assert (count(PregnancyTest), count(LabResult), count(Attestation)) == (0, 0, 0)
    # Each record fine on its own but one refused by the service (a date in the future): still nothing.
    later = doc.submit(visit, {**VISIT, "attested_on": "2026-11-27"})
    assert later.status_code == 422 and "Nothing was recorded" in text(later)
    assert (count(PregnancyTest), count(LabResult), count(Attestation)) == (0, 0, 0)
    empty = doc.submit(visit, {"labs_collected_on": "2026-11-25"})
    assert empty.status_code == 422 and "Fill in at least one part of the visit" in text(empty)
