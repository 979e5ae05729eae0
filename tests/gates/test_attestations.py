"""The contraception, comprehension and counseling gates (rulebook §1 counting, §2 methods)."""
import pytest

from pharmsafe.gates import Status

from .builders import (
    EU,
    IPLEDGE_2021,
    IPLEDGE_2026,
    NOW,
    PARIS,
    TODAY,
    at,
    att,
    codes,
    d,
    eu_facts,
    make_facts,
    plus,
    run,
)

PASS, FAIL, NA = Status.PASS, Status.FAIL, Status.NOT_APPLICABLE


def with_attestations(*items, **changes):
    return make_facts(attestations=items, **changes)


# --- currency: dated X, current for 30 days, counts through X+29 -------------------------------------

@pytest.mark.parametrize("kind", ["contraception", "comprehension", "counseling"])
@pytest.mark.parametrize(("now", "status"), [
    (at("2026-12-04", "23:59:59"), PASS),  # rulebook §1: dated 2026-11-05 counts through 2026-12-04
    (at("2026-12-05", "00:00:00"), FAIL),
    (at("2026-11-05", "00:00:00"), PASS),
])
def test_currency_last_day_and_the_day_after(kind, now, status):
    facts = with_attestations(att(51, kind, "2026-11-05", ("iud", "male_condom")))
    result = run(kind, facts, now=now)
    assert result.status is status
    if status is PASS:
        assert result.current_until.last_day == d("2026-12-04")
        assert result.current_until.instant.isoformat() == "2026-12-05T04:59:59+00:00"
        assert result.current_until.evidence == "attestation:51"
        assert result.evidence["attestation"] == 51
    else:
        assert result.code == f"{kind.upper()}_STALE"
        assert "dated 2026-11-06 or later" in result.unblock


@pytest.mark.parametrize("kind", ["contraception", "comprehension", "counseling"])
@pytest.mark.parametrize("items", [
    (),
    (att(51, "contraception", "2026-12-01", ("iud", "male_condom"), error=True),
     att(52, "comprehension", "2026-12-01", error=True), att(53, "counseling", "2026-12-01", error=True)),
    (att(51, "contraception", "2026-12-11", ("iud", "male_condom")), att(52, "comprehension", "2026-12-11"),
     att(53, "counseling", "2026-12-11")),  # dated after today: ignored
])
def test_missing(kind, items):
    result = run(kind, with_attestations(*items))
    assert (result.status, result.code) == (FAIL, f"{kind.upper()}_MISSING")
    assert "2026-11-11 or later" in result.unblock


def test_future_dated_attestation_is_named():
    result = run("comprehension", with_attestations(att(52, "comprehension", "2026-12-11")))
    assert "attestation 52 dated 2026-12-11" in result.message


@pytest.mark.parametrize(("items", "judged"), [
    ((att(51, "comprehension", "2026-11-01"), att(52, "comprehension", "2026-12-01")), 52),
    ((att(51, "comprehension", "2026-12-01"), att(52, "comprehension", "2026-12-01", error=True)), 51),
    ((att(51, "comprehension", "2026-12-01"), att(52, "comprehension", "2026-12-12")), 51),
])
def test_latest_usable_attestation_is_judged(items, judged):
    assert run("comprehension", with_attestations(*items)).evidence["attestation"] == judged


# --- contraception methods ----------------------------------------------------------------------------

@pytest.mark.parametrize(("policy", "methods", "code"), [
    (IPLEDGE_2026, ("iud", "male_condom"), "CONTRACEPTION_CURRENT"),
    (IPLEDGE_2026, ("hormonal_pill", "iud"), "CONTRACEPTION_CURRENT"),
    (IPLEDGE_2026, ("partner_vasectomy", "diaphragm"), "CONTRACEPTION_CURRENT"),
    (IPLEDGE_2026, ("abstinence",), "CONTRACEPTION_CURRENT"),
    (IPLEDGE_2026, ("IUD", " Male_Condom "), "CONTRACEPTION_CURRENT"),
    (IPLEDGE_2026, ("iud",), "CONTRACEPTION_METHODS_INSUFFICIENT"),
    (IPLEDGE_2026, ("iud", "iud"), "CONTRACEPTION_METHODS_INSUFFICIENT"),
    (IPLEDGE_2026, ("male_condom", "diaphragm"), "CONTRACEPTION_METHODS_INSUFFICIENT"),
    (IPLEDGE_2026, ("abstinence", "iud"), "CONTRACEPTION_METHODS_INSUFFICIENT"),  # abstinence counts alone
    (IPLEDGE_2026, ("abstinence", "male_condom"), "CONTRACEPTION_METHODS_INSUFFICIENT"),
    (IPLEDGE_2026, (), "CONTRACEPTION_METHODS_INSUFFICIENT"),
    (IPLEDGE_2026, ("iud", "rhythm"), "CONTRACEPTION_METHOD_UNKNOWN"),
    (IPLEDGE_2026, ("", "iud"), "CONTRACEPTION_METHOD_UNKNOWN"),
    (IPLEDGE_2021, ("implant", "vaginal_sponge"), "CONTRACEPTION_CURRENT"),
    (IPLEDGE_2021, ("cervical_cap",), "CONTRACEPTION_METHODS_INSUFFICIENT"),
    (EU, ("iud",), "CONTRACEPTION_CURRENT"),
    (EU, ("hormonal_ring", "male_condom"), "CONTRACEPTION_CURRENT"),
    (EU, ("male_condom",), "CONTRACEPTION_METHODS_INSUFFICIENT"),
    (EU, ("male_condom", "diaphragm"), "CONTRACEPTION_METHODS_INSUFFICIENT"),
    (EU, ("abstinence",), "CONTRACEPTION_METHODS_INSUFFICIENT"),
    (EU, ("coil",), "CONTRACEPTION_METHOD_UNKNOWN"),
])
def test_contraception_methods(policy, methods, code):
    item = att(51, "contraception", "2026-12-01", methods)
    facts = eu_facts(attestations=(item,)) if policy is EU else with_attestations(item)
    now = at(TODAY, zone=PARIS) if policy is EU else NOW
    result = run("contraception", facts, policy=policy, now=now)
    assert result.code == code
    assert result.status is (PASS if code == "CONTRACEPTION_CURRENT" else FAIL)
    if result.status is FAIL:
        assert result.unblock.startswith("Record a new contraception attestation naming")


