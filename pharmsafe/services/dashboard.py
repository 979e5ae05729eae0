"""The manager's dashboard: a pharmacy's (or, for an admin, every pharmacy's) work over a date range,
as tables of numbers the pages draw as SVG charts and offer as CSV.

- decisions per day by outcome (evaluations);
- the most common blocking reasons (the failing gates' codes in blocked evaluations);
- time from submission to dispense: median and 90th percentile, in hours;
- authorizations expired undispensed, per day;
- windows closing in the next seven days (active authorizations by their deadline's day).

Days are the program's days (``zone``); the range is at most MAX_DAYS."""
from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmsafe.models import Authorization, Decision, Dispense, Prescription
from pharmsafe.models.statuses import AuthorizationStatus

MAX_DAYS = 92
TOP_REASONS = 10


@dataclass
class Chart:
    name: str
    title: str
    series: list[str]
    rows: list[tuple[str, dict[str, float]]] = field(default_factory=list)
    unit: str = ""
    note: str = ""

    def maximum(self) -> float:
        return max((sum(v.values()) for _, v in self.rows), default=0)


def _start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone)


def _days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=n) for n in range((until - since).days + 1)]


def _scoped(stmt, pharmacy_id: int | None, column):
    return stmt if pharmacy_id is None else stmt.where(column == pharmacy_id)


def _decisions_of(stmt, pharmacy_id: int | None):
    """Decisions of one pharmacy (through their prescription), or of every pharmacy (no join)."""
    if pharmacy_id is None:
        return stmt
    return stmt.join(Prescription, Prescription.id == Decision.prescription_id).where(
        Prescription.pharmacy_id == pharmacy_id)


def _on_postgresql(session: Session) -> bool:
    """PostgreSQL counts by local day in SQL (its time zone functions); SQLite has none, so there the
    rows are counted here, which is the same count."""
    return session.get_bind().dialect.name == "postgresql"


def _local_day(column, zone: ZoneInfo):
    return func.date(func.timezone(zone.key, column))


def _per_day(session: Session, stmt, column, zone: ZoneInfo, *extra) -> Counter:
    """Counts by (local day, *extra): grouped in SQL on PostgreSQL, here elsewhere."""
    if _on_postgresql(session):
        day = _local_day(column, zone)
        grouped = stmt.with_only_columns(day, *extra, func.count()).group_by(day, *extra)
        return Counter({(row[0], *row[1:-1]): row[-1] for row in session.execute(grouped)})
    rows = session.execute(stmt.with_only_columns(column, *extra))
    return Counter((row[0].astimezone(zone).date(), *row[1:]) for row in rows)


def decisions_per_day(session: Session, pharmacy_id, since: date, until: date, zone: ZoneInfo) -> Chart:
    stmt = (select(Decision.id).select_from(Decision)
            .where(Decision.stage == "evaluation", Decision.evaluated_at >= _start(since, zone),
                   Decision.evaluated_at < _start(until + timedelta(days=1), zone)))
    counts = _per_day(session, _decisions_of(stmt, pharmacy_id), Decision.evaluated_at, zone, Decision.outcome)
    chart = Chart("decisions", "Decisions per day, by outcome", ["authorized", "blocked"])
    chart.rows = [(d.isoformat(), {s: counts[(d, s)] for s in chart.series}) for d in _days(since, until)]
    return chart


def blocking_reasons(session: Session, pharmacy_id, since: date, until: date, zone: ZoneInfo) -> Chart:
    """The failing gates' codes of blocked evaluations, from decisions.failing_codes (kept when the
    decision is recorded: no decision's gates are parsed here)."""
    stmt = (select(Decision.failing_codes).select_from(Decision)
            .where(Decision.stage == "evaluation", Decision.outcome == "blocked",
                   Decision.failing_codes.is_not(None),
                   Decision.evaluated_at >= _start(since, zone),
                   Decision.evaluated_at < _start(until + timedelta(days=1), zone)))
    stmt = _decisions_of(stmt, pharmacy_id)
    chart = Chart("reasons", "The most common blocking reasons", ["blocked evaluations"])
    if _on_postgresql(session):
        codes = stmt.with_only_columns(
            func.unnest(func.string_to_array(Decision.failing_codes, ",")).label("code")).subquery()
        grouped = (select(codes.c.code, func.count()).group_by(codes.c.code)
                   .order_by(func.count().desc(), codes.c.code).limit(TOP_REASONS))
        chart.rows = [(c, {"blocked evaluations": n}) for c, n in session.execute(grouped)]
        return chart
    counts: Counter = Counter()
    for (joined,) in session.execute(stmt):
        counts.update(joined.split(","))
    chart.rows = [(c, {"blocked evaluations": n}) for c, n in sorted(counts.items(), key=lambda i: (-i[1], i[0]))
                  [:TOP_REASONS]]
    return chart


