"""Filters for listing and exporting audit events."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select

from pharmsafe.errors import ValidationFailed
from pharmsafe.models import AuditEvent


@dataclass(frozen=True)
class AuditFilters:
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    action: str | None = None
    subject: str | None = None
    source: str | None = None  # web, api, fhir, ncpdp or system: the payload's own `source`


def _instant(value: str, zone: ZoneInfo, *, end: bool, name: str) -> datetime:
    """A date means the whole day in the configured zone (``until`` includes it); an instant needs
    an offset."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is not None:
        try:
            start = datetime.combine(day + timedelta(days=1) if end else day, time(), tzinfo=zone)
        except OverflowError:  # until=9999-12-31: the day after it is past the calendar
            raise ValidationFailed({name: ["Must be a date before 9999-12-31."]}) from None
        return start
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed({name: ["Use a date (2026-11-26) or an instant with offset "
                                      "(2026-11-26T17:00:00Z)."]}) from None
    if instant.tzinfo is None:
        raise ValidationFailed({name: ["An instant needs an offset, for example 2026-11-26T17:00:00Z."]})
    return instant


def parse_filters(query: dict, time_zone: str) -> AuditFilters:
    zone = ZoneInfo(time_zone)
    since = _instant(query["since"], zone, end=False, name="since") if query.get("since") else None
    until = _instant(query["until"], zone, end=True, name="until") if query.get("until") else None
    if since and until and since >= until:
        raise ValidationFailed({"until": ["Must be after since."]})
    return AuditFilters(since=since, until=until, action=query.get("action"), subject=query.get("subject"),
                        source=query.get("source"))


def filtered_events(filters: AuditFilters) -> Select:
    stmt = select(AuditEvent)
    if filters.since:
        stmt = stmt.where(AuditEvent.occurred_at >= filters.since)
    if filters.until:
        stmt = stmt.where(AuditEvent.occurred_at < filters.until)
    if filters.action:
        stmt = stmt.where(AuditEvent.action == filters.action)
    if filters.subject:
        stmt = stmt.where(AuditEvent.subject == filters.subject)
    if filters.source:
        # The payload is canonical JSON (no spaces, strings escaped): its top-level `source` reads
        # exactly so, and a string value holding the same characters would read with its quotes
        # escaped. Events written before every payload carried a source match no source.
        stmt = stmt.where(AuditEvent.payload.contains(f'"source":"{filters.source}"', autoescape=True))
    return stmt
