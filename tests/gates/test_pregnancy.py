"""The pregnancy_test gate (rulebook §1 counting, §2 pregnancy tests, policy table)."""
from datetime import UTC

import pytest

from pharmsafe.gates import Status

from .builders import (
    EU,
    IPLEDGE_2021,
    IPLEDGE_2026,
    NOW,
    PARIS,
    TODAY,
    all_attestations,
    at,
    codes,
    continuing,
    d,
    dispense,
    eu_facts,
    hcg,
    make_facts,
    neg,
    plus,
    pos,
    run,
)

PASS, WARN, FAIL, NA = Status.PASS, Status.WARN, Status.FAIL, Status.NOT_APPLICABLE
GATE = "pregnancy_test"


def later_dispense(*tests, today=TODAY, **changes):
    """A continuation of a course: one earlier dispense 30 days before ``today``."""
    return continuing(make_facts(pregnancy_tests=tests, **changes), today)


# --- the 7-day window: day 7 at 23:59:59 passes, day 8 at 00:00:00 fails, across DST changes --------

WINDOWS = [
    ("2026-11-20", "2026-11-27T04:59:59+00:00"),  # rulebook §1 example: through 2026-11-26T23:59:59-05:00
    ("2026-12-05", "2026-12-12T04:59:59+00:00"),
    ("2026-11-01", "2026-11-08T04:59:59+00:00"),  # collected on the US DST end date
    ("2026-10-28", "2026-11-04T04:59:59+00:00"),  # window spans the DST end
    ("2027-03-10", "2027-03-17T03:59:59+00:00"),  # window spans the DST start (2027-03-14)
    ("2027-03-14", "2027-03-21T03:59:59+00:00"),  # collected on the DST start date
    ("2026-07-01", "2026-07-08T03:59:59+00:00"),
]


@pytest.mark.parametrize(("collected", "instant"), WINDOWS)
def test_day_7_at_235959_passes(collected, instant):
    last = plus(collected, 6)
    result = run(GATE, later_dispense(neg(17, collected), today=last), now=at(last, "23:59:59"))
    assert (result.status, result.code) == (PASS, "PREGNANCY_TEST_CURRENT")
    assert result.current_until.instant.isoformat() == instant
    assert result.current_until.last_day == last
    assert result.current_until.evidence == "pregnancy_test:17"
    assert result.evidence["window_last_day"] == last.isoformat()


@pytest.mark.parametrize(("collected", "instant"), WINDOWS)
def test_day_8_at_midnight_fails(collected, instant):
    day8 = plus(collected, 7)
    result = run(GATE, later_dispense(neg(17, collected), today=day8), now=at(day8, "00:00:00"))
    assert (result.status, result.code) == (FAIL, "PREGNANCY_TEST_OUTSIDE_WINDOW")
    assert f"collected on or after {plus(collected, 1).isoformat()}" in result.unblock
    assert result.current_until is None


@pytest.mark.parametrize(("now", "status"), [
    ("2026-11-27T04:59:59+00:00", PASS),
    ("2026-11-27T05:00:00+00:00", FAIL),
    ("2026-11-26T23:59:59-05:00", PASS),
    ("2026-11-27T00:00:00-05:00", FAIL),
    ("2026-11-27T05:59:59+01:00", PASS),  # any offset: it is the instant that counts
])
def test_window_judged_at_the_instant_in_new_york(now, status):
    from datetime import datetime
    facts = later_dispense(neg(17, "2026-11-20"), today="2026-11-26")
    assert run(GATE, facts, now=datetime.fromisoformat(now)).status is status


def test_collection_day_is_day_one():
    facts = later_dispense(neg(17, TODAY))
    assert run(GATE, facts, now=at(TODAY, "00:00:00")).status is PASS


# --- first dispense of a course: screening at least 19 days before the confirmatory ------------------

@pytest.mark.parametrize(("screening", "confirmatory", "code", "unblock_date"), [
    ("2026-11-16", "2026-12-05", "PREGNANCY_TEST_CURRENT", None),  # 19 days
    ("2026-11-01", "2026-11-20", "PREGNANCY_TEST_CURRENT", None),  # rulebook example (19 days)
    ("2026-11-17", "2026-12-05", "CONFIRMATORY_TOO_EARLY", "2026-12-06"),  # 18 days
    ("2026-12-01", "2026-12-05", "CONFIRMATORY_TOO_EARLY", "2026-12-20"),
    (None, "2026-12-05", "SCREENING_TEST_MISSING", "2026-12-24"),
])
def test_screening_to_confirmatory(screening, confirmatory, code, unblock_date):
    tests = ((neg(12, screening),) if screening else ()) + (neg(17, confirmatory),)
    result = run(GATE, make_facts(pregnancy_tests=tests), now=at(plus(confirmatory, 1)))
    assert result.code == code
    if unblock_date:
        assert result.status is FAIL
        assert f"on or after {unblock_date}" in result.unblock
    else:
        assert result.status is PASS
        assert result.evidence["pregnancy_test"] == [17, 12]
        assert result.evidence["first_of_course"] is True


