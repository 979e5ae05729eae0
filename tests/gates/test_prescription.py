"""The prescription gate (rulebook §4; §2 windows and early refill)."""
from decimal import Decimal

import pytest

from pharmsafe.gates import Status

from .builders import EU, IPLEDGE_2021, IPLEDGE_2026, NOW, PARIS, at, codes, d, dispense, eu_facts, make_facts, run

PASS, WARN, FAIL = Status.PASS, Status.WARN, Status.FAIL
GATE = "prescription"


@pytest.mark.parametrize(("changes", "expected"), [
    ({}, ["PRESCRIPTION_VALID"]),
    ({"days_supply": 30}, ["PRESCRIPTION_VALID"]),
    ({"days_supply": 1}, ["PRESCRIPTION_VALID"]),
    ({"days_supply": 31}, ["DAYS_SUPPLY_EXCEEDED"]),
    ({"days_supply": 0}, ["DAYS_SUPPLY_INVALID"]),
    ({"days_supply": -3}, ["DAYS_SUPPLY_INVALID"]),
    ({"refills": 1}, ["REFILLS_NOT_ALLOWED"]),
    ({"refills": -1}, ["REFILLS_NOT_ALLOWED"]),
    ({"quantity": Decimal("0")}, ["QUANTITY_INVALID"]),
    ({"quantity": Decimal("-30")}, ["QUANTITY_INVALID"]),
    ({"quantity": Decimal("NaN")}, ["QUANTITY_INVALID"]),
    ({"strength_mg": Decimal("0")}, ["STRENGTH_INVALID"]),
    ({"days_supply": 31, "refills": 2}, ["DAYS_SUPPLY_EXCEEDED", "REFILLS_NOT_ALLOWED"]),
])
def test_amounts(changes, expected):
    result = run(GATE, make_facts(prescription=changes))
    assert codes(result) == expected
    if result.status is FAIL:
        assert result.unblock


def test_days_supply_unblock_names_the_maximum():
    assert "at most 30 days" in run(GATE, make_facts(prescription={"days_supply": 31})).unblock
    assert "without refills" in run(GATE, make_facts(prescription={"refills": 1})).unblock


@pytest.mark.parametrize(("drug", "ndc", "strength", "expected"), [
    ("Isotretinoin", "0591-2434-15", "20", ["PRESCRIPTION_VALID"]),
    ("isotretinoin", "00591243415", "20.0", ["PRESCRIPTION_VALID"]),
    ("Isotretinoin", None, "20", ["PRESCRIPTION_VALID"]),
    ("Claravis", "0555-1055-86", "20", ["PRESCRIPTION_VALID"]),
    ("Accutane", "0591-2434-15", "20", ["PRESCRIPTION_VALID"]),  # identified by NDC
    ("Isotretinoin", "0591-2434-15", "40", ["NDC_STRENGTH_MISMATCH"]),
    ("Isotretinoin", "59651-635-03", "30", ["NDC_STRENGTH_MISMATCH"]),
    ("Isotretinoin", "0245-0571-01", "20", ["NDC_NOT_IN_REFERENCE"]),
    ("Isotretinoin", "10631-003-31", "16", ["NDC_STRENGTH_NOT_LISTED"]),
    ("Tretinoin", None, "20", ["DRUG_NOT_ISOTRETINOIN"]),
    ("Tretinoin", "1234-5678-90", "20", ["DRUG_NOT_ISOTRETINOIN"]),
    ("Accutane", None, "20", ["DRUG_NOT_ISOTRETINOIN"]),
])
def test_drug_and_ndc(drug, ndc, strength, expected):
    facts = make_facts(prescription={"drug": drug, "ndc": ndc, "strength_mg": Decimal(strength)})
    result = run(GATE, facts)
    assert codes(result) == expected
    assert result.status is {"PRESCRIPTION_VALID": PASS, "NDC_NOT_IN_REFERENCE": WARN,
                             "NDC_STRENGTH_NOT_LISTED": WARN}.get(expected[0], FAIL)


