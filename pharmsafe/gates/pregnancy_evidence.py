"""Pregnancy tests as the rules see them (rulebook §2): the lock a positive sets, which tests are
negative, and which count for this dispense.

A test entered in error never counts. A positive test locks the patient, whatever the category and
whatever negatives follow it, until the prescriber records a ``pregnancy_excluded`` clearance dated
on or after the positive's collection date, recorded after the positive was recorded, with a note.
Once cleared, only negatives collected on a later day than the positive can qualify. Negative tests
dated after today are set aside (and named in messages); an unreadable result is never set aside: it
blocks when it falls on or after the earliest test the decision relies on (fail closed).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pharmsafe.gates.context import Context
from pharmsafe.gates.dates import instant_key
from pharmsafe.gates.facts import AttestationFacts, Facts, PregnancyTestFacts
from pharmsafe.gates.results import Finding
from pharmsafe.gates.verdict import fail, ignored_future

GATE = "pregnancy_test"
CLEARANCE = "pregnancy_excluded"


def order(test: PregnancyTestFacts):
    return (test.specimen_collected_on, instant_key(test.recorded_at), test.id)


def result_of(test: PregnancyTestFacts) -> str:
    return (test.result or "").strip().lower()


def setting_of(test: PregnancyTestFacts) -> str:
    return (test.setting or "").strip().lower()


def has_clia(test: PregnancyTestFacts) -> bool:
    return bool((test.clia_number or "").strip())


def clears(attestation: AttestationFacts, positive: PregnancyTestFacts, today: date) -> bool:
    """A clearance counts for a positive when it is the prescriber's pregnancy_excluded attestation,
    with a note, dated on or after the positive's collection date (and not after today), and recorded
    after the positive was recorded: a clearance written before the positive was known is no review
    of it."""
    return ((attestation.kind or "").strip().lower() == CLEARANCE
            and not attestation.entered_in_error
            and bool((attestation.note or "").strip())
            and positive.specimen_collected_on <= attestation.attested_on <= today
            and instant_key(attestation.recorded_at) > instant_key(positive.recorded_at))


def _clearance_order(attestation: AttestationFacts):
    return (attestation.attested_on, instant_key(attestation.recorded_at), attestation.id)


@dataclass(frozen=True)
class Lock:
    """The positives on record and what the prescriber has done about them."""
    positives: tuple[PregnancyTestFacts, ...]  # not in error, any date, newest first
    uncleared: tuple[PregnancyTestFacts, ...]  # those no clearance covers, newest first
    # The clearance of the latest positive, once every positive is cleared.
    clearance: AttestationFacts | None

    @classmethod
    def of(cls, facts: Facts, today: date) -> Lock:
        positives = sorted((t for t in facts.pregnancy_tests
                            if not t.entered_in_error and result_of(t) == "positive"), key=order, reverse=True)
        uncleared, clearance = [], None
        for positive in positives:
            covering = [a for a in facts.attestations if clears(a, positive, today)]
            if not covering:
                uncleared.append(positive)
            elif positive is positives[0]:
                clearance = min(covering, key=_clearance_order)
        return cls(positives=tuple(positives), uncleared=tuple(uncleared),
                   clearance=None if uncleared else clearance)

    @property
    def locked(self) -> bool:
        return bool(self.uncleared)

    @property
    def latest_positive(self) -> PregnancyTestFacts | None:
        return self.positives[0] if self.positives else None

    @property
    def negatives_after(self) -> date | None:
        """Negatives must be collected on a later day than this (the latest positive's date)."""
        latest = self.latest_positive
        return latest.specimen_collected_on if latest else None

    def findings(self, today: date) -> list[Finding]:
        return [locked_by(test, today) for test in self.uncleared]

    def evidence(self) -> dict:
        refs: dict = {}
        if self.uncleared:
            refs["positive_pregnancy_test"] = [t.id for t in self.uncleared]
        if self.clearance is not None:
            refs["attestation"] = self.clearance.id
            refs["cleared_on"] = self.clearance.attested_on.isoformat()
        return refs


def locked_by(test: PregnancyTestFacts, today: date) -> Finding:
    day = test.specimen_collected_on.isoformat()
    dated_later = " (dated after today)" if test.specimen_collected_on > today else ""
    return fail(
        "PREGNANCY_TEST_POSITIVE",
        f"Positive pregnancy test collected {day}{dated_later} (test {test.id}) locks the patient; a later "
        "negative test alone does not clear it.",
        f"Two ways out: the prescriber records a pregnancy_excluded clearance dated {day} or later, with a "
        f"note saying how pregnancy was ruled out (for example a quantitative serum hCG); or the prescriber "
        f"marks test {test.id} entered in error if it was recorded by mistake.",
    )


@dataclass(frozen=True)
class Tests:
    negatives: tuple[PregnancyTestFacts, ...]  # not in error, not after today, after the latest positive
    unclear: tuple[PregnancyTestFacts, ...]  # unreadable results, not in error, any date
    future: tuple[PregnancyTestFacts, ...]  # negatives dated after today, ignored

    @classmethod
    def of(cls, facts: Facts, today: date, after: date | None = None) -> Tests:
        valid = [t for t in facts.pregnancy_tests if not t.entered_in_error]
        negatives = [t for t in valid if result_of(t) == "negative"
                     and (after is None or t.specimen_collected_on > after)]
        return cls(
            negatives=tuple(t for t in negatives if t.specimen_collected_on <= today),
            unclear=tuple(t for t in valid if result_of(t) not in ("negative", "positive")),
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
    """An unreadable result: it blocks until corrected or withdrawn."""
    day = test.specimen_collected_on.isoformat()
    dated_later = " (dated after today)" if test.specimen_collected_on > today else ""
    return fail(
        "PREGNANCY_TEST_RESULT_UNKNOWN",
        f"Pregnancy test {test.id} collected {day}{dated_later} has an unreadable result {test.result!r}.",
        f"Correct the result of pregnancy test {test.id} (collected {day}) or mark it entered in error.",
    )
