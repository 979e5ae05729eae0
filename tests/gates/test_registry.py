"""The pharmacy, prescriber and patient gates (rulebook §2; expiry valid through its day, §1)."""
import pytest

from pharmsafe.gates import Status

from .builders import EU, IPLEDGE_2021, IPLEDGE_2026, NOW, PARIS, TODAY, at, codes, eu_facts, make_facts, plus, run

PASS, FAIL, NA = Status.PASS, Status.FAIL, Status.NOT_APPLICABLE


@pytest.mark.parametrize(("activated_until", "now", "status", "code"), [
    ("2027-06-30", NOW, PASS, "PHARMACY_ACTIVE"),
    ("2026-12-10", at("2026-12-10", "00:00:00"), PASS, "PHARMACY_ACTIVE"),
    ("2026-12-10", at("2026-12-10", "23:59:59"), PASS, "PHARMACY_ACTIVE"),
    ("2026-12-10", at("2026-12-11", "00:00:00"), FAIL, "PHARMACY_ACTIVATION_EXPIRED"),
    ("2026-12-09", NOW, FAIL, "PHARMACY_ACTIVATION_EXPIRED"),
    (None, NOW, FAIL, "PHARMACY_NOT_ACTIVATED"),
])
def test_pharmacy_activation(activated_until, now, status, code):
    facts = make_facts(pharmacy={"activated_until": plus(activated_until, 0) if activated_until else None})
    result = run("pharmacy", facts, now=now)
    assert (result.status, result.code) == (status, code)
    assert result.evidence["pharmacy"] == 1
    if status is FAIL:
        assert result.unblock and result.current_until is None
    if code == "PHARMACY_ACTIVATION_EXPIRED":
        assert activated_until in result.unblock


def test_pharmacy_current_until_is_end_of_activation_day():
    facts = make_facts(pharmacy={"activated_until": plus("2026-12-20", 0)})
    until = run("pharmacy", facts).current_until
    assert until.instant.isoformat() == "2026-12-21T04:59:59+00:00"
    assert (until.evidence, until.last_day.isoformat()) == ("pharmacy:1", "2026-12-20")


def test_eu_has_no_pharmacy_gate():
    result = run("pharmacy", eu_facts(pharmacy={"activated_until": None}), policy=EU)
    assert (result.status, result.code) == (NA, "PHARMACY_ACTIVATION_NOT_REQUIRED")


@pytest.mark.parametrize(("changes", "now", "expected"), [
    ({}, NOW, ["PRESCRIBER_ACTIVE"]),
    ({"license_expires_on": TODAY}, at(TODAY, "23:59:59"), ["PRESCRIBER_ACTIVE"]),
    ({"license_expires_on": TODAY}, at(plus(TODAY, 1), "00:00:00"), ["PRESCRIBER_LICENSE_EXPIRED"]),
    ({"license_expires_on": plus(TODAY, -1)}, NOW, ["PRESCRIBER_LICENSE_EXPIRED"]),
    ({"license_expires_on": None}, NOW, ["PRESCRIBER_LICENSE_MISSING"]),
    ({"rems_certified_until": TODAY}, NOW, ["PRESCRIBER_ACTIVE"]),
    ({"rems_certified_until": plus(TODAY, -1)}, NOW, ["PRESCRIBER_CERTIFICATION_EXPIRED"]),
    ({"rems_certified_until": None}, NOW, ["PRESCRIBER_NOT_CERTIFIED"]),
    ({"npi": "1234567890"}, NOW, ["PRESCRIBER_NPI_INVALID"]),
    ({"npi": "12345"}, NOW, ["PRESCRIBER_NPI_INVALID"]),
    ({"status": "suspended"}, NOW, ["PRESCRIBER_NOT_ACTIVE"]),
    ({"status": "inactive"}, NOW, ["PRESCRIBER_NOT_ACTIVE"]),
    ({"status": "Active"}, NOW, ["PRESCRIBER_ACTIVE"]),
    ({"status": "suspended", "npi": "1234567890", "license_expires_on": plus(TODAY, -1)}, NOW,
     ["PRESCRIBER_NOT_ACTIVE", "PRESCRIBER_LICENSE_EXPIRED", "PRESCRIBER_NPI_INVALID"]),
])
def test_prescriber(changes, now, expected):
    result = run("prescriber", make_facts(prescriber=changes), now=now)
    assert codes(result) == expected
    assert result.code == expected[0]
    assert result.evidence["prescriber"] == 3


