"""Rulebook §2 policy table as data, and policy selection by date (DESIGN.md §2)."""
from datetime import date, datetime, timezone

import pytest

from pharmsafe.gates import POLICIES, NoPolicyInForce, select_policy

from .builders import d


@pytest.mark.parametrize(("program", "on", "expected"), [
    ("ipledge", "2026-08-07", "ipledge-2021"),
    ("ipledge", "2026-08-08", "ipledge-2026"),
    ("ipledge", "2030-01-01", "ipledge-2026"),
    ("ipledge", "2021-12-13", "ipledge-2021"),
    ("eu-ppp", "2018-03-23", "eu-ppp-2018"),
    ("eu-ppp", "2026-12-10", "eu-ppp-2018"),
])
def test_select_policy_by_date(program, on, expected):
    assert select_policy(program, d(on)).name == expected


@pytest.mark.parametrize(("program", "on"), [
    ("ipledge", "2021-12-12"),
    ("eu-ppp", "2018-03-22"),
    ("mhra", "2026-12-10"),
    ("", "2026-12-10"),
])
def test_no_policy_in_force(program, on):
    with pytest.raises(NoPolicyInForce):
        select_policy(program, d(on))


@pytest.mark.parametrize(("pinned", "on", "expected"), [
    ("ipledge-2021", "2027-01-01", "ipledge-2021"),
    ("ipledge-2026", "2026-08-07", "ipledge-2026"),  # a pin overrides the date
    ("eu-ppp-2018", "2026-12-10", "eu-ppp-2018"),
])
def test_pinned_policy_wins(pinned, on, expected):
    assert select_policy("ipledge", d(on), pinned=pinned).name == expected


def test_unknown_pin_is_no_policy_in_force():
    with pytest.raises(NoPolicyInForce, match="ipledge-2099"):
        select_policy("ipledge", date(2026, 12, 10), pinned="ipledge-2099")
    assert issubclass(NoPolicyInForce, ValueError)


def test_select_policy_wants_a_date_not_an_instant():
    with pytest.raises(TypeError):
        select_policy("ipledge", datetime(2026, 12, 10, tzinfo=timezone.utc))


@pytest.mark.parametrize(("name", "field", "value"), [
    ("ipledge-2026", "version", "2026-08-08"),
    ("ipledge-2026", "program", "ipledge"),
    ("ipledge-2026", "effective_from", date(2026, 8, 8)),
    ("ipledge-2026", "time_zone", "America/New_York"),
    ("ipledge-2026", "ncgp_window_days", 30),
    ("ipledge-2026", "ncgp_counseling_once_within_days", 30),
    ("ipledge-2026", "home_tests_allowed", True),
    ("ipledge-2026", "missed_window_lockout_days", None),
    ("ipledge-2026", "require_rma", True),
    ("ipledge-2021", "version", "2021-12-13"),
    ("ipledge-2021", "effective_from", date(2021, 12, 13)),
    ("ipledge-2021", "time_zone", "America/New_York"),
    ("ipledge-2021", "first_course_requires_clia", True),
    ("ipledge-2021", "later_requires_clia", True),
    ("ipledge-2021", "home_tests_allowed", False),
    ("ipledge-2021", "missed_window_lockout_days", 19),
    ("ipledge-2021", "counseling_current_days", 30),
    ("ipledge-2021", "ncgp_counseling_once_within_days", None),
    ("ipledge-2021", "ncgp_window_days", 30),
    ("eu-ppp-2018", "version", "2018-03-23"),
    ("eu-ppp-2018", "program", "eu-ppp"),
    ("eu-ppp-2018", "effective_from", date(2018, 3, 23)),
    ("eu-ppp-2018", "time_zone", None),
    ("eu-ppp-2018", "cgp_window_from", "written_on"),
    ("eu-ppp-2018", "cgp_window_days", 7),
    ("eu-ppp-2018", "ncgp_window_days", 7),
    ("eu-ppp-2018", "test_before_written_max_days", 3),
    ("eu-ppp-2018", "first_course_tests", 1),
    ("eu-ppp-2018", "contraception_rule", "one_primary"),
    ("eu-ppp-2018", "require_rma", False),
    ("eu-ppp-2018", "pharmacy_requires_activation", False),
    ("eu-ppp-2018", "prescriber_requires_certification", False),
    ("eu-ppp-2018", "prescriber_requires_npi", False),
    ("eu-ppp-2018", "patient_requires_rems_id", False),
])
def test_policy_parameters(name, field, value):
    assert getattr(POLICIES[name], field) == value


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_shared_parameters(name):
    policy = POLICIES[name]
    assert policy.name == name
    assert (policy.max_days_supply, policy.refills_allowed, policy.early_refill_days) == (30, 0, 7)
    assert (policy.contraception_current_days, policy.comprehension_current_days) == (30, 30)
