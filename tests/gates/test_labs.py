"""The labs gate (rulebook §3): thresholds on unrounded decimals, currency, fail-closed parsing."""
from datetime import UTC, datetime

import pytest

from pharmsafe.gates import LabLimits, Status

from .builders import IPLEDGE_2026, at, codes, lab, make_facts, normal_labs, run

PASS, WARN, FAIL, NA = Status.PASS, Status.WARN, Status.FAIL, Status.NOT_APPLICABLE
GATE = "labs"


def with_result(result, day="2026-11-20"):
    """Normal labs with the result of the same test replaced."""
    kept = tuple(r for r in normal_labs(day) if r.test != result.test.upper())
    return make_facts(lab_results=kept + (result,))


@pytest.mark.parametrize(("value", "unit", "status", "code"), [
    ("500", "mg/dL", PASS, "LABS_CURRENT"),
    ("500.00", "mg/dL", PASS, "LABS_CURRENT"),
    ("500.01", "mg/dL", WARN, "TRIGLYCERIDES_ELEVATED"),
    ("501", "mg/dL", WARN, "TRIGLYCERIDES_ELEVATED"),
    ("800", "mg/dL", WARN, "TRIGLYCERIDES_ELEVATED"),
    ("801", "mg/dL", FAIL, "TRIGLYCERIDES_CRITICAL"),
    ("800.001", "MG/DL", FAIL, "TRIGLYCERIDES_CRITICAL"),
    ("5.645", "mmol/L", PASS, "LABS_CURRENT"),  # 499.98 mg/dL
    ("5.646", "mmol/L", WARN, "TRIGLYCERIDES_ELEVATED"),  # 500.07 mg/dL
    ("9.032", "mmol/L", WARN, "TRIGLYCERIDES_ELEVATED"),  # 799.96 mg/dL
    ("9.033", "MMOL/L", FAIL, "TRIGLYCERIDES_CRITICAL"),  # 800.05 mg/dL
])
def test_triglycerides(value, unit, status, code):
    result = run(GATE, with_result(lab(33, "TRIGLYCERIDES", value, unit)))
    assert (result.status, result.code) == (status, code)
    if status is FAIL:
        assert "800 mg/dL" in result.unblock
    if status is WARN:
        assert result.unblock is None and result.current_until is not None


@pytest.mark.parametrize("test", ["ALT", "AST"])
@pytest.mark.parametrize(("value", "unit", "reference_upper", "status", "suffix"), [
    ("80", "U/L", None, PASS, None),  # exactly 2x the default ULN of 40
    ("80.01", "U/L", None, WARN, "ELEVATED"),
    ("120", "U/L", None, WARN, "ELEVATED"),  # exactly 3x: only above 2x
    ("120.01", "IU/L", None, FAIL, "CRITICAL"),
    ("70", "U/L", "35", PASS, None),
    ("71", "u/l", "35", WARN, "ELEVATED"),
    ("105", "U/L", "35", WARN, "ELEVATED"),
    ("106", "U/L", "35", FAIL, "CRITICAL"),
    ("100", "U/L", "3E+1", FAIL, "CRITICAL"),  # exponent form: 30 U/L, 3.3x
    ("60", "U/L", "3E+1", PASS, None),  # exactly 2x of 30
])
def test_transaminases(test, value, unit, reference_upper, status, suffix):
    result = run(GATE, with_result(lab(31 if test == "ALT" else 32, test, value, unit, reference_upper=reference_upper)))
    assert result.status is status
    assert result.code == (f"{test}_{suffix}" if suffix else "LABS_CURRENT")


@pytest.mark.parametrize("test", ["ALT", "AST"])
@pytest.mark.parametrize("reference_upper", [
    "not a number", "0", "0.000", "-30", "", " ", "NaN", "Infinity", "30 U/L", "1,5", "1E+21", "1E-21",
    "123456789012345678912",
])
@pytest.mark.parametrize("value", ["20", "121", "500"])
def test_unreadable_reference_upper_fails_never_defaults(test, reference_upper, value):
    """Rulebook §7 item 8: a limit that is present but cannot be read fails; only an absent one is 40 U/L."""
    result = run(GATE, with_result(lab(31 if test == "ALT" else 32, test, value, "U/L",
                                       reference_upper=reference_upper)))
    assert (result.status, codes(result)) == (FAIL, ["LAB_REFERENCE_UNREADABLE"])
    assert result.code == "LAB_REFERENCE_UNREADABLE"
    assert repr(reference_upper) in result.message and test in result.message
    assert "upper reference limit" in result.unblock and "2026-11-20" in result.unblock
    assert "40 U/L" not in result.message


def test_absent_reference_upper_uses_the_policy_default():
    result = run(GATE, with_result(lab(31, "ALT", "121", "U/L", reference_upper=None)))
    assert (result.status, result.code) == (FAIL, "ALT_CRITICAL")
    assert "(40 U/L)" in result.message