def test_stale_attestation_with_bad_methods_reports_both():
    result = run("contraception", with_attestations(att(51, "contraception", "2026-10-01", ("iud",))))
    assert codes(result) == ["CONTRACEPTION_STALE", "CONTRACEPTION_METHODS_INSUFFICIENT"]


def test_newest_contraception_attestation_decides_even_if_an_older_one_was_fine():
    facts = with_attestations(att(50, "contraception", "2026-11-30", ("iud", "male_condom")),
                              att(51, "contraception", "2026-12-01", ("iud",)))
    assert run("contraception", facts).code == "CONTRACEPTION_METHODS_INSUFFICIENT"


# --- who needs what -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("policy", "gate", "can_get_pregnant", "status", "code"), [
    (IPLEDGE_2026, "contraception", False, NA, "CONTRACEPTION_NOT_REQUIRED"),
    (IPLEDGE_2026, "contraception", None, FAIL, "PATIENT_CATEGORY_UNKNOWN"),
    (IPLEDGE_2026, "comprehension", False, NA, "COMPREHENSION_NOT_REQUIRED"),
    (IPLEDGE_2026, "comprehension", None, FAIL, "PATIENT_CATEGORY_UNKNOWN"),
    (IPLEDGE_2026, "counseling", None, FAIL, "PATIENT_CATEGORY_UNKNOWN"),
    (IPLEDGE_2021, "counseling", None, PASS, "COUNSELING_CURRENT"),  # the same rule for everyone
    (IPLEDGE_2021, "contraception", False, NA, "CONTRACEPTION_NOT_REQUIRED"),
    (EU, "comprehension", False, NA, "COMPREHENSION_NOT_REQUIRED"),
    (EU, "counseling", False, PASS, "COUNSELING_CURRENT"),
])
def test_applicability_by_category(policy, gate, can_get_pregnant, status, code):
    facts = (eu_facts if policy is EU else make_facts)(patient={"can_get_pregnant": can_get_pregnant})
    now = at(TODAY, zone=PARIS) if policy is EU else NOW
    result = run(gate, facts, policy=policy, now=now)
    assert (result.status, result.code) == (status, code)


# --- counseling for a patient who cannot get pregnant --------------------------------------------------

@pytest.mark.parametrize(("policy", "attested", "now", "status", "code"), [
    (IPLEDGE_2026, "2026-09-01", NOW, PASS, "COUNSELING_CURRENT"),  # enrolled 10-01 minus 30 days
    (IPLEDGE_2026, "2026-08-31", NOW, FAIL, "COUNSELING_MISSING"),
    (IPLEDGE_2026, "2026-09-01", at("2028-06-01"), PASS, "COUNSELING_CURRENT"),  # no expiry
    (IPLEDGE_2021, "2026-11-11", at("2026-12-10", "23:59:59"), PASS, "COUNSELING_CURRENT"),
    (IPLEDGE_2021, "2026-11-10", NOW, FAIL, "COUNSELING_STALE"),  # 2021: current 30 days for everyone
])
def test_counseling_for_a_patient_who_cannot_get_pregnant(policy, attested, now, status, code):
    facts = with_attestations(att(53, "counseling", attested), patient={"can_get_pregnant": False})
    result = run("counseling", facts, policy=policy, now=now)
    assert (result.status, result.code) == (status, code)
    if policy is IPLEDGE_2026:
        assert result.current_until is None
    if status is FAIL:
        assert result.unblock


def test_ncgp_counseling_needs_an_enrollment_date():
    facts = with_attestations(att(53, "counseling", "2026-12-01"),
                              patient={"can_get_pregnant": False, "enrolled_on": None})
    result = run("counseling", facts)
    assert (result.status, result.code) == (FAIL, "COUNSELING_UNVERIFIABLE")


def test_ncgp_counseling_still_counts_from_the_latest_usable_one():
    facts = with_attestations(att(53, "counseling", "2026-09-15"), att(54, "counseling", plus(TODAY, 2)),
                              patient={"can_get_pregnant": False})
    assert run("counseling", facts).evidence["attestation"] == 53
