"""Dates a service judges use the gates' zone (rulebook §7 item 10, DESIGN §5): America/New_York
under iPLEDGE; under eu-ppp-2018 the pharmacy's zone, else PHARMSAFE_TIME_ZONE. And the version in
force comes from the configured set (PHARMSAFE_POLICY_EFFECTIVE); `policy.loaded` records that set."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from pharmsafe.config import load_settings
from pharmsafe.errors import ValidationFailed
from pharmsafe.gates import POLICIES, NoPolicyInForce
from pharmsafe.models import AuditEvent
from pharmsafe.services.context import Ctx, ProgramConfig
from pharmsafe.services.policies import policy_set, record_policy_set
from pharmsafe.services.validation import refuse_future_dates

BASE = {"PHARMSAFE_ENV": "testing", "PHARMSAFE_SECRET_KEY": "x" * 32}
# 04:30 UTC: 05:30 on 12-10 in Paris, 23:30 on 12-09 in New York.
BOUNDARY = datetime(2026, 12, 10, 4, 30, tzinfo=UTC)


def config(**env) -> ProgramConfig:
    return ProgramConfig.from_settings(load_settings(environ={**BASE, **{f"PHARMSAFE_{k}": v for k, v in env.items()}}))


def ctx_at(now: datetime, **env) -> Ctx:
    return Ctx(session=None, actor="system:test", now=now, config=config(**env))


# --- today -------------------------------------------------------------------------------------------

def test_eu_ppp_judges_in_the_pharmacy_zone_else_the_configured_one():
    ctx = ctx_at(BOUNDARY, PROGRAM="eu-ppp", TIME_ZONE="America/New_York")
    assert ctx.today_for("Europe/Paris") == date(2026, 12, 10)
    assert ctx.today_for(None) == date(2026, 12, 9)
    assert ctx.today == date(2026, 12, 9)
    assert ctx.today_for("Pacific/Honolulu") == date(2026, 12, 9)


def test_eu_ppp_with_a_paris_operator():
    ctx = ctx_at(BOUNDARY, PROGRAM="eu-ppp", TIME_ZONE="Europe/Paris")
    assert ctx.today == date(2026, 12, 10)
    assert ctx.today_for("America/New_York") == date(2026, 12, 9)  # the pharmacy's zone wins


@pytest.mark.parametrize("operator_zone", ["America/New_York", "Europe/Paris", "Asia/Tokyo"])
def test_ipledge_judges_in_new_york_whatever_the_pharmacy_or_operator(operator_zone):
    ctx = ctx_at(BOUNDARY, PROGRAM="ipledge", TIME_ZONE=operator_zone)
    assert ctx.today_for("Europe/Paris") == date(2026, 12, 9)
    assert ctx.today_for(None) == date(2026, 12, 9)
    assert ctx.today == date(2026, 12, 9)


def test_a_pin_brings_its_own_zone():
    ctx = ctx_at(BOUNDARY, PROGRAM="eu-ppp", TIME_ZONE="Europe/Paris", POLICY="eu-ppp-2018")
    assert ctx.today_for("America/New_York") == date(2026, 12, 9)
    assert ctx.today == date(2026, 12, 10)


def test_ctx_without_configuration_keeps_ipledge_in_new_york():
    ctx = Ctx(session=None, actor="system:test", now=BOUNDARY)
    assert ctx.today == date(2026, 12, 9) and ctx.policy().name == "ipledge-2026"


# --- the version in force ----------------------------------------------------------------------------

def new_york(day: str, hh: int = 12) -> datetime:
    """Noon (or hh:00) in New York on ``day``, as an instant (EST, UTC-5, or EDT, UTC-4)."""
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(f"{day}T{hh:02d}:00").replace(tzinfo=ZoneInfo("America/New_York"))


@pytest.mark.parametrize(("day", "expected"), [
    ("2023-09-30", "ipledge-2021"),
    ("2023-10-01", "ipledge-2023"),
    ("2026-08-07", "ipledge-2023"),
    ("2026-08-08", "ipledge-2026"),
])
def test_the_version_in_force_by_date(day, expected):
    assert ctx_at(new_york(day)).policy().name == expected


@pytest.mark.parametrize(("day", "expected"), [
    ("2026-08-08", "ipledge-2023"),
    ("2026-09-30", "ipledge-2023"),
    ("2026-10-01", "ipledge-2026"),
])
def test_an_override_moves_the_version_in_force(day, expected):
    policy = ctx_at(new_york(day), POLICY_EFFECTIVE="ipledge-2026=2026-10-01").policy("Europe/Paris")
    assert policy.name == expected
    if expected == "ipledge-2026":
        assert (policy.version, policy.effective_from) == ("2026-08-08", date(2026, 10, 1))


def test_the_boundary_is_midnight_in_new_york_not_utc():
    # 2026-10-01 02:30 UTC is still 09-30 in New York: ipledge-2023 until 04:00 UTC.
    ctx = ctx_at(datetime(2026, 10, 1, 2, 30, tzinfo=UTC), POLICY_EFFECTIVE="ipledge-2026=2026-10-01")
    assert ctx.policy().name == "ipledge-2023"
    ctx = ctx_at(datetime(2026, 10, 1, 4, 0, tzinfo=UTC), POLICY_EFFECTIVE="ipledge-2026=2026-10-01")
    assert ctx.policy().name == "ipledge-2026"


def test_a_pin_wins_over_the_date():
    ctx = ctx_at(new_york("2026-12-01"), POLICY="ipledge-2021", POLICY_EFFECTIVE="ipledge-2026=2026-10-01")
    assert ctx.policy().name == "ipledge-2021"


def test_eu_ppp_version_in_force_on_the_pharmacy_day():
    eu = ctx_at(datetime(2019, 1, 1, 0, 30, tzinfo=UTC), PROGRAM="eu-ppp", TIME_ZONE="America/New_York",
                POLICY_EFFECTIVE="eu-ppp-2018=2019-01-01")
    assert eu.policy("Europe/Paris").name == "eu-ppp-2018"  # 01:30 on 2019-01-01 in Paris
    with pytest.raises(NoPolicyInForce):
        eu.policy(None)  # 19:30 on 2018-12-31 in New York


# --- refuse_future_dates -----------------------------------------------------------------------------

def test_future_dates_under_eu_ppp_follow_the_pharmacy():
    ctx = ctx_at(BOUNDARY, PROGRAM="eu-ppp", TIME_ZONE="America/New_York")
    data = {"written_on": date(2026, 12, 10), "note": "x"}
    refuse_future_dates(ctx, data, pharmacy_time_zone="Europe/Paris")
    with pytest.raises(ValidationFailed) as caught:
        refuse_future_dates(ctx, data)  # a record tied to no pharmacy: PHARMSAFE_TIME_ZONE
    assert list(caught.value.fields) == ["written_on"]
    assert "2026-12-09" in caught.value.fields["written_on"][0]


def test_future_dates_under_ipledge_follow_new_york():
    ctx = ctx_at(BOUNDARY, PROGRAM="ipledge", TIME_ZONE="Europe/Paris")
    with pytest.raises(ValidationFailed):
        refuse_future_dates(ctx, {"collected_on": date(2026, 12, 10)}, pharmacy_time_zone="Europe/Paris")
    refuse_future_dates(ctx, {"collected_on": date(2026, 12, 9)}, pharmacy_time_zone="Europe/Paris")


def test_refuse_future_dates_keeps_its_positional_form():
    ctx = ctx_at(BOUNDARY)
    refuse_future_dates(ctx, {"attested_on": date(2026, 12, 10)}, ("written_on",))
    with pytest.raises(ValidationFailed):
        refuse_future_dates(ctx, {"attested_on": date(2026, 12, 10)}, ("attested_on",))


# --- policy.loaded -----------------------------------------------------------------------------------

def loaded_events(session) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "policy.loaded")
                                .order_by(AuditEvent.id)))


def record(session, now, **env):
    ctx = Ctx(session=session, actor="system:cli", now=now, config=config(**env))
    event = record_policy_set(ctx)
    session.commit()
    return event


def test_policy_loaded_is_written_once_per_set(session, clock):
    now = clock.now()
    first = record(session, now)
    assert first is not None and (first.action, first.actor, first.subject) == ("policy.loaded", "system:cli",
                                                                                 "policy:set")
    assert record(session, now) is None
    assert len(loaded_events(session)) == 1
    payload = json.loads(loaded_events(session)[0].payload)
    assert payload["policies"] == [
        {"name": "eu-ppp-2018", "version": "2018-03-23", "effective_from": "2018-03-23", "source": "shipped"},
        {"name": "ipledge-2021", "version": "2021-12-13", "effective_from": "2021-12-13", "source": "shipped"},
        {"name": "ipledge-2023", "version": "2023-10-01", "effective_from": "2023-10-01", "source": "shipped"},
        {"name": "ipledge-2026", "version": "2026-08-08", "effective_from": "2026-08-08", "source": "shipped"},
    ]
    # A changed override is a new set; the same override again is not.
    second = record(session, now, POLICY_EFFECTIVE="ipledge-2026=2026-10-01")
    assert second is not None and second.id > first.id
    assert record(session, now, POLICY_EFFECTIVE="ipledge-2026=2026-10-01") is None
    changed = json.loads(loaded_events(session)[1].payload)["policies"][3]
    assert changed == {"name": "ipledge-2026", "version": "2026-08-08", "effective_from": "2026-10-01",
                       "source": "PHARMSAFE_POLICY_EFFECTIVE"}
    # Back to the shipped dates: that differs from the latest event, so it is recorded again.
    assert record(session, now) is not None
    assert len(loaded_events(session)) == 3


def test_the_same_date_given_by_configuration_is_another_set(session, clock):
    record(session, clock.now())
    assert record(session, clock.now(), POLICY_EFFECTIVE="ipledge-2026=2026-08-08") is not None


def test_program_and_pin_are_not_part_of_the_set(session, clock):
    record(session, clock.now())
    assert record(session, clock.now(), PROGRAM="eu-ppp") is None
    assert record(session, clock.now(), POLICY="ipledge-2021") is None


def test_policy_set_follows_the_config():
    assert [row["name"] for row in policy_set(config())] == sorted(POLICIES)
