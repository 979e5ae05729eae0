"""The iPLEDGE pregnancy-test rule (rulebook §2): a qualifying test current for 7 days on the
dispense date; for the first dispense of a course also a screening test at least 19 days earlier.

A continuation stays one only through its last day (latest seen dispense + the course gap), and that
day caps the gate's "current until", so a continuation never turns into a refused first dispense
between evaluation and dispense.

ipledge-2021/2023 missed-window lockout (first dispense only; rulebook §7 item 9): walking the tests
in collection order, a test opens a first-dispense window only if it could have been the confirmatory
(it counts for a first dispense and, where two tests are required, has its own screening test), and
on its collection date the patient was starting a course (no seen dispense within the course gap) and
was not inside a running lockout. A window that ended before the current confirmatory was collected,
with no dispense inside it, is missed: the next confirmatory must be collected at least
``missed_window_lockout_days`` after the test that opened it. A retest taken inside a lockout opens
nothing, so it never extends the lockout.
"""
from __future__ import annotations

from datetime import date

from pharmsafe.gates.context import Context
from pharmsafe.gates.course import Course, course_matters, starts_course_on
from pharmsafe.gates.dates import days_after, days_before, is_current, last_day
from pharmsafe.gates.facts import PregnancyTestFacts
from pharmsafe.gates.pregnancy_evidence import GATE, Lock, Tests, blocker, not_counted, order, wanted
from pharmsafe.gates.results import Finding, GateResult, Status
from pharmsafe.gates.verdict import conclude, fail, latest, one_or_many, passed


def _continuation_not_seen(ctx: Context, course: Course) -> Finding:
    gap = ctx.policy.new_course_gap_days
    if course.latest_prior is None:
        seen = "no earlier dispense to this patient is on record"
    else:
        seen = (f"the latest dispense on record is of {course.latest_prior.dispensed_on.isoformat()}, "
                f"more than {gap} days ago")
    return fail(
        "CONTINUATION_NOT_SEEN",
        f"The prescription says it continues a course, but {seen}; the first-dispense rules apply.",
        "Record the earlier dispense as a transfer-in, or the tests a first dispense needs.",
    )


def _screening_for(ctx: Context, tests: Tests, confirmatory_on: date) -> PregnancyTestFacts | None:
    gap = ctx.policy.screening_to_confirmatory_min_days
    return latest((t for t in tests.medical() if (confirmatory_on - t.specimen_collected_on).days >= gap), order)


def _missed_window(ctx: Context, tests: Tests, course: Course, window_days: int,
                   ended_before: date) -> PregnancyTestFacts | None:
    """The test that opened the latest first-dispense window which ended before ``ended_before``
    with no dispense inside it (see the module docstring)."""
    policy, facts = ctx.policy, ctx.facts
    lockout = policy.missed_window_lockout_days
    if not course.first or lockout is None:
        return None
    dispensed = [d.dispensed_on for d in facts.prior_dispenses]
    missed: PregnancyTestFacts | None = None
    for test in sorted(tests.negatives, key=order):
        start = test.specimen_collected_on
        end = last_day(start, window_days)
        if end >= ended_before:
            break
        if not_counted(ctx, test, first=True):
            continue
        if policy.first_course_tests >= 2 and _screening_for(ctx, tests, start) is None:
            continue
        if not starts_course_on(facts, policy, start):
            continue
        if missed is not None and (start - missed.specimen_collected_on).days < lockout:
            continue
        if any(start <= day <= end for day in dispensed):
            continue
        missed = test
    return missed


def _with_course(ctx: Context, course: Course, problems: list[Finding]) -> list[Finding]:
    if course.continuation_not_seen and course_matters(ctx.policy) and any(
            p.status is Status.FAIL for p in problems):
        return problems + [_continuation_not_seen(ctx, course)]
    return problems