def test_most_recent_screening_is_chosen():
    tests = (neg(10, "2026-10-01"), neg(12, "2026-11-10"), neg(17, "2026-12-05"))
    result = run(GATE, make_facts(pregnancy_tests=tests))
    assert result.evidence["pregnancy_test"] == [17, 12]
    assert result.evidence["screening_collected_on"] == "2026-11-10"


@pytest.mark.parametrize(("tests", "code"), [
    ((neg(12, "2026-11-10", setting="home"), neg(17, "2026-12-05")), "SCREENING_TEST_MISSING"),
    ((neg(12, "2026-11-10"), neg(17, "2026-12-05", setting="home")), "HOME_TEST_NOT_ACCEPTED"),
    ((neg(12, "2026-11-10"), neg(17, "2026-12-05", setting="pharmacy")), "PREGNANCY_TEST_SETTING_UNKNOWN"),
    ((neg(12, "2026-11-10"),), "PREGNANCY_TEST_OUTSIDE_WINDOW"),
    ((), "PREGNANCY_TEST_MISSING"),
])
def test_first_of_course_needs_medical_tests(tests, code):
    result = run(GATE, make_facts(pregnancy_tests=tests))
    assert (result.status, result.code) == (FAIL, code)
    assert result.unblock


def test_first_of_course_unblock_without_any_screening():
    result = run(GATE, make_facts(pregnancy_tests=()))
    assert "screening" in result.unblock and "2026-12-29" in result.unblock


def test_first_of_course_unblock_with_a_usable_screening():
    result = run(GATE, make_facts(pregnancy_tests=(neg(12, "2026-11-10"), neg(17, "2026-11-30"))))
    assert result.code == "PREGNANCY_TEST_OUTSIDE_WINDOW"
    assert "Record a negative confirmatory pregnancy test in a medical setting collected on or after 2026-12-04." \
        == result.unblock


# --- which dispense starts a course (rulebook §2: T - P > 45) ------------------------------------------

@pytest.mark.parametrize(("last_dispense", "today", "declared", "status", "code_list"), [
    ("2026-11-01", "2026-12-16", None, PASS, ["PREGNANCY_TEST_CURRENT"]),  # 45 days: continuation
    ("2026-11-01", "2026-12-17", None, FAIL, ["SCREENING_TEST_MISSING"]),  # 46 days: new course
    ("2026-11-01", "2026-12-16", True, FAIL, ["SCREENING_TEST_MISSING"]),  # the prescription says first
    # A continuation must be seen (second edition): "false" no longer downgrades a first dispense.
    ("2026-11-01", "2026-12-17", False, FAIL, ["SCREENING_TEST_MISSING", "CONTINUATION_NOT_SEEN"]),
    (None, "2026-12-16", False, FAIL, ["SCREENING_TEST_MISSING", "CONTINUATION_NOT_SEEN"]),
    (None, "2026-12-16", None, FAIL, ["SCREENING_TEST_MISSING"]),
    ("2026-12-20", "2026-12-16", None, FAIL, ["SCREENING_TEST_MISSING"]),  # a future-dated dispense is not "earlier"
])
def test_first_of_course(last_dispense, today, declared, status, code_list):
    facts = make_facts(pregnancy_tests=(neg(17, "2026-12-15"),), prescription={"first_of_course": declared},
                       prior_dispenses=(dispense(80, last_dispense),) if last_dispense else ())
    result = run(GATE, facts, now=at(today))
    assert result.status is status
    assert codes(result) == code_list


def test_continuation_warning_comes_with_other_failures():
    facts = make_facts(pregnancy_tests=(), prescription={"first_of_course": False})
    result = run(GATE, facts)
    assert codes(result) == ["PREGNANCY_TEST_MISSING", "CONTINUATION_NOT_SEEN"]
    assert result.code == "PREGNANCY_TEST_MISSING"


# --- a positive test locks the patient, whatever its date and whatever negatives follow ----------------

