"""The rulebook's second edition (§7), each finding of the review as the case it protects, at its
boundaries. Dates follow the builders: today is 2026-12-10 in New York unless a test says otherwise."""
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from pharmsafe.gates import Status, evaluate, method_problem

from .builders import (
    BASE,
    EU,
    IPLEDGE_2021,
    IPLEDGE_2023,
    IPLEDGE_2026,
    NOW,
    PARIS,
    TODAY,
    all_attestations,
    at,
    att,
    clearance,
    codes,
    d,
    dispense,
    eu_facts,
    make_facts,
    neg,
    plus,
    pos,
    run,
    transfer_in,
)

PASS, WARN, FAIL, NA = Status.PASS, Status.WARN, Status.FAIL, Status.NOT_APPLICABLE
UTC = UTC


def recorded(day: str, clock: str = "15:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}:00+00:00")


# --- 1. a positive locks the patient until the prescriber's clearance ---------------------------------

ALL_ATTESTATIONS = all_attestations()


def continuation(*tests, attestations=ALL_ATTESTATIONS, **kw):
    """A later dispense of a course (dispensed 2026-11-10, 30 days)."""
    kw.setdefault("prior_dispenses", (dispense(80, "2026-11-10"),))
    return make_facts(pregnancy_tests=tests, attestations=attestations, **kw)


def test_negative_positive_negative_never_releases_the_drug():
    """Finding 1: negative 12-01, positive 12-06, negative 12-08, continuation: blocked."""
    facts = continuation(neg(11, "2026-12-01"), pos(12, "2026-12-06", recorded_at=recorded("2026-12-06")),
                         neg(13, "2026-12-08", recorded_at=recorded("2026-12-08")))
    decision = evaluate(facts, policy=IPLEDGE_2026, now=NOW)
    gate = decision.gate("pregnancy_test")
    assert decision.outcome == "blocked"
    assert (gate.status, gate.code) == (FAIL, "PREGNANCY_TEST_POSITIVE")
    assert "2026-12-06" in gate.message and "test 12" in gate.message
    assert "pregnancy_excluded" in gate.unblock and "entered in error" in gate.unblock
    assert gate.evidence["positive_pregnancy_test"] == [12]


@pytest.mark.parametrize("category", [True, False, None])
def test_a_positive_locks_whatever_the_category(category):
    facts = continuation(pos(12, "2026-12-06"), patient={"can_get_pregnant": category})
    gate = run("pregnancy_test", facts)
    assert (gate.status, gate.code if category is not None else codes(gate)[-1]) == (FAIL, "PREGNANCY_TEST_POSITIVE")


POSITIVE = pos(12, "2026-12-02", recorded_at=recorded("2026-12-03"))


@pytest.mark.parametrize(("cleared", "locked"), [
    (clearance(60, "2026-12-02", recorded_at=recorded("2026-12-04")), False),  # the positive's own day
    (clearance(60, "2026-12-01", recorded_at=recorded("2026-12-04")), True),  # dated the day before it
    (clearance(60, "2026-12-02", recorded_at=recorded("2026-12-03", "14:59")), True),  # recorded before it
    (clearance(60, "2026-12-02", recorded_at=recorded("2026-12-03", "15:01")), False),  # recorded after it
    (clearance(60, "2026-12-03", note=None, recorded_at=recorded("2026-12-04")), True),  # no note
    (clearance(60, "2026-12-03", note="   ", recorded_at=recorded("2026-12-04")), True),
    (clearance(60, "2026-12-03", error=True, recorded_at=recorded("2026-12-04")), True),  # entered in error
    (clearance(60, "2026-12-11", recorded_at=recorded("2026-12-04")), True),  # dated after today
    (att(60, "counseling", "2026-12-05", recorded_at=recorded("2026-12-05")), True),  # not a clearance
])
def test_only_the_prescribers_clearance_after_the_positive_unlocks(cleared, locked):
    facts = continuation(neg(11, "2026-11-25"), POSITIVE, neg(13, "2026-12-08", recorded_at=recorded("2026-12-08")),
                         attestations=all_attestations() + (cleared,))
    gate = run("pregnancy_test", facts)
    assert ("PREGNANCY_TEST_POSITIVE" in codes(gate)) is locked
    if not locked:
        assert gate.evidence["attestation"] == 60  # the decision cites the clearance


def test_every_positive_needs_its_clearance():
    later = pos(14, "2026-12-06", recorded_at=recorded("2026-12-06"))
    facts = continuation(POSITIVE, later, neg(13, "2026-12-08", recorded_at=recorded("2026-12-08")),
                         attestations=all_attestations() + (clearance(60, "2026-12-02", recorded_at=recorded("2026-12-04")),))
    gate = run("pregnancy_test", facts)
    assert gate.evidence["positive_pregnancy_test"] == [14]


