"""Lab values and upper reference limits through the API (rulebook §3, §7 item 8): a JSON number or a
string holding one; an exponent is converted once to plain notation; more than 20 significant
digits or an exponent beyond 20 either way is a 422; the gate judges what was stored."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from pharmsafe.errors import ValidationFailed
from pharmsafe.models import AuditEvent, LabResult
from pharmsafe.runtime import runtime_of
from pharmsafe.services import evidence
from tests.support import World


@pytest.fixture
def world(app, client):
    return World(app, client)


@pytest.fixture
def doc_and_patient(world):
    _, doc = world.prescriber_api()
    return doc, world.patient(doc)


def body(**over):
    return {"test": "ALT", "value": "25", "unit": "U/L", "collected_on": "2026-11-20", **over}


def stored(app, lab_id: int) -> tuple[str, str | None]:
    with runtime_of(app).session_factory() as s:
        row = s.get(LabResult, lab_id)
        return row.value, row.reference_upper


def lab_count(app) -> tuple[int, int]:
    with runtime_of(app).session_factory() as s:
        return (s.scalar(select(func.count()).select_from(LabResult)),
                s.scalar(select(func.count()).select_from(AuditEvent)))


def post_raw(doc, patient, raw: str):
    return doc.post(f"/patients/{patient['id']}/lab-results", data=raw, content_type="application/json")


def field_errors(resp, field: str) -> list[str]:
    assert resp.status_code == 422, (resp.status_code, resp.get_data(as_text=True)[:500])
    error = resp.get_json()["error"]
    assert error["code"] == "validation_error" and error["message"]
    assert field in error["fields"], error
    return error["fields"][field]


@pytest.mark.parametrize(("given", "text", "dumped"), [
    ("3E+1", "30", 30),
    ("3e1", "30", 30),
    ("1e-7", "0.0000001", 1e-7),
    ("0.0000001", "0.0000001", 1e-7),
    ("1.50E+1", "15.0", 15),
    ("5.60", "5.60", 5.6),
    (" 35 ", "35", 35),
    ("1E+7", "10000000", 10000000),
    ("1E-20", "0.00000000000000000001", 1e-20),
    ("0.12345678901234567891", "0.12345678901234567891", 0.12345678901234568),  # 20 significant digits
    ("1.2345678901234567891E+6", "1234567.8901234567891", 1234567.8901234567),
    (30, "30", 30),
    (12.5, "12.5", 12.5),
])
@pytest.mark.parametrize("field", ["value", "reference_upper"])
def test_numbers_are_stored_in_plain_notation(app, doc_and_patient, field, given, text, dumped):
    doc, patient = doc_and_patient
    created = doc.ok("POST", f"/patients/{patient['id']}/lab-results", body(**{field: given}))
    assert created[field] == dumped and isinstance(created[field], (int, float))
    value, reference_upper = stored(app, created["id"])
    assert (value if field == "value" else reference_upper) == text


@pytest.mark.parametrize(("raw", "text"), [
    ("1e-7", "0.0000001"),
    ("1E-7", "0.0000001"),
    ("3E+1", "30"),
    ("3e1", "30"),
    ("30.0", "30.0"),  # a JSON number keeps its text, as a string does ("5.60")
    ("30", "30"),
    ("0.1", "0.1"),
    ("1.0000001", "1.0000001"),  # not 1.00000010000000005838672...: never binary arithmetic
    ("1e-20", "0.00000000000000000001"),
    ("-0", "0"),
    ("-0.0", "0.0"),
    ("12.50", "12.50"),
])
def test_json_numbers_are_read_through_their_text(app, doc_and_patient, raw, text):
    doc, patient = doc_and_patient
    resp = post_raw(doc, patient, '{"test": "ALT", "unit": "U/L", "collected_on": "2026-11-20", '
                                  f'"value": {raw}, "reference_upper": {raw if raw.lstrip("-0.") else "40"}}}')
    assert resp.status_code == 201, resp.get_json()
    value, reference_upper = stored(app, resp.get_json()["id"])
    assert value == text
    if raw.lstrip("-0."):
        assert reference_upper == text


@pytest.mark.parametrize(("given", "says"), [
    ("0.123456789012345678912", "21 significant digits"),  # 21
    ("1.23456789012345678912E+6", "21 significant digits"),
    ("1.00000000000000000000", "21 significant digits"),
    ("1E-21", "exponent"),
    ("0.000000000000000000001", "exponent"),  # 1E-21 written out
    ("1E+21", "exponent"),
    ("1E+99999999999", "exponent"),
    ("1E+20", "less than or equal to 10000000"),  # within the exponent limit, beyond the range
    ("-5", "greater than"),
    ("-3E+1", "greater than"),
    ("NaN", "Not a valid number."),
    ("Infinity", "Not a valid number."),
    ("-Infinity", "Not a valid number."),
    ("1,5", "Not a valid number."),
    ("1_000", "Not a valid number."),
    ("\u0663\u0660", "Not a valid number."),
    ("+30", "Not a valid number."),
    ("30 U/L", "Not a valid number."),
    ("", "Not a valid number."),
    ("0x1E", "Not a valid number."),
    (True, "Not a valid number."),
    ([30], "Not a valid number."),
    ({"value": 30}, "Not a valid number."),
])
@pytest.mark.parametrize("field", ["value", "reference_upper"])
def test_refused_numbers(app, doc_and_patient, field, given, says):
    doc, patient = doc_and_patient
    before = lab_count(app)
    messages = field_errors(doc.post(f"/patients/{patient['id']}/lab-results", json=body(**{field: given})), field)
    assert any(says in m for m in messages), messages
    assert lab_count(app) == before


def raw_body(field: str, raw: str) -> str:
    fields = {k: v for k, v in body().items() if k != field}
    return json.dumps(fields)[:-1] + f', "{field}": {raw}}}'


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "-5", "-3E+1", "true",
                                 "1E+21", "1e-21", "123456789012345678912"])
@pytest.mark.parametrize("field", ["value", "reference_upper"])
def test_refused_json_numbers(app, doc_and_patient, field, raw):
    doc, patient = doc_and_patient
    before = lab_count(app)
    field_errors(post_raw(doc, patient, raw_body(field, raw)), field)
    assert lab_count(app) == before


@pytest.mark.parametrize("raw", ["1e-400", "0.123456789012345678912"])
def test_json_numbers_beyond_float_precision_are_refused(app, doc_and_patient, raw):
    doc, patient = doc_and_patient
    field_errors(post_raw(doc, patient, raw_body("value", raw)), "value")


def test_zero_reference_upper_is_refused(app, doc_and_patient):
    doc, patient = doc_and_patient
    for zero in (0, "0", "0E+5", "0.000"):
        messages = field_errors(doc.post(f"/patients/{patient['id']}/lab-results",
                                         json=body(reference_upper=zero)), "reference_upper")
        assert any("greater than 0" in m for m in messages)


def test_the_error_shape(doc_and_patient):
    doc, patient = doc_and_patient
    resp = doc.post(f"/patients/{patient['id']}/lab-results", json=body(reference_upper="1E+21"))
    assert resp.status_code == 422
    payload = resp.get_json()
    assert set(payload) == {"error"}
    assert payload["error"]["code"] == "validation_error"
    assert isinstance(payload["error"]["message"], str)
    assert list(payload["error"]["fields"]) == ["reference_upper"]


def _service_ctx(app):
    ext = runtime_of(app)
    session = ext.session_factory()
    return session, ext.ctx(session, "system:test")


@pytest.mark.parametrize(("value", "reference_upper", "texts"), [
    (Decimal("1E-7"), Decimal("3E+1"), ("0.0000001", "30")),
    ("1e-7", "3E+1", ("0.0000001", "30")),
    (Decimal("25"), None, ("25", None)),
    ("25", None, ("25", None)),
    (Decimal("5.60"), "40.0", ("5.60", "40.0")),
])
def test_the_service_stores_plain_notation(app, doc_and_patient, value, reference_upper, texts):
    _, patient = doc_and_patient
    session, ctx = _service_ctx(app)
    with session:
        row = evidence.record_lab_result(ctx, patient["id"], {
            "test": "ALT", "value": value, "unit": "U/L", "collected_on": ctx.now.date(),
            "reference_upper": reference_upper})
        assert (row.value, row.reference_upper) == texts
        session.rollback()


@pytest.mark.parametrize(("field", "bad"), [
    ("value", "1E+21"), ("value", Decimal("1E-21")), ("value", "abc"), ("value", Decimal("NaN")),
    ("value", Decimal("-1")), ("value", "-1"),
    ("reference_upper", "0"), ("reference_upper", Decimal("0.123456789012345678912")), ("reference_upper", "x"),
    ("reference_upper", Decimal("-30")),
])
def test_the_service_refuses_what_it_could_not_read_back(app, doc_and_patient, field, bad):
    _, patient = doc_and_patient
    session, ctx = _service_ctx(app)
    data = {"test": "ALT", "value": Decimal("25"), "unit": "U/L", "collected_on": ctx.now.date(),
            "reference_upper": None, field: bad}
    with session:
        with pytest.raises(ValidationFailed) as raised:
            evidence.record_lab_result(ctx, patient["id"], data)
        assert list(raised.value.fields) == [field]
        session.rollback()


def _evaluate_with_alt(world, alt: dict) -> dict:
    pharmacy, rph = world.pharmacist_api()
    _, doc = world.prescriber_api()
    patient = world.patient(doc, can_get_pregnant=False)
    world.ready_evidence(doc, patient, lab_day=-6)
    doc.ok("POST", f"/patients/{patient['id']}/lab-results",
           {"test": "ALT", "unit": "U/L", "collected_on": world.day(-5), **alt})
    rx = world.prescription(doc, patient, pharmacy)
    return rph.ok("POST", f"/prescriptions/{rx['id']}/evaluations")


def test_an_exponent_reference_limit_fails_alt_at_three_times_it(world):
    """ALT 100 against "3E+1" (30 U/L) is 3.3x the limit: the labs gate fails, the prescription is
    blocked. Read as the default 40 U/L it would have been a warning."""
    decision = _evaluate_with_alt(world, {"value": 100, "reference_upper": "3E+1"})
    labs = next(g for g in decision["gates"] if g["gate"] == "labs")
    assert (labs["status"], labs["code"]) == ("fail", "ALT_CRITICAL"), labs
    assert "(30 U/L)" in labs["message"] and "90 U/L" in labs["unblock"]
    assert decision["outcome"] == "blocked" and decision["authorization"] is None


def test_an_absent_reference_limit_is_the_default(world):
    decision = _evaluate_with_alt(world, {"value": 100})
    labs = next(g for g in decision["gates"] if g["gate"] == "labs")
    assert (labs["status"], labs["code"]) == ("warn", "ALT_ELEVATED"), labs
    assert "(40 U/L)" in labs["message"]


def test_a_tiny_value_in_exponent_form_is_judged_not_blocked(world):
    decision = _evaluate_with_alt(world, {"value": "1e-7", "reference_upper": 35})
    labs = next(g for g in decision["gates"] if g["gate"] == "labs")
    assert labs["status"] == "pass", labs
    assert decision["outcome"] == "authorized"


@pytest.mark.parametrize("field", ["value", "reference_upper"])
@pytest.mark.parametrize(("given", "plain"), [
    ("1.234567890123456789E-20", "0.00000000000000000001234567890123456789"),  # 40 characters
    ("1.2345678901234567891E-20", "0.000000000000000000012345678901234567891"),  # 41 characters
])
def test_the_longest_plain_notation_is_stored_whole_or_refused_never_cut(app, doc_and_patient, field, given, plain):
    """20 significant digits at exponent -20 take 41 characters in plain notation: stored whole when
    the column holds them, otherwise a 422 on the field, never a database error on any engine."""
    doc, patient = doc_and_patient
    capacity = LabResult.__table__.c[field].type.length
    resp = doc.post(f"/patients/{patient['id']}/lab-results", json=body(**{field: given}))
    if capacity is None or len(plain) <= capacity:
        assert resp.status_code == 201, resp.get_json()
        assert stored(app, resp.get_json()["id"])[0 if field == "value" else 1] == plain
    else:
        assert any(f"{capacity} characters" in m for m in field_errors(resp, field))
