"""Who is signed in. A web sign-in is a row in the database (pharmsafe.services.users): the signed
session cookie carries only a random session id, and the row keeps its SHA-256. Every request looks
the row up, checks the idle and absolute limits and the user's active flag, and records itself as
the session's latest; sign-out, deactivation and a password change end the row, so every copy of
the cookie stops working at once.

Device cookies (OWASP): a browser that signed in to an account gets a signed cookie naming the
account, which exempts it from the sign-in locks others can trip (pharmsafe.services.signin)."""
from __future__ import annotations

import secrets
import unicodedata
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app, flash, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from pharmsafe.errors import Forbidden
from pharmsafe.http.unit import get_session, now
from pharmsafe.models import User, WebSession
from pharmsafe.services import users
from pharmsafe.services.context import Ctx
from pharmsafe.services.notifications import unread_count
from pharmsafe.services.users import SESSION_IDLE, SESSION_MAX_AGE  # noqa: F401  (the limits live with the rows)

ROLE_HOMES = {
    "admin": "admin.index",
    "prescriber": "prescriber.index",
    "pharmacist": "pharmacist.queue",
    "technician": "pharmacist.queue",
    "manager": "manager.index",
    "auditor": "audit.index",
}
ROLE_NAMES = {"admin": "administrators", "prescriber": "prescribers", "pharmacist": "pharmacists",
              "technician": "technicians", "manager": "managers", "auditor": "auditors"}

DEVICE_COOKIE = "pharmsafe_device"
DEVICE_MAX_AGE = timedelta(days=90)
# Accounts remembered per browser (a shared computer at the counter signs in several people).
DEVICES_PER_BROWSER = 8
_DEVICE_SALT = "pharmsafe.device-cookie"


def current_user() -> User | None:
    if "web_user" not in g:
        row = _load_session()
        g.web_session, g.web_user = row, (row.user if row else None)
    return g.web_user


def current_web_session() -> WebSession | None:
    current_user()
    return g.web_session


def _load_session() -> WebSession | None:
    session_id = session.get("sid")
    if session_id is None:
        return None
    row = users.web_session_for(get_session(), session_id, now()) if isinstance(session_id, str) else None
    if row is None:
        session.pop("sid", None)
        if isinstance(session_id, str):
            g.expired_sid = session_id  # a form posted now is kept for the next sign-in (guard)
    return row


def client_address() -> str:
    return request.remote_addr or "unknown"


def start_session(ctx: Ctx, user: User) -> WebSession:
    """A new session: nothing from before the sign-in (a planted session, an earlier sign-in in this
    browser) carries over, and an earlier session of this browser ends."""
    earlier = current_web_session()
    if earlier is not None:
        users.end_web_session(ctx, earlier, "replaced")
    row, session_id = users.open_web_session(ctx, user, client_address=client_address(),
                                             user_agent=request.headers.get("User-Agent", ""))
    session.clear()
    session["sid"] = session_id
    g.web_session, g.web_user = row, user
    g.session_started = True
    return row


def end_session(ctx: Ctx, reason: str = "signed_out") -> None:
    row = current_web_session()
    if row is not None:
        users.end_web_session(ctx, row, reason)
    session.clear()
    g.web_session = g.web_user = None


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed cookie, except that an answer that is not a success never carries a session
    begun during its request: a sign-in that fails after the password was accepted (an error while
    answering, a commit that fails) leaves the browser as it was, and its new row is rolled back."""

    def save_session(self, app, session_, response) -> None:
        if g.get("session_started") and not 200 <= response.status_code < 400:
            return
        super().save_session(app, session_, response)


def install_session_cookies(app) -> None:
    app.session_interface = SessionCookies()


# Device cookies: [[user id, nonce, issued (epoch seconds)], ...], newest first, signed.

def _device_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=_DEVICE_SALT)


def _device_entries() -> list[list]:
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw or len(raw) > 4096:
        return []
    try:
        entries = _device_serializer().loads(raw)
    except BadSignature:
        return []
    oldest = (now() - DEVICE_MAX_AGE).timestamp()
    return [e for e in entries if isinstance(e, list) and len(e) == 3 and isinstance(e[0], int)
            and isinstance(e[1], str) and isinstance(e[2], (int, float)) and e[2] >= oldest][:DEVICES_PER_BROWSER] \
        if isinstance(entries, list) else []


def known_devices() -> dict[int, str]:
    """The accounts this browser signed in to before: user id -> the device cookie's nonce."""
    devices: dict[int, str] = {}
    for user_id, nonce, _issued in _device_entries():
        devices.setdefault(user_id, nonce)
    return devices