def test_after_a_clearance_the_next_dispense_starts_a_new_course_with_later_tests():
    """The continuation's tests do not carry across the positive: the first dispense on or after the
    clearance needs a screening and a confirmatory, both collected after the positive's day."""
    facts = continuation(neg(11, "2026-11-10"), POSITIVE, neg(13, "2026-12-08", recorded_at=recorded("2026-12-08")),
                         attestations=all_attestations() + (clearance(60, "2026-12-03", recorded_at=recorded("2026-12-04")),))
    gate = run("pregnancy_test", facts)
    assert (gate.status, gate.code) == (FAIL, "SCREENING_TEST_MISSING")
    assert gate.evidence["first_of_course"] is True


def test_a_cleared_first_dispense_passes_on_two_tests_after_the_positive():
    positive = pos(12, "2026-11-01", recorded_at=recorded("2026-11-02"))
    facts = continuation(positive, neg(13, "2026-11-02"), neg(14, "2026-11-21"),
                         attestations=all_attestations() + (clearance(60, "2026-11-02", recorded_at=recorded("2026-11-03")),),
                         prior_dispenses=())
    at_day = plus("2026-11-21", 2)
    gate = run("pregnancy_test", replace(facts, attestations=(
        att(51, "contraception", "2026-11-20", ("iud", "male_condom")),) + facts.attestations[1:]), now=at(at_day))
    assert (gate.status, gate.code) == (PASS, "PREGNANCY_TEST_CURRENT")
    assert gate.evidence["pregnancy_test"] == [14, 13]
    # The screening collected the positive's own day would not count.
    same_day = replace(facts, pregnancy_tests=(positive, neg(13, "2026-11-01"), neg(14, "2026-11-21")))
    assert run("pregnancy_test", same_day, now=at(at_day)).code == "SCREENING_TEST_MISSING"


def test_eu_a_positive_locks_and_a_cleared_one_needs_a_later_test():
    written = d("2026-12-08")
    locked = eu_facts(pregnancy_tests=(pos(16, "2026-12-05"), neg(17, "2026-12-06", clia=None)))
    gate = run("pregnancy_test", locked, policy=EU, now=at(TODAY, zone=PARIS))
    assert gate.code == "PREGNANCY_TEST_POSITIVE"
    cleared = replace(locked, attestations=locked.attestations + (clearance(60, "2026-12-05"),))
    assert run("pregnancy_test", cleared, policy=EU, now=at(TODAY, zone=PARIS)).status is PASS
    same_day = replace(cleared, pregnancy_tests=(pos(16, "2026-12-06"), neg(17, "2026-12-06", clia=None)))
    gate = run("pregnancy_test", replace(same_day, attestations=locked.attestations + (clearance(60, "2026-12-06"),)),
               policy=EU, now=at(TODAY, zone=PARIS))
    assert gate.code == "PREGNANCY_TEST_MISSING"
    assert written.isoformat() in gate.unblock


# --- 2. a continuation must be seen --------------------------------------------------------------------

def test_declared_continuation_without_a_seen_dispense_needs_first_dispense_tests():
    """Finding 2: no dispense on record, first_of_course false, one home test: blocked, not a warning."""
    facts = make_facts(pregnancy_tests=(neg(17, "2026-12-08", setting="home"),),
                       prescription={"first_of_course": False}, patient={"home_pregnancy_tests_allowed": True})
    decision = evaluate(facts, policy=IPLEDGE_2026, now=NOW)
    gate = decision.gate("pregnancy_test")
    assert decision.outcome == "blocked"
    assert codes(gate) == ["HOME_TEST_NOT_ACCEPTED", "CONTINUATION_NOT_SEEN"]
    assert "Record the earlier dispense as a transfer-in, or the tests a first dispense needs." in gate.unblock


@pytest.mark.parametrize(("transferred_on", "first"), [
    ("2026-10-26", False),  # 45 days before today: the course continues
    ("2026-10-25", True),  # 46 days: a new course
])
def test_a_transfer_in_counts_as_a_seen_dispense(transferred_on, first):
    facts = make_facts(pregnancy_tests=(neg(17, "2026-12-08", setting="home"),),
                       patient={"home_pregnancy_tests_allowed": True},
                       prior_dispenses=(transfer_in(7, transferred_on),))
    gate = run("pregnancy_test", facts)
    assert gate.evidence["first_of_course"] is first
    assert gate.status is (FAIL if first else PASS)