@pytest.mark.parametrize(("positive", "status"), [
    (pos(20, "2026-12-05"), FAIL),  # same day as the confirmatory
    (pos(20, "2026-12-08"), FAIL),  # after it
    (pos(20, "2026-11-20"), FAIL),  # between screening and confirmatory
    (pos(20, "2026-11-10"), FAIL),  # same day as the screening
    (pos(20, "2026-12-20"), FAIL),  # dated after today: still never ignored
    (pos(20, "2026-11-09"), FAIL),  # before the screening: it locks all the same
    (pos(20, "2026-12-08", error=True), PASS),  # entered in error
    (hcg(20, "2026-12-06", "invalid"), FAIL),  # unreadable result fails closed
    (hcg(20, "2026-11-01", "invalid"), PASS),
])
def test_positive_against_first_course_tests(positive, status):
    tests = (neg(12, "2026-11-10"), neg(17, "2026-12-05"), positive)
    result = run(GATE, make_facts(pregnancy_tests=tests))
    assert result.status is status
    if status is FAIL:
        assert result.code in {"PREGNANCY_TEST_POSITIVE", "PREGNANCY_TEST_RESULT_UNKNOWN"}
        cited = result.evidence.get("positive_pregnancy_test", []) + [result.evidence.get("pregnancy_test")]
        assert 20 in cited or 20 in (result.evidence.get("pregnancy_test") or [])
        assert positive.specimen_collected_on.isoformat() in result.unblock
    else:
        assert result.code == "PREGNANCY_TEST_CURRENT"


@pytest.mark.parametrize(("positive_on", "status"), [
    ("2026-12-04", FAIL),  # a day before the qualifying negative: still locked
    ("2026-12-05", FAIL),
    ("2026-12-06", FAIL),
])
def test_positive_against_a_later_dispense(positive_on, status):
    result = run(GATE, later_dispense(neg(17, "2026-12-05"), pos(20, positive_on)))
    assert result.status is status
    assert result.code == "PREGNANCY_TEST_POSITIVE"


@pytest.mark.parametrize("tests", [
    (pos(20, "2026-12-01"),),
    (neg(17, "2026-11-01"), pos(20, "2026-11-15")),
    (pos(20, "2026-10-15"), neg(17, "2026-11-01")),  # a newer negative does not clear it
])
def test_without_a_clearance_any_positive_is_cited(tests):
    result = run(GATE, later_dispense(*tests))
    assert (result.status, result.code) == (FAIL, "PREGNANCY_TEST_POSITIVE")
    assert result.evidence["positive_pregnancy_test"] == [20]


# --- evidence that does not count -----------------------------------------------------------------------

@pytest.mark.parametrize(("tests", "code"), [
    ((neg(12, "2026-11-10"), neg(17, "2026-12-05", error=True)), "PREGNANCY_TEST_OUTSIDE_WINDOW"),
    ((neg(12, "2026-11-10", error=True), neg(17, "2026-12-05")), "SCREENING_TEST_MISSING"),
    ((neg(12, "2026-11-10"), neg(17, "2026-12-12")), "PREGNANCY_TEST_OUTSIDE_WINDOW"),  # future-dated: ignored
    ((neg(17, "2026-12-12"),), "PREGNANCY_TEST_MISSING"),
])
def test_entered_in_error_and_future_tests_do_not_count(tests, code):
    result = run(GATE, make_facts(pregnancy_tests=tests))
    assert (result.status, result.code) == (FAIL, code)


def test_future_dated_test_is_named_in_the_message():
    result = run(GATE, make_facts(pregnancy_tests=(neg(17, "2026-12-12"),)))
    assert "pregnancy test 17 dated 2026-12-12" in result.message


def test_latest_recording_breaks_a_same_day_tie():
    from datetime import datetime
    early = neg(17, "2026-12-05", recorded_at=datetime(2026, 12, 5, 10, tzinfo=UTC))
    late = neg(18, "2026-12-05", recorded_at=datetime(2026, 12, 5, 11, tzinfo=UTC))
    result = run(GATE, later_dispense(late, early))
    assert result.evidence["pregnancy_test"] == 18


# --- home tests and CLIA numbers --------------------------------------------------------------------

