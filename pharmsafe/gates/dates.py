"""Calendar arithmetic for the rules: one counting rule for everything dated (rulebook §1).

Something dated X that is "current for N days" counts on X .. X+(N-1) and stops at 23:59:59 of
X+(N-1) in the policy's time zone. Calendar dates stay dates; only the final "current until" instant
is converted to UTC, so a daylight-saving change never moves a deadline by an hour.
The clock is never read here: ``now`` always comes from the caller.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pharmsafe.gates.policy import Policy

UTC = UTC
_DAY_END = time(23, 59, 59)


def require_aware(now: datetime) -> datetime:
    """A naive ``now`` reaching the core is a programming error (STYLE.md habit 5)."""
    if not isinstance(now, datetime):
        raise TypeError(f"now must be a datetime, not {type(now).__name__}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now


def as_zone(zone: ZoneInfo | str) -> ZoneInfo:
    if isinstance(zone, ZoneInfo):
        return zone
    try:
        return ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r}") from None


def policy_zone(policy: Policy, pharmacy_time_zone: str | None) -> ZoneInfo:
    """The zone in which the policy's calendar dates are read: the policy's own (iPLEDGE:
    America/New_York) or, when the policy has none (EU PPP), the pharmacy's (rulebook §2)."""
    name = policy.time_zone or pharmacy_time_zone
    if not name:
        raise ValueError(f"policy {policy.name} uses the pharmacy's time zone, and the pharmacy has none")
    return as_zone(name)


def local_date(now: datetime, zone: ZoneInfo | str) -> date:
    """The calendar date of ``now`` in ``zone``: the "today" every rule counts from."""
    return require_aware(now).astimezone(as_zone(zone)).date()


def last_day(start: date, days: int) -> date:
    """The last day of something dated ``start`` that is current for ``days`` days."""
    return start + timedelta(days=days - 1)


def is_current(start: date, days: int, on: date) -> bool:
    return start <= on <= last_day(start, days)


def local_day_end(day: date, zone: ZoneInfo | str) -> datetime:
    """The UTC instant of 23:59:59 on ``day`` in ``zone`` (e.g. 2026-12-11 in New York ->
    2026-12-12T04:59:59Z; in July the same wall time is 03:59:59Z)."""
    return datetime.combine(day, _DAY_END, tzinfo=as_zone(zone)).astimezone(UTC)


def days_before(day: date, days: int) -> date:
    return day - timedelta(days=days)


def days_after(day: date, days: int) -> date:
    return day + timedelta(days=days)


def instant_key(value: datetime | None) -> datetime:
    """A sort key for recording times; a naive value is read as UTC rather than crashing a sort."""
    if value is None:
        return datetime.min.replace(tzinfo=UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