def test_a_continuation_caps_dispense_by_at_its_last_day():
    """Last seen dispense 2026-10-27: the course continues through 2026-12-11, one day before the
    test's window ends; dispense_by is that day, named after the transfer-in."""
    facts = make_facts(pregnancy_tests=(neg(17, "2026-12-06"),), prior_dispenses=(transfer_in(7, "2026-10-27"),))
    decision = evaluate(facts, policy=IPLEDGE_2026, now=NOW)
    assert decision.outcome == "authorized"
    assert decision.dispense_by_source == {"gate": "pregnancy_test", "evidence": "transfer_in:7",
                                           "last_day": "2026-12-11"}
    assert decision.dispense_by.isoformat() == "2026-12-12T04:59:59+00:00"


def test_early_refill_counts_a_transfer_in():
    facts = make_facts(prior_dispenses=(transfer_in(7, "2026-11-20"),))  # covers through 12-19
    assert "EARLY_REFILL" in codes(run("prescription", facts))
    facts = make_facts(prior_dispenses=(transfer_in(7, "2026-11-17"),))  # covers through 12-16: 6 days
    assert "EARLY_REFILL" not in codes(run("prescription", facts))


# --- 3. EU PPP contraception ---------------------------------------------------------------------------

@pytest.mark.parametrize(("methods", "ok"), [
    (("hormonal_pill",), False),  # finding 3: the pill alone
    (("hormonal_pill", "male_condom"), True),
    (("hormonal_ring", "diaphragm"), True),
    (("iud",), True),
    (("implant",), True),
    (("partner_vasectomy",), True),
    (("tubal_sterilization",), True),
    (("male_condom", "diaphragm"), False),  # two barriers
    (("hormonal_pill", "hormonal_patch"), False),  # two hormonal methods
    (("abstinence",), False),
    (("abstinence", "iud"), True),
])
def test_eu_contraception_wants_a_user_independent_method_or_hormonal_with_barrier(methods, ok):
    facts = eu_facts(attestations=(att(51, "contraception", "2026-12-01", methods), att(52, "comprehension", "2026-12-01"),
                                   att(53, "counseling", "2026-12-01")))
    gate = run("contraception", facts, policy=EU, now=at(TODAY, zone=PARIS))
    assert (gate.status is PASS) is ok
    if not ok:
        assert gate.code == "CONTRACEPTION_METHODS_INSUFFICIENT"
        assert "barrier" in gate.unblock


def test_ipledge_still_takes_the_pill_with_a_condom_and_abstinence_alone():
    assert method_problem(("hormonal_pill", "male_condom"), IPLEDGE_2026.contraception_rule) is None
    assert method_problem(("abstinence",), IPLEDGE_2026.contraception_rule) is None


# --- 7. ipledge-2021/2023 lockout ---------------------------------------------------------------------

@pytest.mark.parametrize("policy", [IPLEDGE_2021, IPLEDGE_2023])
def test_a_retest_inside_a_lockout_does_not_extend_it(policy):
    """Screening 10-01, confirmatory 10-20 opens a window through 10-26 that is missed: lockout until
    11-08. A retest on 10-30 (inside the lockout) opened nothing, so a confirmatory on 11-08 passes."""
    tests = (neg(10, "2026-10-01"), neg(11, "2026-10-20"), neg(12, "2026-10-30"), neg(13, "2026-11-08"))
    gate = run("pregnancy_test", make_facts(pregnancy_tests=tests), policy=policy, now=at("2026-11-09"))
    assert (gate.status, gate.code) == (PASS, "PREGNANCY_TEST_CURRENT")
    early = tests[:3] + (neg(13, "2026-11-07"),)  # one day inside the lockout
    gate = run("pregnancy_test", make_facts(pregnancy_tests=early), policy=policy, now=at("2026-11-09"))
    assert gate.code == "PREGNANCY_TEST_MISSED_WINDOW_LOCKOUT"
    assert "on or after 2026-11-08" in gate.unblock


def test_a_missed_window_of_a_continuation_sets_no_lockout():
    """Dispensed 09-25; a test on 10-25 (screening 10-01) opened a continuation window, not a
    first-dispense one, and it was missed. By 11-12 the course has lapsed (48 days): a first dispense
    on a confirmatory of 11-10 passes; counting a lockout from 10-25 would have pushed it to 11-13."""
    tests = (neg(10, "2026-10-01"), neg(11, "2026-10-25"), neg(13, "2026-11-10"))
    facts = make_facts(pregnancy_tests=tests, prior_dispenses=(dispense(80, "2026-09-25"),))
    gate = run("pregnancy_test", facts, policy=IPLEDGE_2021, now=at("2026-11-12"))
    assert (gate.status, gate.code) == (PASS, "PREGNANCY_TEST_CURRENT")
    assert gate.evidence["first_of_course"] is True
    # Without the earlier dispense the same 10-25 test opened a first-dispense window: locked out.
    gate = run("pregnancy_test", make_facts(pregnancy_tests=tests), policy=IPLEDGE_2021, now=at("2026-11-12"))
    assert gate.code == "PREGNANCY_TEST_MISSED_WINDOW_LOCKOUT"