@pytest.mark.parametrize(("policy", "home_allowed", "test", "status", "code"), [
    (IPLEDGE_2026, True, neg(17, "2026-12-08", setting="home"), PASS, "PREGNANCY_TEST_CURRENT"),
    (IPLEDGE_2026, False, neg(17, "2026-12-08", setting="home"), FAIL, "HOME_TEST_NOT_ACCEPTED"),
    (IPLEDGE_2026, True, neg(17, "2026-12-08", clia=None), PASS, "PREGNANCY_TEST_CURRENT"),
    (IPLEDGE_2021, True, neg(17, "2026-12-08", setting="home"), FAIL, "HOME_TEST_NOT_ACCEPTED"),
    (IPLEDGE_2021, True, neg(17, "2026-12-08", clia=None), FAIL, "PREGNANCY_TEST_CLIA_MISSING"),
    (IPLEDGE_2021, True, neg(17, "2026-12-08", clia="  "), FAIL, "PREGNANCY_TEST_CLIA_MISSING"),
    (IPLEDGE_2021, False, neg(17, "2026-12-08"), PASS, "PREGNANCY_TEST_CURRENT"),
])
def test_later_dispense_setting_and_clia(policy, home_allowed, test, status, code):
    facts = later_dispense(test, patient={"home_pregnancy_tests_allowed": home_allowed})
    result = run(GATE, facts, policy=policy)
    assert (result.status, result.code) == (status, code)
    if status is FAIL:
        assert "on or after 2026-12-04" in result.unblock


def test_home_test_never_counts_for_a_first_dispense():
    facts = make_facts(pregnancy_tests=(neg(12, "2026-11-10"), neg(17, "2026-12-05", setting="home")),
                       patient={"home_pregnancy_tests_allowed": True})
    assert run(GATE, facts).code == "HOME_TEST_NOT_ACCEPTED"


@pytest.mark.parametrize(("screening_clia", "confirmatory_clia", "code"), [
    ("05D0000001", "05D0000002", "PREGNANCY_TEST_CURRENT"),
    (None, "05D0000002", "PREGNANCY_TEST_CURRENT"),  # only the confirmatory needs one
    ("05D0000001", None, "PREGNANCY_TEST_CLIA_MISSING"),
])
def test_ipledge_2021_first_dispense_clia(screening_clia, confirmatory_clia, code):
    tests = (neg(12, "2026-11-10", clia=screening_clia), neg(17, "2026-12-05", clia=confirmatory_clia))
    assert run(GATE, make_facts(pregnancy_tests=tests), policy=IPLEDGE_2021).code == code


def test_an_older_counted_test_qualifies_when_the_newest_does_not():
    facts = later_dispense(neg(16, "2026-12-06"), neg(17, "2026-12-08", clia=None))
    result = run(GATE, facts, policy=IPLEDGE_2021)
    assert (result.status, result.evidence["pregnancy_test"]) == (PASS, 16)


# --- ipledge-2021 missed-window lockout (first dispense only) ------------------------------------------

@pytest.mark.parametrize(("policy", "second", "today", "status", "code"), [
    (IPLEDGE_2021, "2026-11-30", "2026-12-01", FAIL, "PREGNANCY_TEST_MISSED_WINDOW_LOCKOUT"),
    (IPLEDGE_2021, "2026-12-08", "2026-12-10", FAIL, "PREGNANCY_TEST_MISSED_WINDOW_LOCKOUT"),  # 18 days
    (IPLEDGE_2021, "2026-12-09", "2026-12-10", PASS, "PREGNANCY_TEST_CURRENT"),  # 19 days
    (IPLEDGE_2021, "2026-11-26", "2026-11-27", PASS, "PREGNANCY_TEST_CURRENT"),  # retested inside the window
    (IPLEDGE_2026, "2026-11-30", "2026-12-01", PASS, "PREGNANCY_TEST_CURRENT"),  # no lockout in 2026
])
def test_missed_window_lockout(policy, second, today, status, code):
    tests = (neg(11, "2026-11-01"), neg(12, "2026-11-20"), neg(17, second))
    result = run(GATE, make_facts(pregnancy_tests=tests), policy=policy, now=at(today))
    assert (result.status, result.code) == (status, code)
    if status is FAIL:
        assert "on or after 2026-12-09" in result.unblock


def test_lockout_sets_the_date_of_the_next_test():
    tests = (neg(11, "2026-11-01"), neg(12, "2026-11-20"))
    result = run(GATE, make_facts(pregnancy_tests=tests), policy=IPLEDGE_2021, now=at("2026-12-01"))
    assert result.code == "PREGNANCY_TEST_OUTSIDE_WINDOW"
    assert "with a CLIA number collected on or after 2026-12-09" in result.unblock


