"""Sign-in and sign-out. The sign-in service decides (one generic message for a wrong email or a
wrong password, limits on repeated failures) and audits every outcome, never with the password."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from pharmsafe.services import signin
from pharmsafe.transactions import make_ctx, mark_persist
from pharmsafe.web.forms import REQUIRED_MESSAGE, Form
from pharmsafe.web.session import current_user, end_session, home_url, safe_next, start_session

bp = Blueprint("auth", __name__)


@bp.get("/")
def home():
    user = current_user()
    return redirect(home_url(user) if user else url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
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
    try:
        user = signin.sign_in(ctx, email, password, request.remote_addr or "unknown")
    except (signin.SignInRefused, signin.SignInThrottled) as exc:
        # The refusal (its audit event and the failure count) is committed with the answer.
        mark_persist()
        form.message = exc.message
        return render_template("auth/login.html", form=form, next_url=next_url), exc.status
    start_session(user)
    return redirect(next_url or home_url(user))


@bp.post("/logout")
def logout():
    end_session()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