def judge_ipledge(ctx: Context, tests: Tests, course: Course, lock: Lock) -> GateResult:
    policy, today = ctx.policy, ctx.today
    first = course.first
    window_days = min(policy.test_current_days, policy.cgp_window_days)
    needs_screening = first and policy.first_course_tests >= 2
    counting = [t for t in tests.negatives if not_counted(ctx, t, first) is None]
    qualifying = latest((t for t in counting if is_current(t.specimen_collected_on, window_days, today)), order)
    if qualifying is None:
        return _no_qualifying_ipledge(ctx, tests, course, lock, counting, window_days)

    problems: list[Finding] = []
    relied = [qualifying]
    collected = qualifying.specimen_collected_on
    screening = _screening_for(ctx, tests, collected) if needs_screening else None
    if needs_screening and screening is None:
        problems.append(_screening_missing(ctx, tests, qualifying))
    if screening is not None:
        relied.append(screening)
    missed = _missed_window(ctx, tests, course, window_days, ended_before=collected)
    lockout = policy.missed_window_lockout_days
    if missed is not None and lockout is not None and (collected - missed.specimen_collected_on).days < lockout:
        problems.append(_lockout_finding(ctx, missed, window_days, lockout))
    since = min(t.specimen_collected_on for t in relied)
    blockers = tests.unclear_since(since)
    problems = _with_course(ctx, course, [blocker(t, today) for t in blockers] + problems)
    window_end = last_day(collected, window_days)
    evidence = {
        "pregnancy_test": one_or_many([t.id for t in relied] + [t.id for t in blockers]),
        "collected_on": collected.isoformat(),
        "window_last_day": window_end.isoformat(),
        "first_of_course": first,
        **lock.evidence(),
    }
    screening_text = ""
    if screening is not None:
        evidence["screening_collected_on"] = screening.specimen_collected_on.isoformat()
        screening_text = f" (screening test collected {evidence['screening_collected_on']})"
    until = ctx.until(window_end, f"pregnancy_test:{qualifying.id}")
    course_text = ""
    if course.continuation_last_day is not None and course.latest_prior is not None:
        # Cited, so that withdrawing the dispense this continuation rests on reverses it.
        evidence[course.latest_prior.kind] = course.latest_prior.id
        evidence["continuation_last_day"] = course.continuation_last_day.isoformat()
        course_text = (f" The course continues through {course.continuation_last_day.isoformat()} "
                       f"(dispense of {course.latest_prior.dispensed_on.isoformat()}).")
        if course.continuation_last_day < window_end:
            until = ctx.until(course.continuation_last_day, course.latest_prior.ref)
    ok = passed("PREGNANCY_TEST_CURRENT",
                f"Negative test collected {collected.isoformat()}{screening_text} is current through "
                f"{window_end.isoformat()}.{course_text}")
    return conclude(GATE, problems, ok, evidence=evidence, current_until=until)


def _screening_missing(ctx: Context, tests: Tests, qualifying: PregnancyTestFacts) -> Finding:
    gap = ctx.policy.screening_to_confirmatory_min_days
    collected = qualifying.specimen_collected_on
    earlier = [t for t in tests.medical() if t.specimen_collected_on < collected]
    start = min((t.specimen_collected_on for t in earlier), default=collected)
    retest_from = days_after(start, gap)
    unblock = (f"Record {wanted(ctx, True, True)} collected on or after {retest_from.isoformat()}, "
               f"at least {gap} days after the screening test of {start.isoformat()}.")
    if earlier:
        return fail(
            "CONFIRMATORY_TOO_EARLY",
            f"The confirmatory test of {collected.isoformat()} was collected less than {gap} days after "
            f"the screening test of {start.isoformat()}.",
            unblock,
        )
    return fail(
        "SCREENING_TEST_MISSING",
        f"The first dispense of a course needs a screening test collected at least {gap} days before the "
        f"confirmatory test of {collected.isoformat()}.",
        unblock,
    )


