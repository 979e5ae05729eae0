"""Rulebook §2 policy table as data, and policy selection by date (DESIGN.md §2)."""
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from pharmsafe.gates import POLICIES, NoPolicyInForce, select_policy
from pharmsafe.gates.policies import (
    EU_PPP_2018,
    IPLEDGE_2021,
    IPLEDGE_2023,
    IPLEDGE_2026,
    EffectiveDateError,
    program_time_zone,
    with_effective_dates,
)

from .builders import d


@pytest.mark.parametrize(("program", "on", "expected"), [
    ("ipledge", "2023-09-30", "ipledge-2021"),
    ("ipledge", "2023-10-01", "ipledge-2023"),
    ("ipledge", "2026-08-07", "ipledge-2023"),
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
        select_policy("ipledge", datetime(2026, 12, 10, tzinfo=UTC))


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
    ("eu-ppp-2018", "contraception_rule", "independent_or_hormonal_with_barrier"),
    ("eu-ppp-2018", "prescription_current_days", 7),
    ("ipledge-2026", "contraception_rule", "two_methods_one_primary"),
    ("ipledge-2026", "prescription_current_days", 30),
    ("ipledge-2021", "prescription_current_days", 30),
    ("ipledge-2023", "version", "2023-10-01"),
    ("ipledge-2023", "program", "ipledge"),
    ("ipledge-2023", "effective_from", date(2023, 10, 1)),
    ("ipledge-2023", "time_zone", "America/New_York"),
    ("ipledge-2023", "first_course_requires_clia", True),
    ("ipledge-2023", "later_requires_clia", False),
    ("ipledge-2023", "home_tests_allowed", True),
    ("ipledge-2023", "missed_window_lockout_days", 19),
    ("ipledge-2023", "counseling_current_days", 30),
    ("ipledge-2023", "ncgp_counseling_once_within_days", None),
    ("ipledge-2023", "ncgp_window_days", 30),
    ("ipledge-2023", "contraception_rule", "two_methods_one_primary"),
    ("ipledge-2023", "prescription_current_days", 30),
    ("ipledge-2023", "require_rma", True),
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


def test_module_names_are_the_loaded_versions():
    assert [IPLEDGE_2021, IPLEDGE_2023, IPLEDGE_2026, EU_PPP_2018] == [
        POLICIES["ipledge-2021"], POLICIES["ipledge-2023"], POLICIES["ipledge-2026"], POLICIES["eu-ppp-2018"]]
    assert sorted(POLICIES) == ["eu-ppp-2018", "ipledge-2021", "ipledge-2023", "ipledge-2026"]


@pytest.mark.parametrize(("on", "expected"), [
    ("2023-09-30", "ipledge-2021"),
    ("2023-10-01", "ipledge-2023"),
    ("2026-08-08", "ipledge-2023"),  # the shipped date no longer counts
    ("2026-09-30", "ipledge-2023"),
    ("2026-10-01", "ipledge-2026"),
])
def test_an_override_moves_the_boundary(on, expected):
    moved = with_effective_dates({"ipledge-2026": date(2026, 10, 1)})
    assert select_policy("ipledge", d(on), policies=moved).name == expected


def test_an_override_changes_the_date_and_nothing_else():
    moved = with_effective_dates({"ipledge-2026": date(2026, 10, 1), "ipledge-2023": date(2023, 11, 1)})
    assert moved["ipledge-2026"].effective_from == date(2026, 10, 1)
    assert moved["ipledge-2026"].version == "2026-08-08"
    assert moved["ipledge-2023"].version == "2023-10-01"
    assert replace(moved["ipledge-2026"], effective_from=date(2026, 8, 8)) == IPLEDGE_2026
    assert moved["ipledge-2021"] is IPLEDGE_2021
    # The shipped set is untouched, and select_policy without a set still uses it.
    assert POLICIES["ipledge-2026"].effective_from == date(2026, 8, 8)
    assert select_policy("ipledge", date(2026, 9, 1)).name == "ipledge-2026"
    assert select_policy("ipledge", date(2023, 10, 15), policies=moved).name == "ipledge-2021"


def test_a_pin_is_looked_up_in_the_given_set():
    moved = with_effective_dates({"ipledge-2026": date(2026, 10, 1)})
    pinned = select_policy("ipledge", date(2020, 1, 1), "ipledge-2026", policies=moved)
    assert pinned.effective_from == date(2026, 10, 1)
    with pytest.raises(NoPolicyInForce):
        select_policy("ipledge", date(2026, 12, 1), "ipledge-2026", policies={"ipledge-2021": IPLEDGE_2021})


@pytest.mark.parametrize(("overrides", "needle"), [
    ({"ipledge-2099": date(2026, 10, 1)}, "ipledge-2099"),
    ({"ipledge-2026": date(2023, 10, 1)}, "ipledge-2026"),  # the same day as ipledge-2023
    ({"ipledge-2023": date(2021, 12, 1)}, "ipledge-2023"),  # before ipledge-2021
    ({"ipledge-2026": "2026-10-01"}, "ipledge-2026"),  # text, not a date
])
def test_bad_overrides_are_refused(overrides, needle):
    with pytest.raises(EffectiveDateError, match=needle):
        with_effective_dates(overrides)


def test_every_version_of_a_program_shares_its_zone():
    assert program_time_zone("ipledge") == "America/New_York"
    assert program_time_zone("eu-ppp") is None
    assert program_time_zone("mhra") is None
    with pytest.raises(ValueError, match="ipledge"):
        program_time_zone("ipledge", {"a": IPLEDGE_2021, "b": replace(IPLEDGE_2026, time_zone="Europe/Paris")})
