"""What every use case is handed: the session, who acts, the instant, and the program settings."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType

from sqlalchemy.orm import Session

from pharmsafe.audit.chain import SOURCE_KEY
from pharmsafe.gates.dates import local_date
from pharmsafe.gates.policies import POLICIES, program_time_zone, select_policy, with_effective_dates
from pharmsafe.gates.policy import Policy
from pharmsafe.services.passwords import PRODUCTION, PasswordHashing

# Where a change can come in (DESIGN.md §2), as recorded in audit payloads and on records.
SOURCES = ("web", "api", "fhir", "ncpdp", "system")
# Where a version's effective date in force came from.
SHIPPED = "shipped"
CONFIGURED = "PHARMSAFE_POLICY_EFFECTIVE"


def _shipped_policies() -> Mapping[str, Policy]:
    return MappingProxyType(dict(POLICIES))


def _shipped_sources() -> Mapping[str, str]:
    return MappingProxyType({name: SHIPPED for name in POLICIES})


@dataclass(frozen=True)
class ProgramConfig:
    program: str = "ipledge"
    pinned_policy: str | None = None
    time_zone: str = "America/New_York"
    # The versions in force by name: the shipped ones with PHARMSAFE_POLICY_EFFECTIVE applied.
    policies: Mapping[str, Policy] = field(default_factory=_shipped_policies, hash=False)
    # For each version, where its effective date came from: SHIPPED or CONFIGURED.
    effective_sources: Mapping[str, str] = field(default_factory=_shipped_sources, hash=False)

    @classmethod
    def from_settings(cls, settings) -> ProgramConfig:
        from pharmsafe.config import policy_effective_overrides

        overrides = policy_effective_overrides(settings.get("POLICY_EFFECTIVE"))
        policies = with_effective_dates(overrides)
        return cls(program=settings["PROGRAM"], pinned_policy=settings.get("POLICY") or None,
                   time_zone=settings["TIME_ZONE"], policies=MappingProxyType(policies),
                   effective_sources=MappingProxyType({name: CONFIGURED if name in overrides else SHIPPED
                                                       for name in policies}))

    def zone_rule(self) -> str | None:
        """The zone the program reads its dates in (every version of a program shares it; a pin
        brings its own), or None when that is the pharmacy's (EU PPP)."""
        if self.pinned_policy and self.pinned_policy in self.policies:
            return self.policies[self.pinned_policy].time_zone
        return program_time_zone(self.program, self.policies)

    def policy_on(self, day: date) -> Policy:
        """The version in force on ``day`` (a pin wins); raises NoPolicyInForce."""
        return select_policy(self.program, day, self.pinned_policy, policies=self.policies)

    def today_for(self, now: datetime, pharmacy_time_zone: str | None = None) -> date:
        """The date of ``now`` in the program's zone (rulebook §7 item 10): the zone of the
        policy in force when it has one (iPLEDGE: America/New_York); else, under a program that reads
        dates in the pharmacy's zone (EU PPP), ``pharmacy_time_zone``; and for a record tied to no
        pharmacy, PHARMSAFE_TIME_ZONE."""
        return local_date(now, self.zone_rule() or pharmacy_time_zone or self.time_zone)


@dataclass(frozen=True)
class Ctx:
    session: Session
    actor: str  # "user:<id>", "system:cli", "system:scheduler", "system:reevaluation"
    now: datetime
    config: ProgramConfig = ProgramConfig()
    # How passwords are hashed (PHARMSAFE_PASSWORD_HASHING; the tests' cheap profile never in production).
    passwords: PasswordHashing = PRODUCTION
    # Where the change came in (DESIGN.md §2): web, api, fhir, ncpdp or system. Every audit event
    # appended in this session carries it in its payload, and new records keep it.
    source: str = "system"

    def __post_init__(self):
        if self.now.tzinfo is None:
            raise ValueError("Ctx.now must be timezone-aware")
        if self.source not in SOURCES:
            raise ValueError(f"Ctx.source must be one of {', '.join(SOURCES)}")
        if self.session is not None:
            self.session.info[SOURCE_KEY] = self.source

    def today_for(self, pharmacy_time_zone: str | None = None) -> date:
        """The date of ``now`` in the program's zone (ProgramConfig.today_for): the policy's zone,
        else the pharmacy's, else PHARMSAFE_TIME_ZONE."""
        return self.config.today_for(self.now, pharmacy_time_zone)

    @property
    def today(self) -> date:
        """Today for a record tied to no pharmacy: ``today_for(None)``."""
        return self.today_for(None)

    def policy(self, pharmacy_time_zone: str | None = None) -> Policy:
        """The version in force today (judged as ``today_for``), from the configured set; a pin wins."""
        return self.config.policy_on(self.today_for(pharmacy_time_zone))