def submission_to_dispense(session: Session, pharmacy_id, since: date, until: date, zone: ZoneInfo) -> Chart:
    stmt = (select(Prescription.submitted_at, Dispense.dispensed_at).select_from(Prescription)
            .join(Dispense, Dispense.prescription_id == Prescription.id)
            .where(Dispense.reversed_at.is_(None), Dispense.dispensed_at >= _start(since, zone),
                   Dispense.dispensed_at < _start(until + timedelta(days=1), zone)))
    stmt = _scoped(stmt, pharmacy_id, Dispense.pharmacy_id)
    if _on_postgresql(session):
        # The same linear interpolation as statistics.quantiles(method="inclusive"), in SQL.
        hours_of = func.extract("epoch", Dispense.dispensed_at - Prescription.submitted_at) / 3600
        count, median, p90 = session.execute(stmt.with_only_columns(
            func.count(), func.percentile_cont(0.5).within_group(hours_of),
            func.percentile_cont(0.9).within_group(hours_of))).one()
    else:
        hours = sorted((done - sent).total_seconds() / 3600 for sent, done in session.execute(stmt))
        count = len(hours)
        median = statistics.median(hours) if hours else None
        p90 = (statistics.quantiles(hours, n=10, method="inclusive")[-1] if count > 1 else hours[0]) if hours else None
    chart = Chart("dispense_time", "Time from submission to dispense", ["hours"], unit="h",
                  note=f"{count} dispense{'s' if count != 1 else ''} in the range")
    if count:
        chart.rows = [("median", {"hours": round(float(median), 1)}),
                      ("90th percentile", {"hours": round(float(p90), 1)})]
    else:
        chart.rows = [("median", {"hours": 0}), ("90th percentile", {"hours": 0})]
    return chart


def expired_undispensed(session: Session, pharmacy_id, since: date, until: date, zone: ZoneInfo) -> Chart:
    stmt = (select(Authorization.id).where(
        Authorization.status == AuthorizationStatus.EXPIRED, Authorization.closed_at >= _start(since, zone),
        Authorization.closed_at < _start(until + timedelta(days=1), zone)))
    counts = _per_day(session, _scoped(stmt, pharmacy_id, Authorization.pharmacy_id), Authorization.closed_at, zone)
    chart = Chart("expired", "Authorizations expired undispensed, per day", ["expired"])
    chart.rows = [(d.isoformat(), {"expired": counts[(d,)]}) for d in _days(since, until)]
    return chart


def closing_this_week(session: Session, pharmacy_id, now: datetime, zone: ZoneInfo) -> Chart:
    today = now.astimezone(zone).date()
    stmt = (select(Authorization.id).where(
        Authorization.status == AuthorizationStatus.ACTIVE, Authorization.dispense_by >= now,
        Authorization.dispense_by < _start(today + timedelta(days=7), zone)))
    counts = _per_day(session, _scoped(stmt, pharmacy_id, Authorization.pharmacy_id), Authorization.dispense_by, zone)
    chart = Chart("closing", "Windows closing in the next seven days", ["closing"])
    chart.rows = [(d.isoformat(), {"closing": counts[(d,)]}) for d in _days(today, today + timedelta(days=6))]
    return chart


def dashboard(session: Session, pharmacy_id: int | None, since: date, until: date, now: datetime,
              zone: ZoneInfo) -> list[Chart]:
    return [decisions_per_day(session, pharmacy_id, since, until, zone),
            blocking_reasons(session, pharmacy_id, since, until, zone),
            submission_to_dispense(session, pharmacy_id, since, until, zone),
            expired_undispensed(session, pharmacy_id, since, until, zone),
            closing_this_week(session, pharmacy_id, now, zone)]
