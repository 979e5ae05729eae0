"""A person's inbox: the notifications made for them (pharmsafe.services.notifications), newest
first; opening one marks it read and goes to the page it names."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template
from sqlalchemy import select

from pharmsafe.errors import NotFound
from pharmsafe.http.unit import get_session, now
from pharmsafe.models import Notification
from pharmsafe.web.session import current_user, guard

bp = Blueprint("inbox", __name__, url_prefix="/inbox")
bp.before_request(guard("admin", "prescriber", "pharmacist", "technician", "manager", "auditor"))
PAGE_SIZE = 100


@bp.get("/")
def index():
    rows = get_session().scalars(select(Notification).where(Notification.user_id == current_user().id)
                                 .order_by(Notification.id.desc()).limit(PAGE_SIZE)).all()
    return render_template("inbox.html", rows=rows)


@bp.post("/<int:notification_id>/open")
def open_one(notification_id: int):
    row = get_session().get(Notification, notification_id)
    if row is None or row.user_id != current_user().id:
        raise NotFound(f"Notification {notification_id} is not in your inbox.")
    if row.read_at is None:
        row.read_at = now()
    return redirect(row.link, 303)
