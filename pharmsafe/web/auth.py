"""Sign-in and sign-out, and a person's own account: their sessions (where and when each began, when
it was last used; ending the others) and their password.

The sign-in service decides (one generic message for a wrong email or a wrong password, limits on
repeated failures) and audits every outcome, never with the password. No answer but a success
carries a new session (pharmsafe.web.session.SessionCookies)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from marshmallow import ValidationError

from pharmsafe.audit.chain import audit_batch
from pharmsafe.db import read_only_session
from pharmsafe.http.unit import make_ctx, mark_persist, now
from pharmsafe.models import User
from pharmsafe.runtime import current_runtime
from pharmsafe.schemas.users import UserIn
from pharmsafe.services import signin, users
from pharmsafe.web.forms import REQUIRED_MESSAGE, Form
from pharmsafe.web.session import (
    ROLE_HOMES,
    client_address,
    current_user,
    current_web_session,
    end_session,
    guard,
    home_url,
    install_session_cookies,
    known_devices,
    remember_device,
    safe_next,
    start_session,
)

bp = Blueprint("auth", __name__)
bp.record_once(lambda state: install_session_cookies(state.app))

_signed_in = guard(*ROLE_HOMES)


@bp.get("/")
def home():
    user = current_user()
    return redirect(home_url(user) if user else url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = safe_next(request.values.get("next"))
    if request.method != "POST":  # GET, and HEAD answered as GET
        user = current_user()
        if user is not None:
            return redirect(next_url or home_url(user))
        return render_template("auth/login.html", form=Form(), next_url=next_url)

    form = Form.from_request(secret=("password",))
    email, password = form.text("email"), form.secret("password")
    for name, value in (("email", email), ("password", password)):
        if not value:
            form.errors[name] = [REQUIRED_MESSAGE]
    if form.errors:
        form.message = "Enter your email and password."
        return render_template("auth/login.html", form=form, next_url=next_url), 422

    ctx = make_ctx("anonymous")
    refusal = None
    # The session row is written before the audit chain is locked (the chain's lock comes last in
    # every transaction that takes it).
    with audit_batch(ctx.session):
        try:
            user = signin.sign_in(ctx, email, password, client_address(), devices=known_devices())
        except (signin.SignInRefused, signin.SignInThrottled) as exc:
            refusal = exc
        else:
            kept = session.get("stash_sid")
            old = users.session_row(ctx.session, kept) if isinstance(kept, str) else None
            new = start_session(make_ctx(user.actor), user)
            users.carry_stash(old, new, now())
    if refusal is not None:
        # The refusal (its audit event and the failure count) is committed with the answer.
        mark_persist()
        form.message = refusal.message
        return render_template("auth/login.html", form=form, next_url=next_url), refusal.status
    response = redirect(next_url or home_url(user))
    remember_device(response, user)
    return response


@bp.post("/logout")
def logout():
    user = current_user()
    end_session(make_ctx(user.actor if user else "anonymous"))
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


# A person's own account.

@bp.get("/account/sessions")
def sessions():
    denied = _signed_in()
    if denied is not None:
        return denied
    user, here = current_user(), current_web_session()
    rows = users.live_sessions(make_ctx(user.actor), user.id)
    return render_template("account/sessions.html", rows=rows, here=here)


@bp.post("/account/sessions/<int:session_id>/end")
def end_one(session_id: int):
    denied = _signed_in()
    if denied is not None:
        return denied
    user, here = current_user(), current_web_session()
    ctx = make_ctx(user.actor)
    row = users.own_session(ctx, user.id, session_id)
    if row.id == here.id:
        end_session(ctx)
        flash("You are signed out.", "info")
        return redirect(url_for("auth.login"), 303)
    users.end_web_session(ctx, row, "ended_by_user")
    flash("Session ended: that browser is signed out.", "success")
    return redirect(url_for("auth.sessions"), 303)


@bp.post("/account/sessions/end-others")
def end_others():
    denied = _signed_in()
    if denied is not None:
        return denied
    user, here = current_user(), current_web_session()
    ended = users.end_user_sessions(make_ctx(user.actor), user.id, "ended_by_user", keep_session_id=here.id)
    flash(f"{len(ended)} other session{'' if len(ended) == 1 else 's'} ended." if ended else "No other session to end.",
          "success")
    return redirect(url_for("auth.sessions"), 303)


@bp.route("/account/password", methods=["GET", "POST"])
def password():
    if request.method != "POST":
        denied = _signed_in()
        return denied or render_template("account/password.html", form=Form())
    form = Form.from_request(secret=("current_password", "new_password", "confirm_password"))
    # The current password is verified and the new one hashed before the write transaction begins
    # (argon2 is slow by design; on SQLite a write transaction holds the only write lock).
    seen = _peek_signed_in()
    new_hash = None
    if seen is not None:
        new_hash = _check_password_form(form, seen[1])
    denied = _signed_in()
    if denied is not None:
        return denied
    user = current_user()
    if seen is None or seen[0] != user.id or user.password_hash != seen[1]:
        # Signed in, or the password changed, between the two looks: the form is judged again.
        form.errors = {"current_password": ["This is not your current password."]}
        new_hash = None
    if new_hash is None:
        form.message = form.message or "The password was not changed."
        return render_template("account/password.html", form=form), 422
    ctx = make_ctx(user.actor)
    users.change_password(ctx, user.id, new_hash, source="web")  # ends every session, this one too
    start_session(ctx, user)  # and this browser goes on in a new one
    flash("Password changed. Every other session of yours has ended.", "success")
    return redirect(url_for("auth.sessions"), 303)


@bp.route("/account/set-password/<token>", methods=["GET", "POST"])
def set_password(token: str):
    """A one-time password link (made by an admin): choose a password, then sign in with it."""
    with read_only_session(current_runtime().session_factory) as reader:
        link = users.password_link(reader, token, now())
        email = reader.get(User, link.user_id).email if link is not None else None
        user_id = link.user_id if link is not None else None
    if link is None:
        return render_template("account/set_password.html", form=Form(), email=None), 404
    if request.method != "POST":
        return render_template("account/set_password.html", form=Form(), email=email)
    form = Form.from_request(secret=("new_password", "confirm_password"))
    new, confirm = form.secret("new_password"), form.secret("confirm_password")
    for name, value in (("new_password", new), ("confirm_password", confirm)):
        if not value:
            form.errors[name] = [REQUIRED_MESSAGE]
    if new:
        try:
            UserIn(only=("password",)).load({"password": new})
        except ValidationError as exc:
            form.errors["new_password"] = list(exc.messages.get("password", []))
    if new and confirm and new != confirm:
        form.errors["confirm_password"] = ["Does not match the new password."]
    if form.errors:
        form.message = "The password was not set."
        return render_template("account/set_password.html", form=form, email=email), 422
    new_hash = users.hash_password(new, current_runtime().passwords)  # before the write transaction
    ctx = make_ctx(f"user:{user_id}")  # the person the link is for, setting their own password
    user = users.use_password_link(ctx, token, new_hash)
    flash(f"Password set for {user.email}: sign in with it now.", "success")
    return redirect(url_for("auth.login"), 303)


def _peek_signed_in() -> tuple[int, str | None] | None:
    """The signed-in user's id and password hash, read without a write transaction."""
    session_id = session.get("sid")
    if not isinstance(session_id, str):
        return None
    with read_only_session(current_runtime().session_factory) as reader:
        return users.peek_web_session(reader, session_id, now())


def _check_password_form(form: Form, password_hash: str | None) -> str | None:
    """The new password's hash when the form is right, else None with the form's messages set."""
    current, new, confirm = (form.secret(n) for n in ("current_password", "new_password", "confirm_password"))
    for name, value in (("current_password", current), ("new_password", new), ("confirm_password", confirm)):
        if not value:
            form.errors[name] = [REQUIRED_MESSAGE]
    if new:
        try:
            UserIn(only=("password",)).load({"password": new})
        except ValidationError as exc:
            form.errors["new_password"] = list(exc.messages.get("password", []))
    if new and confirm and new != confirm:
        form.errors["confirm_password"] = ["Does not match the new password."]
    passwords = current_runtime().passwords
    if current and not users.verify_password(password_hash, current, passwords):
        form.errors["current_password"] = ["This is not your current password."]
    return None if form.errors else users.hash_password(new, passwords)
