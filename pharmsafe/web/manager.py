"""The manager's dashboard (DESIGN.md §8): a pharmacy's decisions, blocking reasons, time to dispense,
expiries and closing windows over a date range, each chart drawn as SVG on the server with its numbers
in a table and as CSV. A manager sees their pharmacy's alone; an admin every pharmacy's, or one."""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from flask import Blueprint, Response, render_template, request
from sqlalchemy import select

from pharmsafe.http.unit import get_session, make_ctx
from pharmsafe.models import Pharmacy
from pharmsafe.services.dashboard import MAX_DAYS, dashboard
from pharmsafe.web import present
from pharmsafe.web.session import current_user, guard

bp = Blueprint("manager", __name__, url_prefix="/manager")
bp.before_request(guard("manager", "admin"))
DEFAULT_DAYS = 30


def _day(name: str, default: date, problems: list[str]) -> date:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        if not raw.isascii():
            raise ValueError
        return date.fromisoformat(raw)
    except ValueError:
        problems.append(f"{'From' if name == 'since' else 'To'} must be a date written YYYY-MM-DD, not {raw!r}.")
        return default


@bp.get("/")
def index():
    user = current_user()
    ctx = make_ctx(user.actor)
    session = get_session()
    zone = present.program_zone()
    today = ctx.now.astimezone(zone).date()
    problems: list[str] = []
    until = _day("until", today, problems)
    since = _day("since", until - timedelta(days=DEFAULT_DAYS - 1), problems)
    if since > until:
        problems.append("From must not be after To.")
    elif (until - since).days + 1 > MAX_DAYS:
        problems.append(f"The range may cover at most {MAX_DAYS} days.")
    pharmacies = session.scalars(select(Pharmacy).order_by(Pharmacy.name, Pharmacy.id)).all()
    if user.role == "manager":
        pharmacy_id = user.pharmacy_id
    else:
        raw = request.args.get("pharmacy", "")
        pharmacy_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 12 else None
        if pharmacy_id is not None and session.get(Pharmacy, pharmacy_id) is None:
            problems.append(f"No pharmacy has the id {pharmacy_id}.")
    if problems:
        since, until = until - timedelta(days=DEFAULT_DAYS - 1), today
    charts = dashboard(session, pharmacy_id, since, until, ctx.now, zone)
    chart_name = request.args.get("chart")
    if request.args.get("format") == "csv" and not problems:
        chart = next((c for c in charts if c.name == chart_name), None)
        if chart is not None:
            return _csv(chart, since, until)
    pharmacy = session.get(Pharmacy, pharmacy_id) if pharmacy_id is not None else None
    return render_template("manager/index.html", charts=charts, since=since, until=until, pharmacy=pharmacy,
                           pharmacies=pharmacies if user.role == "admin" else [], problems=problems,
                           zone=zone), 400 if problems else 200


def _csv(chart, since: date, until: date) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", *chart.series])
    for label, values in chart.rows:
        writer.writerow([label, *(values[s] for s in chart.series)])
    response = Response(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{chart.name}-{since}-{until}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response