# --- 9. prescription currency ------------------------------------------------------------------------

@pytest.mark.parametrize(("written_on", "status"), [
    ("2026-11-11", PASS),  # day 30 of the prescription is today
    ("2026-11-10", FAIL),  # day 31
])
@pytest.mark.parametrize("policy", [IPLEDGE_2021, IPLEDGE_2023, IPLEDGE_2026])
def test_a_months_old_prescription_is_not_dispensed_on_a_fresh_test(written_on, status, policy):
    """Finding 9: written five months ago, fresh test: blocked; at the 30-day boundary exactly."""
    gate = run("prescription", make_facts(prescription={"written_on": d(written_on)}), policy=policy)
    assert gate.status is status
    if status is FAIL:
        assert gate.code == "PRESCRIPTION_NOT_CURRENT"
    five_months = run("prescription", make_facts(prescription={"written_on": d("2026-07-10")}), policy=policy)
    assert five_months.code == "PRESCRIPTION_NOT_CURRENT"


def test_currency_names_the_prescription_in_dispense_by_and_a_tie_goes_to_the_test():
    # Written 11-11: current through 12-10; the test of 12-05 runs through 12-11.
    decision = evaluate(make_facts(prescription={"written_on": d("2026-11-11")}), policy=IPLEDGE_2026, now=NOW)
    assert decision.dispense_by_source == {"gate": "prescription", "evidence": "prescription:5", "last_day": "2026-12-10"}
    # Written 11-12: current through 12-11, the same day as the test: the test is named.
    decision = evaluate(make_facts(prescription={"written_on": d("2026-11-12")}), policy=IPLEDGE_2026, now=NOW)
    assert decision.dispense_by_source["evidence"] == "pregnancy_test:17"


def test_a_patient_who_cannot_get_pregnant_has_the_same_currency():
    facts = make_facts(patient={"can_get_pregnant": False}, prescription={"written_on": d("2026-11-10")})
    assert run("prescription", facts).code == "PRESCRIPTION_WINDOW_EXPIRED"
    facts = make_facts(patient={"can_get_pregnant": False}, prescription={"written_on": d("2026-11-11")})
    assert run("prescription", facts).status is PASS


# --- 4. the RMA's date is required under iPLEDGE -------------------------------------------------------

def test_ipledge_wants_the_rmas_date_too():
    from .builders import rma
    facts = make_facts(stage="dispense", dispense_quantity=30, rma=rma("R-9"))
    gate = run("rems_authorization", facts)
    assert (gate.status, gate.code) == (FAIL, "RMA_MISSING")
    assert "do-not-dispense-after" in gate.message


def test_baseline_still_authorizes_under_each_ipledge_version():
    for policy in (IPLEDGE_2021, IPLEDGE_2023, IPLEDGE_2026):
        assert evaluate(BASE, policy=policy, now=NOW).outcome == "authorized", policy.name


# --- 8. a bare 10-digit NDC ---------------------------------------------------------------------------

def test_a_bare_ten_digit_ndc_of_a_listed_product_gets_its_strength_checked():
    """Finding 8: "0591243415" is 0591-2434-15 (20 mg): a 40 mg prescription fails, not a warning."""
    gate = run("prescription", make_facts(prescription={"ndc": "0591243415", "strength_mg": Decimal("40")}))
    assert (gate.status, gate.code) == (FAIL, "NDC_STRENGTH_MISMATCH")
    assert run("prescription", make_facts(prescription={"ndc": "0591243415"})).status is PASS


def test_a_bare_ndc_that_reads_as_two_listed_products_fails_as_contradictory(monkeypatch):
    from importlib import resources

    from pharmsafe.gates import ndc as ndc_module

    shipped = resources.files("pharmsafe.reference").joinpath("isotretinoin-products.csv").read_text("utf-8")
    extra = "5965-1635,5965-1635-03,,Hypothetical,Example Labeler,40,CAPSULE,,for this test\n"
    reference = ndc_module._load_reference(shipped + extra)
    monkeypatch.setattr(ndc_module, "_reference", lambda: reference)
    decision = evaluate(make_facts(prescription={"ndc": "5965163503"}), policy=IPLEDGE_2026, now=NOW)
    gate = decision.gate("prescription")
    assert decision.outcome == "blocked"
    assert (gate.status, gate.code) == (FAIL, "NDC_AMBIGUOUS")
    assert "hyphens" in gate.unblock