def test_unreadable_reference_upper_is_reported_with_other_findings():
    results = (lab(31, "ALT", "25", "U/L", reference_upper="abc"), lab(32, "AST", "30", "furlongs"),
               lab(33, "TRIGLYCERIDES", "900", "mg/dL"), lab(34, "TOTAL_CHOLESTEROL", "180", "mg/dL"))
    result = run(GATE, make_facts(lab_results=results))
    assert codes(result) == ["LAB_REFERENCE_UNREADABLE", "LAB_UNIT_UNKNOWN", "TRIGLYCERIDES_CRITICAL"]


def test_unreadable_reference_upper_of_an_older_result_does_not_matter():
    older = lab(30, "ALT", "25", "U/L", "2026-11-15", reference_upper="abc")
    newer = lab(31, "ALT", "25", "U/L", "2026-11-20", reference_upper="35")
    assert run(GATE, make_facts(lab_results=normal_labs()[1:] + (older, newer))).status is PASS


@pytest.mark.parametrize("test", ["TRIGLYCERIDES", "TOTAL_CHOLESTEROL"])
def test_unreadable_reference_upper_of_a_lipid_fails_too(test):
    result = run(GATE, with_result(lab(33 if test == "TRIGLYCERIDES" else 34, test, "150", "mg/dL",
                                       reference_upper="abc")))
    assert (result.status, codes(result)) == (FAIL, ["LAB_REFERENCE_UNREADABLE"])


def test_a_lipid_with_an_unreadable_reference_upper_is_still_judged():
    result = run(GATE, with_result(lab(33, "TRIGLYCERIDES", "900", "mg/dL", reference_upper="abc")))
    assert codes(result) == ["LAB_REFERENCE_UNREADABLE", "TRIGLYCERIDES_CRITICAL"]


def test_a_readable_reference_upper_of_a_lipid_changes_nothing():
    result = run(GATE, with_result(lab(33, "TRIGLYCERIDES", "600", "mg/dL", reference_upper="150")))
    assert (result.status, result.code) == (WARN, "TRIGLYCERIDES_ELEVATED")


@pytest.mark.parametrize(("value", "unit", "status"), [
    ("300", "mg/dL", PASS),
    ("301", "mg/dL", WARN),
    ("7.757", "mmol/L", PASS),  # 299.97 mg/dL
    ("7.758", "mmol/L", WARN),  # 300.002 mg/dL
    ("900", "mg/dL", WARN),  # never more than a warning
])
def test_total_cholesterol(value, unit, status):
    result = run(GATE, with_result(lab(34, "TOTAL_CHOLESTEROL", value, unit)))
    assert result.status is status
    if status is WARN:
        assert result.code == "TOTAL_CHOLESTEROL_ELEVATED"


@pytest.mark.parametrize("value", ["400", "abc"])
def test_ldl_is_recorded_not_gated(value):
    facts = make_facts(lab_results=normal_labs() + (lab(35, "LDL", value, "mg/dL"),))
    result = run(GATE, facts)
    assert result.status is PASS
    assert 35 not in result.evidence["lab_result"]


@pytest.mark.parametrize(("now", "status"), [
    (at("2026-11-30", "23:59:59"), PASS),  # rulebook §1: collected 2026-11-01 counts through 2026-11-30
    (at("2026-12-01", "00:00:00"), FAIL),
])
def test_currency(now, status):
    result = run(GATE, make_facts(lab_results=normal_labs("2026-11-01")), now=now)
    assert result.status is status
    if status is PASS:
        assert result.current_until.instant.isoformat() == "2026-12-01T04:59:59+00:00"
    else:
        assert codes(result) == ["LAB_STALE"] * 4
        assert "collected on or after 2026-11-02" in result.unblock


def test_current_until_is_the_earliest_result():
    results = normal_labs("2026-11-20")[:3] + (lab(40, "TOTAL_CHOLESTEROL", "180", "mg/dL", "2026-11-15"),)
    result = run(GATE, make_facts(lab_results=results))
    assert result.current_until.last_day.isoformat() == "2026-12-14"
    assert result.current_until.evidence == "lab_result:40"
    assert result.evidence == {"lab_result": [31, 32, 33, 40], "last_day": "2026-12-14"}


@pytest.mark.parametrize(("results", "expected"), [
    (normal_labs()[1:], ["LAB_MISSING"]),
    ((), ["LAB_MISSING"] * 4),
    (normal_labs()[1:] + (lab(31, "ALT", "25", "U/L", error=True),), ["LAB_MISSING"]),
    (normal_labs()[1:] + (lab(31, "ALT", "25", "U/L", "2026-12-11"),), ["LAB_MISSING"]),  # future-dated
    (normal_labs()[1:] + (lab(31, "ALT", "25", "mg/dL"),), ["LAB_UNIT_UNKNOWN"]),
    (normal_labs()[1:] + (lab(31, "ALT", "25", ""),), ["LAB_UNIT_UNKNOWN"]),
    (normal_labs()[1:] + (lab(31, "ALT", "twenty", "U/L"),), ["LAB_VALUE_UNPARSABLE"]),
    (normal_labs()[1:] + (lab(31, "ALT", "-5", "U/L"),), ["LAB_VALUE_UNPARSABLE"]),
    (normal_labs()[1:] + (lab(31, "ALT", "NaN", "U/L"),), ["LAB_VALUE_UNPARSABLE"]),
    (normal_labs()[1:] + (lab(31, "ALT", "1,5", "U/L"),), ["LAB_VALUE_UNPARSABLE"]),
    (normal_labs()[1:] + (lab(31, "ALT", "x", "furlongs"),), ["LAB_VALUE_UNPARSABLE", "LAB_UNIT_UNKNOWN"]),
    (normal_labs()[:2] + (lab(33, "TRIGLYCERIDES", "150", "U/L"), normal_labs()[3]), ["LAB_UNIT_UNKNOWN"]),
])
def test_missing_or_unreadable_fails_closed(results, expected):
    result = run(GATE, make_facts(lab_results=results))
    assert result.status is FAIL
    assert codes(result) == expected
    assert result.unblock


