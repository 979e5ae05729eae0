"""What every gate derives from its arguments: the policy's zone and "today" in it.

The dispense date T of the rulebook is ``now`` converted to the policy's zone (rulebook §1).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from pharmsafe.gates.dates import local_date, local_day_end, policy_zone, require_aware
from pharmsafe.gates.facts import Facts
from pharmsafe.gates.policy import Policy
from pharmsafe.gates.results import CurrentUntil


@dataclass(frozen=True)
class Context:
    facts: Facts
    policy: Policy
    now: datetime
    zone: ZoneInfo
    today: date

    def until(self, day: date, evidence: str) -> CurrentUntil:
        """Evidence that counts through ``day`` stops at 23:59:59 of that day in the policy zone."""
        return CurrentUntil(instant=local_day_end(day, self.zone), evidence=evidence, last_day=day)


def make_context(facts: Facts, policy: Policy, now: datetime) -> Context:
    require_aware(now)
    zone = policy_zone(policy, facts.pharmacy.time_zone)
    return Context(facts=facts, policy=policy, now=now, zone=zone, today=local_date(now, zone))
