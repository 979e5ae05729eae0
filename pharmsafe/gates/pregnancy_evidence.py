"""Pregnancy tests as the rules see them (rulebook §2): which are negative, which block, and which
count for this dispense.

A test entered in error never counts. Negative tests dated after today are set aside (and named in
messages); a positive or unreadable result is never set aside, whatever its date: it blocks when it
falls on or after the earliest test the decision relies on (fail closed).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pharmsafe.gates.context import Context
from pharmsafe.gates.dates import instant_key
from pharmsafe.gates.facts import Facts, PregnancyTestFacts
from pharmsafe.gates.results import Finding
from pharmsafe.gates.verdict import fail, ignored_future

GATE = "pregnancy_test"


def order(test: PregnancyTestFacts):
    return (test.specimen_collected_on, instant_key(test.recorded_at), test.id)


def result_of(test: PregnancyTestFacts) -> str:
    return (test.result or "").strip().lower()


def setting_of(test: PregnancyTestFacts) -> str:
    return (test.setting or "").strip().lower()


def has_clia(test: PregnancyTestFacts) -> bool:
    return bool((test.clia_number or "").strip())


@dataclass(frozen=True)
class Tests:
    negatives: tuple[PregnancyTestFacts, ...]  # not in error, not after today
    unclear: tuple[PregnancyTestFacts, ...]  # positive or unreadable, not in error, any date
    future: tuple[PregnancyTestFacts, ...]  # negatives dated after today, ignored

    @classmethod
    def of(cls, facts: Facts, today: date) -> Tests:
        valid = [t for t in facts.pregnancy_tests if not t.entered_in_error]
        negatives = [t for t in valid if result_of(t) == "negative"]
        return cls(
            negatives=tuple(t for t in negatives if t.specimen_collected_on <= today),
            unclear=tuple(t for t in valid if result_of(t) != "negative"),
            future=tuple(t for t in negatives if t.specimen_collected_on > today),
        )

    def medical(self) -> list[PregnancyTestFacts]:
        return [t for t in self.negatives if setting_of(t) == "medical"]

    def unclear_since(self, day: date | None) -> list[PregnancyTestFacts]:
        found = [t for t in self.unclear if day is None or t.specimen_collected_on >= day]
        return sorted(found, key=order, reverse=True)

    def future_note(self) -> str:
        return ignored_future("pregnancy test", [(t.id, t.specimen_collected_on) for t in self.future])


def not_counted(ctx: Context, test: PregnancyTestFacts, first: bool) -> tuple[str, str] | None:
    """Why a negative test does not count for this dispense (code, reason), or None if it does."""
    policy, patient = ctx.policy, ctx.facts.patient
    setting = setting_of(test)
    if setting == "home":
        if first:
            return "HOME_TEST_NOT_ACCEPTED", "the first dispense of a course needs a test in a medical setting"
        if not policy.home_tests_allowed:
            return "HOME_TEST_NOT_ACCEPTED", f"{policy.name} does not accept home tests"
        if not patient.home_pregnancy_tests_allowed:
            return "HOME_TEST_NOT_ACCEPTED", "the prescriber has not allowed home tests for this patient"
    elif setting != "medical":
        return "PREGNANCY_TEST_SETTING_UNKNOWN", f"its setting {test.setting!r} is neither medical nor home"
    if (policy.first_course_requires_clia if first else policy.later_requires_clia) and not has_clia(test):
        return "PREGNANCY_TEST_CLIA_MISSING", f"{policy.name} requires a CLIA number on this test"
    return None


def wanted(ctx: Context, first: bool, confirmatory: bool) -> str:
    """How to describe the test that would unblock, e.g. "a negative confirmatory pregnancy test
    in a medical setting with a CLIA number"."""
    policy, patient = ctx.policy, ctx.facts.patient
    words = "a negative confirmatory pregnancy test" if confirmatory else "a negative pregnancy test"
    home_ok = not first and policy.home_tests_allowed and patient.home_pregnancy_tests_allowed
    if not home_ok:
        words += " in a medical setting"
    if policy.first_course_requires_clia if first else policy.later_requires_clia:
        words += " with a CLIA number"
    return words


def blocker(test: PregnancyTestFacts, today: date) -> Finding:
    day = test.specimen_collected_on.isoformat()
    dated_later = " (dated after today)" if test.specimen_collected_on > today else ""
    if result_of(test) == "positive":
        return fail(
            "PREGNANCY_TEST_POSITIVE",
            f"Positive pregnancy test collected {day}{dated_later} (test {test.id}).",
            f"The positive test of {day} blocks dispensing until the prescriber reviews it; only negative "
            f"tests collected after {day} can qualify (mark it entered in error if it was recorded by mistake).",
        )
    return fail(
        "PREGNANCY_TEST_RESULT_UNKNOWN",
        f"Pregnancy test {test.id} collected {day}{dated_later} has an unreadable result {test.result!r}.",
        f"Correct the result of pregnancy test {test.id} (collected {day}) or mark it entered in error.",
    )
