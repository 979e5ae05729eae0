"""Courses and earlier dispenses (rulebook §2, "First dispense of a course" and "Early refill").

A dispense is seen when PharmSafe recorded it or a pharmacist recorded it as a transfer-in; reversed
dispenses and transfers-in entered in error never reach the facts. A dispense on date T is the first
of a course when the patient has no earlier seen dispense, or the latest one, dated P, has
T - P > new_course_gap_days; when the prescription says ``first_of_course: true``; or when it is the
first dispense dated on or after the prescriber's clearance of a positive test. ``first_of_course:
false`` never makes a first dispense a continuation: a continuation must be seen.

Dispenses dated after T are left out of the course rule (they would make a first dispense look like
a continuation, and a continuation needs fewer tests), but they do count against an early refill:
both choices are the stricter one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pharmsafe.gates.dates import days_after, days_before, last_day
from pharmsafe.gates.facts import DispenseFacts, Facts
from pharmsafe.gates.policy import Policy


@dataclass(frozen=True)
class Course:
    first: bool
    by_rule: bool
    declared: bool | None
    latest_prior: DispenseFacts | None
    # The first dispense on or after a clearance starts a new course whatever the history.
    after_clearance: bool = False
    # A continuation stays one through this day (latest seen dispense + the course gap).
    continuation_last_day: date | None = None

    @property
    def continuation_not_seen(self) -> bool:
        """The prescriber says "continuation" where the seen dispenses say "first"."""
        return self.declared is False and self.by_rule


def seen_on_or_before(facts: Facts, day: date) -> list[DispenseFacts]:
    return [d for d in facts.prior_dispenses if d.dispensed_on <= day]


def starts_course_on(facts: Facts, policy: Policy, day: date) -> bool:
    """Whether a dispense on ``day`` would be the first of a course by the seen dispenses alone."""
    latest_prior = max(seen_on_or_before(facts, day), key=lambda d: (d.dispensed_on, d.id), default=None)
    return latest_prior is None or (day - latest_prior.dispensed_on).days > policy.new_course_gap_days


def course_of(facts: Facts, policy: Policy, today: date, cleared_on: date | None = None) -> Course:
    earlier = seen_on_or_before(facts, today)
    latest_prior = max(earlier, key=lambda d: (d.dispensed_on, d.id), default=None)
    by_rule = latest_prior is None or (today - latest_prior.dispensed_on).days > policy.new_course_gap_days
    after_clearance = cleared_on is not None and not any(d.dispensed_on >= cleared_on for d in earlier)
    declared = facts.prescription.first_of_course
    first = by_rule or declared is True or after_clearance
    continuation_last_day = None if first else days_after(latest_prior.dispensed_on, policy.new_course_gap_days)
    return Course(first=first, by_rule=by_rule, declared=declared, latest_prior=latest_prior,
                  after_clearance=after_clearance, continuation_last_day=continuation_last_day)


def course_matters(policy: Policy) -> bool:
    """Whether first and later dispenses are judged differently under this policy at all."""
    return (policy.first_course_tests > 1
            or policy.first_course_requires_clia != policy.later_requires_clia
            or policy.home_tests_allowed
            or policy.missed_window_lockout_days is not None)


def covered_through(dispense: DispenseFacts) -> date:
    """A dispense dated P with S days of supply covers P .. P+S-1."""
    return last_day(dispense.dispensed_on, dispense.days_supply)


def refill_allowed_from(facts: Facts, policy: Policy) -> tuple[date, DispenseFacts] | None:
    """The first date a new dispense is allowed, and the dispense that sets it.

    A new dispense on T is refused while covered_through - T > early_refill_days, so it is allowed
    from covered_through - early_refill_days. Every seen dispense counts (transfers-in too); the one
    covering furthest binds.
    """
    if not facts.prior_dispenses:
        return None
    binding = max(facts.prior_dispenses, key=lambda d: (covered_through(d), d.dispensed_on, d.id))
    return days_before(covered_through(binding), policy.early_refill_days), binding