def test_no_lockout_for_a_later_dispense():
    tests = (neg(11, "2026-11-01"), neg(12, "2026-11-20"), neg(17, "2026-11-30"))
    facts = continuing(make_facts(pregnancy_tests=tests), "2026-12-01")
    assert run(GATE, facts, policy=IPLEDGE_2021, now=at("2026-12-01")).status is PASS


def test_a_test_without_its_own_screening_opened_no_window():
    tests = (neg(11, "2026-11-01"), neg(12, "2026-11-05"), neg(17, "2026-11-25"))
    result = run(GATE, make_facts(pregnancy_tests=tests), policy=IPLEDGE_2021, now=at("2026-11-26"))
    assert result.status is PASS


# --- category -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("can_get_pregnant", "status", "code"), [
    (False, NA, "PREGNANCY_TEST_NOT_REQUIRED"),
    (None, FAIL, "PATIENT_CATEGORY_UNKNOWN"),
])
def test_category(can_get_pregnant, status, code):
    result = run(GATE, make_facts(patient={"can_get_pregnant": can_get_pregnant}, pregnancy_tests=()))
    assert (result.status, result.code) == (status, code)
    assert result.current_until is None


# --- EU PPP: a medically supervised test 0-3 days before written_on -----------------------------------

@pytest.mark.parametrize(("collected", "status", "code"), [
    ("2026-12-08", PASS, "PREGNANCY_TEST_CURRENT"),  # same day as written_on
    ("2026-12-05", PASS, "PREGNANCY_TEST_CURRENT"),  # 3 days before
    ("2026-12-04", FAIL, "PREGNANCY_TEST_OUTSIDE_WINDOW"),  # 4 days before
    ("2026-12-09", FAIL, "PREGNANCY_TEST_OUTSIDE_WINDOW"),  # after written_on
])
def test_eu_test_before_written_on(collected, status, code):
    facts = eu_facts(pregnancy_tests=(neg(17, collected, clia=None),))
    result = run(GATE, facts, policy=EU, now=at(TODAY, zone=PARIS))
    assert (result.status, result.code) == (status, code)
    assert result.current_until is None  # the 7-day window belongs to the prescription gate
    if status is FAIL:
        assert "between 2026-12-05 and 2026-12-08" in result.unblock


@pytest.mark.parametrize(("tests", "code"), [
    ((neg(17, "2026-12-06", setting="home"),), "PREGNANCY_TEST_MISSING"),
    ((neg(17, "2026-12-06"), pos(20, "2026-12-07")), "PREGNANCY_TEST_POSITIVE"),
    ((neg(17, "2026-12-06"), pos(20, "2026-12-06")), "PREGNANCY_TEST_POSITIVE"),
    ((), "PREGNANCY_TEST_MISSING"),
])
def test_eu_failures(tests, code):
    facts = eu_facts(pregnancy_tests=tests, patient={"home_pregnancy_tests_allowed": True})
    result = run(GATE, facts, policy=EU, now=at(TODAY, zone=PARIS))
    assert (result.status, result.code) == (FAIL, code)


def test_eu_one_test_is_enough_for_a_first_dispense_and_no_course_warning():
    facts = eu_facts(prescription={"written_on": d("2026-12-08"), "first_of_course": False})
    result = run(GATE, facts, policy=EU, now=at(TODAY, zone=PARIS))
    assert codes(result) == ["PREGNANCY_TEST_CURRENT"]


def test_baseline_passes_under_every_ipledge_policy():
    for policy in (IPLEDGE_2026, IPLEDGE_2021):
        assert run(GATE, make_facts(), policy=policy, now=NOW).status is PASS


@pytest.mark.parametrize(("positive_on", "retest_from"), [
    ("2026-12-05", "2026-12-06"),  # after a clearance a new negative must come after the positive
    ("2026-12-01", "2026-12-04"),  # otherwise the 7-day window decides
])
def test_new_test_date_after_a_cleared_positive(positive_on, retest_from):
    from .builders import clearance
    # Cleared the day of the positive, and dispensed since: this dispense continues that course.
    facts = make_facts(pregnancy_tests=(neg(17, "2026-11-20"), pos(20, positive_on)),
                       attestations=all_attestations() + (clearance(60, positive_on),),
                       prior_dispenses=(dispense(80, positive_on, days=1),))
    result = run(GATE, facts)
    assert (result.status, result.code) == (FAIL, "PREGNANCY_TEST_MISSING")
    assert result.unblock == f"Record a negative pregnancy test in a medical setting collected on or after {retest_from}."