def remember_device(response, user: User) -> None:
    """Name this account in the browser's device cookie (a fresh nonce, the newest entry)."""
    entries = [[user.id, secrets.token_urlsafe(16), int(now().timestamp())]]
    entries += [e for e in _device_entries() if e[0] != user.id][:DEVICES_PER_BROWSER - 1]
    response.set_cookie(DEVICE_COOKIE, _device_serializer().dumps(entries),
                        max_age=int(DEVICE_MAX_AGE.total_seconds()), path=url_for("auth.login"),
                        secure=current_app.config["SESSION_COOKIE_SECURE"], httponly=True, samesite="Strict")


def home_url(user: User) -> str:
    return url_for(ROLE_HOMES[user.role])


def safe_next(target: str | None) -> str | None:
    """Only a path on this site is followed after sign-in (never another host). Control and
    invisible characters and white space are refused rather than cleaned: browsers drop a tab or a
    line break inside a URL, so "/\\t/evil.example" would reach another host, and a line break
    cannot go into a Location header at all."""
    if not target or len(target) > 2000 or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def guard(*roles: str):
    """A blueprint's before_request: anonymous visitors go to the sign-in page, other roles get 403."""
    def check():
        user = current_user()
        if user is None:
            target = request.full_path.rstrip("?") if request.method == "GET" else None
            if request.method == "POST":
                target = _keep_timed_out_form()
            return redirect(url_for("auth.login", next=target))
        if user.role not in roles:
            names = " and ".join(ROLE_NAMES[r] for r in roles)
            raise Forbidden(f"This page is for {names}; you are signed in as a {user.role}.")
        return None
    return check


def form_page(path: str) -> str:
    """The page a form posting to ``path`` is on: the path itself when it also answers GET (a "new"
    form), else its parent (the prescription a Dispense form belongs to)."""
    adapter = current_app.url_map.bind("")
    for candidate in (path, path.rsplit("/", 1)[0]):
        try:
            adapter.match(candidate, method="GET")
            return candidate
        except HTTPException:
            continue
    return path


def _keep_timed_out_form() -> str | None:
    """A form posted after its session timed out: keep what was typed on that session's row, and say
    where to come back to after signing in."""
    expired = g.get("expired_sid")
    if not expired:
        return None
    row = users.session_row(get_session(), expired)
    page = form_page(request.path)
    values = {k: (v if len(v) > 1 else v[0]) for k, v in request.form.lists()}
    if row is None or not users.stash_form(row, page, values, now()):
        return None
    session["stash_sid"] = expired
    return page


def restored_form(defaults: dict | None = None) -> dict | None:
    """On a form's page after signing in again: what was typed before the session timed out (and a
    message saying so), once; None otherwise."""
    values = users.take_stash(current_web_session(), request.path, now())
    if values is None:
        return defaults
    flash("Your session had ended before this form was sent: what you typed is back (passwords never are). "
          "Check it and send it again.", "info")
    return values


def template_context() -> dict:
    """What every page may show: the signed-in user (None on a page that failed to load it)."""
    try:
        user = current_user()
    except SQLAlchemyError:
        user = None
    unread = 0
    if user is not None:
        try:
            unread = unread_count(get_session(), user.id)
        except SQLAlchemyError:
            unread = 0
    return {"current_user": user, "home_url": home_url(user) if user else url_for("auth.login"), "unread": unread,
            "form_page": form_page}