@pytest.mark.parametrize(("written_on", "now", "status", "code"), [
    ("2026-11-01", at("2026-11-30", "23:59:59"), PASS, "PRESCRIPTION_VALID"),  # counts through 11-30
    ("2026-11-01", at("2026-12-01", "00:00:00"), FAIL, "PRESCRIPTION_WINDOW_EXPIRED"),
    ("2026-12-10", NOW, PASS, "PRESCRIPTION_VALID"),
    ("2026-12-11", NOW, FAIL, "WRITTEN_ON_IN_FUTURE"),
])
def test_window_for_a_patient_who_cannot_get_pregnant(written_on, now, status, code):
    facts = make_facts(patient={"can_get_pregnant": False}, prescription={"written_on": d(written_on)})
    result = run(GATE, facts, now=now)
    assert (result.status, result.code) == (status, code)
    if code == "PRESCRIPTION_WINDOW_EXPIRED":
        assert "new prescription" in result.unblock and "2026-11-30" in result.unblock
    if written_on == "2026-11-01" and status is PASS:
        assert result.current_until.instant.isoformat() == "2026-12-01T04:59:59+00:00"
        assert (result.current_until.evidence, result.evidence["window_last_day"]) == ("prescription:5", "2026-11-30")


@pytest.mark.parametrize("policy", [IPLEDGE_2026, IPLEDGE_2021])
def test_ipledge_window_of_a_patient_who_can_get_pregnant_is_capped_by_the_prescriptions_currency(policy):
    # The 7-day window is the test's; the prescription only caps it, 30 days from written_on.
    facts = make_facts(prescription={"written_on": d("2026-11-20")})
    result = run(GATE, facts, policy=policy)
    assert result.status is PASS
    assert result.evidence["window_last_day"] == "2026-12-19"
    assert result.current_until.evidence == "prescription:5"


@pytest.mark.parametrize("can_get_pregnant", [True, False])
@pytest.mark.parametrize(("written_on", "now", "status"), [
    ("2026-12-04", at("2026-12-10", "23:59:59", PARIS), PASS),  # 7 days from written_on
    ("2026-12-04", at("2026-12-11", "00:00:00", PARIS), FAIL),
])
def test_eu_window_is_seven_days_from_written_on(can_get_pregnant, written_on, now, status):
    facts = eu_facts(patient={"can_get_pregnant": can_get_pregnant}, prescription={"written_on": d(written_on)})
    result = run(GATE, facts, policy=EU, now=now)
    assert result.status is status
    if status is PASS:
        assert result.current_until.instant.isoformat() == "2026-12-10T22:59:59+00:00"


def test_unknown_category_still_gets_a_window():
    facts = make_facts(patient={"can_get_pregnant": None}, prescription={"written_on": d("2026-11-01")})
    assert run(GATE, facts).code == "PRESCRIPTION_WINDOW_EXPIRED"


@pytest.mark.parametrize(("today", "status"), [
    ("2026-11-22", FAIL),  # rulebook §2: dispensed 11-01 with 30 days, refused through 11-22
    ("2026-11-23", PASS),
    ("2026-12-15", PASS),
])
def test_early_refill(today, status):
    facts = make_facts(patient={"can_get_pregnant": False}, prescription={"written_on": d("2026-11-20")},
                       prior_dispenses=(dispense(80, "2026-11-01", 30),))
    result = run(GATE, facts, now=at(today, "09:00:00"))
    assert result.status is status
    assert result.evidence["previous_dispense_covers_through"] == "2026-11-30"
    if status is FAIL:
        assert (result.code, result.unblock) == ("EARLY_REFILL", "Dispense on or after 2026-11-23.")


def test_early_refill_uses_the_dispense_covering_furthest():
    facts = make_facts(prior_dispenses=(dispense(80, "2026-12-05", 10), dispense(79, "2026-12-01", 30)))
    result = run(GATE, facts)
    assert "on or after 2026-12-23" in result.unblock


@pytest.mark.parametrize(("stage", "quantity", "code"), [
    ("evaluation", None, "PRESCRIPTION_VALID"),
    ("dispense", Decimal("30"), "PRESCRIPTION_VALID"),
    ("dispense", Decimal("30.000"), "PRESCRIPTION_VALID"),
    ("dispense", Decimal("29"), "DISPENSE_QUANTITY_MISMATCH"),
    ("dispense", Decimal("0"), "DISPENSE_QUANTITY_MISMATCH"),
    ("dispense", None, "DISPENSE_QUANTITY_MISSING"),
])
def test_dispense_quantity_must_equal_the_prescription(stage, quantity, code):
    facts = make_facts(stage=stage, dispense_quantity=quantity)
    result = run(GATE, facts)
    assert result.code == code
    if code != "PRESCRIPTION_VALID":
        assert "30" in result.unblock


def test_evidence_cites_the_prescription():
    result = run(GATE, make_facts())
    assert result.evidence == {"prescription": 5, "written_on": "2026-12-05", "window_last_day": "2027-01-03"}