def _lockout_finding(ctx: Context, missed: PregnancyTestFacts, window_days: int, lockout: int) -> Finding:
    opened = missed.specimen_collected_on
    return fail(
        "PREGNANCY_TEST_MISSED_WINDOW_LOCKOUT",
        f"The first-dispense window opened by the test of {opened.isoformat()} ended on "
        f"{last_day(opened, window_days).isoformat()} without a dispense; under {ctx.policy.name} the next "
        f"confirmatory test must be collected at least {lockout} days after it.",
        f"Record {wanted(ctx, True, True)} collected on or after {days_after(opened, lockout).isoformat()}.",
    )


def _no_qualifying_ipledge(ctx: Context, tests: Tests, course: Course, lock: Lock,
                           counting: list[PregnancyTestFacts], window_days: int) -> GateResult:
    today, first = ctx.today, course.first
    problems: list[Finding] = []
    newest_negative = latest(tests.negatives, order)
    blockers = tests.unclear_since(newest_negative.specimen_collected_on if newest_negative else None)
    problems.extend(blocker(t, today) for t in blockers)
    unblock = _new_test_unblock(ctx, tests, course, lock, window_days)
    uncounted = [t for t in tests.negatives
                 if is_current(t.specimen_collected_on, window_days, today) and not_counted(ctx, t, first)]
    cited = [t.id for t in blockers]
    after_positive = ""
    if lock.latest_positive is not None:
        after_positive = (f" Only tests collected after the positive test of "
                          f"{lock.latest_positive.specimen_collected_on.isoformat()} count.")
    if uncounted:
        test = latest(uncounted, order)
        code, why = not_counted(ctx, test, first)
        problems.append(fail(code, f"Test {test.id} collected {test.specimen_collected_on.isoformat()} "
                                   f"does not count for this dispense: {why}.", unblock))
        cited.append(test.id)
    elif counting:
        test = latest(counting, order)
        ended = last_day(test.specimen_collected_on, window_days)
        problems.append(fail(
            "PREGNANCY_TEST_OUTSIDE_WINDOW",
            f"The latest negative test that counts (collected {test.specimen_collected_on.isoformat()}) was "
            f"current through {ended.isoformat()}.{tests.future_note()}",
            unblock,
        ))
        cited.append(test.id)
    else:
        problems.append(fail(
            "PREGNANCY_TEST_MISSING",
            f"No negative pregnancy test on record counts for this dispense.{after_positive}{tests.future_note()}",
            unblock,
        ))
    evidence = {"first_of_course": first, **lock.evidence()}
    if cited:
        evidence["pregnancy_test"] = one_or_many(cited)
    return conclude(GATE, _with_course(ctx, course, problems), evidence=evidence)


def _new_test_unblock(ctx: Context, tests: Tests, course: Course, lock: Lock, window_days: int) -> str:
    """The concrete test that would unblock: its kind and the earliest collection date that counts."""
    policy, today, first = ctx.policy, ctx.today, course.first
    start = days_before(today, window_days - 1)
    last_unclear = latest(tests.unclear, order)
    if last_unclear is not None:
        start = max(start, days_after(last_unclear.specimen_collected_on, 1))
    if lock.negatives_after is not None:
        start = max(start, days_after(lock.negatives_after, 1))
    missed = _missed_window(ctx, tests, course, window_days, ended_before=today)
    if missed is not None and policy.missed_window_lockout_days is not None:
        start = max(start, days_after(missed.specimen_collected_on, policy.missed_window_lockout_days))
    if not (first and policy.first_course_tests >= 2):
        return f"Record {wanted(ctx, first, False)} collected on or after {start.isoformat()}."
    gap = policy.screening_to_confirmatory_min_days
    screens = [t for t in tests.medical()
               if last_unclear is None or t.specimen_collected_on > last_unclear.specimen_collected_on]
    if not screens:
        return (f"Record a negative screening pregnancy test in a medical setting, then "
                f"{wanted(ctx, True, True)} collected at least {gap} days after it "
                f"(on or after {days_after(today, gap).isoformat()} if the screening test is collected today).")
    start = max(start, min(days_after(t.specimen_collected_on, gap) for t in screens))
    return f"Record {wanted(ctx, True, True)} collected on or after {start.isoformat()}."
