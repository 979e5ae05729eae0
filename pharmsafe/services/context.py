"""What every use case is handed: the session, who acts, the instant, and the program settings."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from pharmsafe.gates.policies import select_policy
from pharmsafe.gates.policy import Policy


@dataclass(frozen=True)
class ProgramConfig:
    program: str = "ipledge"
    pinned_policy: str | None = None
    time_zone: str = "America/New_York"

    @classmethod
    def from_settings(cls, settings) -> "ProgramConfig":
        return cls(program=settings["PROGRAM"], pinned_policy=settings.get("POLICY") or None,
                   time_zone=settings["TIME_ZONE"])


@dataclass(frozen=True)
class Ctx:
    session: Session
    actor: str  # "user:<id>", "system:cli", "system:scheduler"
    now: datetime
    config: ProgramConfig = ProgramConfig()

    def __post_init__(self):
        if self.now.tzinfo is None:
            raise ValueError("Ctx.now must be timezone-aware")

    @property
    def today(self) -> date:
        """Today in PHARMSAFE_TIME_ZONE: the day against which "not in the future" is judged."""
        return self.now.astimezone(ZoneInfo(self.config.time_zone)).date()

    def policy(self) -> Policy:
        return select_policy(self.config.program, self.today, self.config.pinned_policy)
