"""Rulebook §1: one counting rule, deadlines in the policy's zone, DST-proof."""
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from pharmsafe.gates import POLICIES, evaluate, local_date, local_day_end, policy_zone
from pharmsafe.gates.dates import is_current, last_day

from .builders import BASE, IPLEDGE_2026, d, plus


@pytest.mark.parametrize(("day", "zone", "expected"), [
    ("2026-12-11", "America/New_York", "2026-12-12T04:59:59+00:00"),  # DESIGN.md §5 example
    ("2026-11-26", "America/New_York", "2026-11-27T04:59:59+00:00"),  # rulebook §1 example
    ("2026-07-01", "America/New_York", "2026-07-02T03:59:59+00:00"),  # EDT
    ("2026-10-31", "America/New_York", "2026-11-01T03:59:59+00:00"),  # last EDT day
    ("2026-11-01", "America/New_York", "2026-11-02T04:59:59+00:00"),  # DST ends this day
    ("2027-03-13", "America/New_York", "2027-03-14T04:59:59+00:00"),  # last EST day
    ("2027-03-14", "America/New_York", "2027-03-15T03:59:59+00:00"),  # DST starts this day
    ("2026-12-11", "Europe/Paris", "2026-12-11T22:59:59+00:00"),
    ("2026-07-01", "Europe/Paris", "2026-07-01T21:59:59+00:00"),
    ("2026-12-11", ZoneInfo("UTC"), "2026-12-11T23:59:59+00:00"),
])
def test_local_day_end_is_235959_local_as_utc(day, zone, expected):
    end = local_day_end(d(day), zone)
    assert end.isoformat() == expected
    assert end.tzinfo is UTC


@pytest.mark.parametrize(("start", "days", "expected"), [
    ("2026-11-20", 7, "2026-11-26"),
    ("2026-11-01", 30, "2026-11-30"),
    ("2026-11-05", 30, "2026-12-04"),
    ("2026-10-28", 7, "2026-11-03"),
    ("2027-03-10", 7, "2027-03-16"),
    ("2028-02-25", 7, "2028-03-02"),  # leap year
])
def test_last_day_counts_day_one_as_the_date_itself(start, days, expected):
    assert last_day(d(start), days) == d(expected)
    assert is_current(d(start), days, d(expected))
    assert is_current(d(start), days, d(start))
    assert not is_current(d(start), days, plus(expected, 1))
    assert not is_current(d(start), days, plus(start, -1))


@pytest.mark.parametrize(("now", "zone", "expected"), [
    (datetime(2026, 12, 11, 4, 59, 59, tzinfo=UTC), "America/New_York", "2026-12-10"),
    (datetime(2026, 12, 11, 5, 0, 0, tzinfo=UTC), "America/New_York", "2026-12-11"),
    (datetime(2026, 12, 10, 22, 59, 59, tzinfo=UTC), "Europe/Paris", "2026-12-10"),
    (datetime(2026, 12, 10, 23, 0, 0, tzinfo=UTC), "Europe/Paris", "2026-12-11"),
    (datetime(2026, 11, 1, 4, 30, tzinfo=UTC), "America/New_York", "2026-11-01"),  # 00:30 EDT
])
def test_today_is_now_in_the_zone(now, zone, expected):
    assert local_date(now, zone) == d(expected)


def test_naive_now_is_a_programming_error():
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(BASE, policy=IPLEDGE_2026, now=datetime(2026, 12, 10, 12, 0))
    with pytest.raises(ValueError):
        local_date(datetime(2026, 12, 10), "America/New_York")


@pytest.mark.parametrize(("policy", "pharmacy_zone", "expected"), [
    ("ipledge-2026", "Europe/Paris", "America/New_York"),
    ("ipledge-2021", None, "America/New_York"),
    ("eu-ppp-2018", "Europe/Paris", "Europe/Paris"),
    ("eu-ppp-2018", "Europe/London", "Europe/London"),
])
def test_policy_zone(policy, pharmacy_zone, expected):
    assert policy_zone(POLICIES[policy], pharmacy_zone) == ZoneInfo(expected)


@pytest.mark.parametrize("pharmacy_zone", [None, "", "Mars/Olympus", "not a zone"])
def test_policy_zone_without_a_usable_zone_raises(pharmacy_zone):
    with pytest.raises(ValueError):
        policy_zone(POLICIES["eu-ppp-2018"], pharmacy_zone)


def test_dates_are_plain_dates():
    assert isinstance(last_day(date(2026, 1, 1), 1), date)