@pytest.mark.parametrize(("older", "newer", "code"), [
    (lab(30, "ALT", "25", "U/L", "2026-11-15"), lab(31, "ALT", "garbage", "U/L", "2026-11-20"), "LAB_VALUE_UNPARSABLE"),
    (lab(30, "ALT", "25", "U/L", "2026-11-15"), lab(31, "ALT", "25", "µkat", "2026-11-20"), "LAB_UNIT_UNKNOWN"),
    (lab(30, "ALT", "garbage", "U/L", "2026-11-15"), lab(31, "ALT", "25", "U/L", "2026-11-20"), "LABS_CURRENT"),
    (lab(30, "ALT", "25", "U/L", "2026-11-20"), lab(31, "ALT", "200", "U/L", "2026-11-20", error=True), "LABS_CURRENT"),
    (lab(30, "ALT", "25", "U/L", "2026-11-20"), lab(31, "ALT", "200", "U/L", "2026-12-11"), "LABS_CURRENT"),
    (lab(30, "ALT", "200", "U/L", "2026-11-20"), lab(31, "ALT", "25", "U/L", "2026-11-19"), "ALT_CRITICAL"),
])
def test_only_the_newest_usable_result_is_judged(older, newer, code):
    facts = make_facts(lab_results=normal_labs()[1:] + (older, newer))
    assert run(GATE, facts).code == code


def test_same_collection_day_is_ordered_by_recording_time():
    first = lab(30, "ALT", "25", "U/L", recorded_at=datetime(2026, 11, 21, 9, tzinfo=UTC))
    second = lab(31, "ALT", "130", "U/L", recorded_at=datetime(2026, 11, 21, 10, tzinfo=UTC))
    assert run(GATE, make_facts(lab_results=normal_labs()[1:] + (second, first))).code == "ALT_CRITICAL"


@pytest.mark.parametrize("name", ["1742-6", "alt", " ALT "])
def test_test_given_by_loinc_or_any_case(name):
    facts = make_facts(lab_results=normal_labs()[1:] + (lab(31, name, "25", "U/L"),))
    assert run(GATE, facts).status is PASS


def test_all_findings_are_listed_and_the_worst_leads():
    results = (lab(31, "ALT", "90", "U/L"), lab(32, "AST", "30", "U/L"), lab(33, "TRIGLYCERIDES", "900", "mg/dL"),
               lab(34, "TOTAL_CHOLESTEROL", "310", "mg/dL"))
    result = run(GATE, make_facts(lab_results=results))
    assert codes(result) == ["ALT_ELEVATED", "TRIGLYCERIDES_CRITICAL", "TOTAL_CHOLESTEROL_ELEVATED"]
    assert (result.status, result.code) == (FAIL, "TRIGLYCERIDES_CRITICAL")
    assert result.to_dict()["findings"][0] == {"code": "ALT_ELEVATED", "status": "warn",
                                               "message": result.findings[0].message}


def test_warnings_only_keep_the_gate_current():
    results = normal_labs()[:2] + (lab(33, "TRIGLYCERIDES", "600", "mg/dL"), normal_labs()[3])
    result = run(GATE, make_facts(lab_results=results))
    assert (result.status, result.code, result.unblock) == (WARN, "TRIGLYCERIDES_ELEVATED", None)
    assert result.current_until.last_day.isoformat() == "2026-12-19"


def test_thresholds_are_policy_parameters():
    from dataclasses import replace
    from decimal import Decimal
    strict = replace(IPLEDGE_2026, labs=LabLimits(triglycerides_fail_mg_dl=Decimal("400")))
    facts = with_result(lab(33, "TRIGLYCERIDES", "450", "mg/dL"))
    assert run(GATE, facts, policy=strict).code == "TRIGLYCERIDES_CRITICAL"
    none_required = replace(IPLEDGE_2026, labs=LabLimits(required_tests=()))
    assert run(GATE, make_facts(lab_results=()), policy=none_required).status is NA


def test_messages_show_the_recorded_value_and_its_conversion():
    result = run(GATE, with_result(lab(33, "TRIGLYCERIDES", "9.1", "mmol/L")))
    assert "Triglycerides 9.1 mmol/L (806 mg/dL)" in result.message
    missing = run(GATE, make_facts(lab_results=normal_labs()[2:]))
    assert "Record an ALT result" in missing.unblock and "Record an AST result" in missing.unblock
