"""Who is signed in: Flask's signed cookie session holds the user's id and the sign-in time; the
user is loaded from the database on every request, so a deactivation refuses the session at once."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import g, redirect, request, session, url_for
from sqlalchemy.exc import SQLAlchemyError

from pharmsafe.models import User
from pharmsafe.services.errors import Forbidden
from pharmsafe.transactions import get_session, now

# A sign-in lasts a working day at most, whatever the browser keeps, and ends after half an hour
# without a request.
SESSION_MAX_AGE = timedelta(hours=12)
SESSION_IDLE = timedelta(minutes=30)

ROLE_HOMES = {
    "admin": "admin.index",
    "prescriber": "prescriber.index",
    "pharmacist": "pharmacist.queue",
    "auditor": "audit.index",
}
ROLE_NAMES = {"admin": "administrators", "prescriber": "prescribers", "pharmacist": "pharmacists",
              "auditor": "auditors"}


def current_user() -> User | None:
    if "web_user" not in g:
        g.web_user = _load_user()
    return g.web_user


def _load_user() -> User | None:
    user_id = session.get("user_id")
    if user_id is None:
        return None
    signed_in_at, seen_at = session.get("signed_in_at"), session.get("seen_at")
    instant = now().timestamp()
    fresh = (isinstance(user_id, int) and isinstance(signed_in_at, (int, float)) and isinstance(seen_at, (int, float))
             and instant - signed_in_at <= SESSION_MAX_AGE.total_seconds()
             and instant - seen_at <= SESSION_IDLE.total_seconds())
    user = get_session().get(User, user_id) if fresh else None
    if user is None or not user.active:
        session.clear()
        return None
    session["seen_at"] = instant
    return user


def start_session(user: User) -> None:
    """A new session: nothing from before the sign-in (a planted session, an old token) carries over."""
    session.clear()
    session["user_id"] = user.id
    session["signed_in_at"] = session["seen_at"] = now().timestamp()
    g.web_user = user


def end_session() -> None:
    session.clear()
    g.web_user = None


def home_url(user: User) -> str:
    return url_for(ROLE_HOMES[user.role])


def safe_next(target: str | None) -> str | None:
    """Only a path on this site is followed after sign-in (never another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def guard(*roles: str):
    """A blueprint's before_request: anonymous visitors go to the sign-in page, other roles get 403."""
    def check():
        user = current_user()
        if user is None:
            target = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("auth.login", next=target))
        if user.role not in roles:
            names = " and ".join(ROLE_NAMES[r] for r in roles)
            raise Forbidden(f"This page is for {names}; you are signed in as a {user.role}.")
        return None
    return check


def template_context() -> dict:
    """What every page may show: the signed-in user (None on a page that failed to load it)."""
    try:
        user = current_user()
    except SQLAlchemyError:
        user = None
    return {"current_user": user, "home_url": home_url(user) if user else url_for("auth.login")}