def test_prescriber_failures_all_have_dated_unblocks():
    result = run("prescriber", make_facts(prescriber={"license_expires_on": plus("2026-11-01", 0),
                                                       "rems_certified_until": plus("2026-11-02", 0)}))
    assert result.status is FAIL
    assert "Renew the prescriber's license (expired 2026-11-01)" in result.unblock
    assert "2026-11-02" in result.unblock


@pytest.mark.parametrize(("license", "certified", "last_day", "instant"), [
    ("2027-12-31", "2027-06-30", "2027-06-30", "2027-07-01T03:59:59+00:00"),
    ("2027-01-15", "2027-06-30", "2027-01-15", "2027-01-16T04:59:59+00:00"),
])
def test_prescriber_current_until_is_the_earlier_expiry(license, certified, last_day, instant):
    facts = make_facts(prescriber={"license_expires_on": plus(license, 0), "rems_certified_until": plus(certified, 0)})
    until = run("prescriber", facts).current_until
    assert (until.last_day.isoformat(), until.instant.isoformat(), until.evidence) == (last_day, instant, "prescriber:3")


@pytest.mark.parametrize(("changes", "status", "code"), [
    ({"npi": "0000000000", "rems_certified_until": None}, PASS, "PRESCRIBER_ACTIVE"),
    ({"license_expires_on": plus(TODAY, -1)}, FAIL, "PRESCRIBER_LICENSE_EXPIRED"),
    ({"status": "suspended"}, FAIL, "PRESCRIBER_NOT_ACTIVE"),
])
def test_eu_prescriber_needs_active_and_license_only(changes, status, code):
    result = run("prescriber", eu_facts(prescriber=changes), policy=EU, now=at(TODAY, zone=PARIS))
    assert (result.status, result.code) == (status, code)


@pytest.mark.parametrize(("changes", "expected"), [
    ({}, ["PATIENT_ENROLLED"]),
    ({"can_get_pregnant": False}, ["PATIENT_ENROLLED"]),
    ({"can_get_pregnant": None}, ["PATIENT_CATEGORY_UNKNOWN"]),
    ({"rems_patient_id": None}, ["PATIENT_NOT_ENROLLED"]),
    ({"rems_patient_id": "   "}, ["PATIENT_NOT_ENROLLED"]),
    ({"enrolled_on": None}, ["PATIENT_NOT_ENROLLED"]),
    ({"enrolled_on": TODAY}, ["PATIENT_ENROLLED"]),
    ({"enrolled_on": plus(TODAY, 1)}, ["PATIENT_ENROLLED_IN_FUTURE"]),
    ({"deactivated": True}, ["PATIENT_DEACTIVATED"]),
    ({"can_get_pregnant": None, "rems_patient_id": None}, ["PATIENT_CATEGORY_UNKNOWN", "PATIENT_NOT_ENROLLED"]),
])
def test_patient(changes, expected):
    result = run("patient", make_facts(patient=changes))
    assert codes(result) == expected
    assert result.current_until is None
    if result.status is FAIL:
        assert result.unblock


@pytest.mark.parametrize("policy", [IPLEDGE_2026, IPLEDGE_2021])
def test_ipledge_patient_needs_rems_id(policy):
    assert run("patient", make_facts(patient={"rems_patient_id": None}), policy=policy).status is FAIL


def test_eu_patient_needs_no_rems_id():
    result = run("patient", eu_facts(patient={"rems_patient_id": None}), policy=EU, now=at(TODAY, zone=PARIS))
    assert result.status is PASS
