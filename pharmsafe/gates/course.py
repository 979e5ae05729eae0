"""Courses and earlier dispenses (rulebook §2, "First dispense of a course" and "Early refill").

A dispense on date T starts a course when the prescription says so; when it does not say, when the
patient has no earlier dispense or the latest one, dated P, has T - P > new_course_gap_days.
Dispenses dated after T are left out of that rule (they would make a first dispense look like a
continuation, and a continuation needs fewer tests), but they do count against an early refill:
both choices are the stricter one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pharmsafe.gates.dates import days_before, last_day
from pharmsafe.gates.facts import DispenseFacts, Facts
from pharmsafe.gates.policy import Policy


@dataclass(frozen=True)
class Course:
    first: bool
    by_rule: bool
    declared: bool | None
    latest_prior: DispenseFacts | None

    @property
    def continuation_not_seen(self) -> bool:
        """The prescriber says "continuation" where this pharmacy's records say "first"."""
        return self.declared is False and self.by_rule


def course_of(facts: Facts, policy: Policy, today: date) -> Course:
    earlier = [d for d in facts.prior_dispenses if d.dispensed_on <= today]
    latest_prior = max(earlier, key=lambda d: (d.dispensed_on, d.id), default=None)
    by_rule = latest_prior is None or (today - latest_prior.dispensed_on).days > policy.new_course_gap_days
    declared = facts.prescription.first_of_course
    return Course(first=by_rule if declared is None else declared, by_rule=by_rule,
                  declared=declared, latest_prior=latest_prior)


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
    from covered_through - early_refill_days. The dispense covering furthest is used, which is the
    latest one in any consistent record.
    """
    if not facts.prior_dispenses:
        return None
    binding = max(facts.prior_dispenses, key=lambda d: (covered_through(d), d.dispensed_on, d.id))
    return days_before(covered_through(binding), policy.early_refill_days), binding
