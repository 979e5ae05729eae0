"""Admin pages: pharmacies and prescribers (register, edit; a lapse shows what it reversed), users
(create, deactivate, reactivate), API tokens (issue, shown once; revoke) and sign-in locks (see,
lift). Every form that changes something answers with a redirect (post, redirect, get), so that a
reload repeats the page, never the change; a new token waits server-side, for this session only,
for the page the redirect leads to, and is gone once shown."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from pharmsafe.http.unit import get_session, make_ctx, now
from pharmsafe.models import ApiToken, Authorization, Pharmacy, Prescriber, SignInCounter, User
from pharmsafe.models.statuses import AuthorizationStatus, PrescriberStatus, values
from pharmsafe.models.users import ROLES
from pharmsafe.runtime import current_runtime
from pharmsafe.schemas.registry import PharmacyIn, PrescriberIn
from pharmsafe.schemas.users import UserIn, UserPatch
from pharmsafe.services import registry, signin, users
from pharmsafe.web.forms import Form, attempt
from pharmsafe.web.notices import report_reversed
from pharmsafe.web.session import current_user, current_web_session, guard

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(guard("admin"))

PHARMACY_FIELDS = ("name", "ncpdp_id", "rems_registration_id", "activated_until", "time_zone")
PRESCRIBER_FIELDS = ("npi", "first_name", "last_name", "license_state", "license_number", "license_expires_on",
                     "rems_certified_until", "status")
LIST_LIMIT = 500


def _ctx():
    return make_ctx(current_user().actor)


def _values(obj, names) -> dict[str, str]:
    return {name: "" if getattr(obj, name) is None else str(getattr(obj, name)) for name in names}


@bp.get("/")
def index():
    session = get_session()
    counts = {model.__name__: session.scalar(select(func.count()).select_from(model))
              for model in (Pharmacy, Prescriber, User)}
    active_auths = session.scalar(select(func.count()).select_from(Authorization)
                                  .where(Authorization.status == AuthorizationStatus.ACTIVE))
    locks = session.scalar(select(func.count()).select_from(signin.locks_in_force(now()).subquery()))
    return render_template("admin/index.html", counts=counts, active_auths=active_auths, locks=locks)


# Pharmacies and prescribers share one shape: a list, a create form and an edit form.
REGISTRY = {
    "pharmacy": {"model": Pharmacy, "schema": PharmacyIn, "fields": PHARMACY_FIELDS,
                 "create": registry.create_pharmacy, "update": registry.update_pharmacy,
                 "list": "admin.pharmacies", "edit": "admin.edit_pharmacy", "new": "admin.new_pharmacy",
                 "order": (Pharmacy.name, Pharmacy.id)},
    "prescriber": {"model": Prescriber, "schema": PrescriberIn, "fields": PRESCRIBER_FIELDS,
                   "create": registry.create_prescriber, "update": registry.update_prescriber,
                   "list": "admin.prescribers", "edit": "admin.edit_prescriber", "new": "admin.new_prescriber",
                   "order": (Prescriber.last_name, Prescriber.first_name, Prescriber.id)},
}


def _list(kind: str):
    spec = REGISTRY[kind]
    rows = get_session().scalars(select(spec["model"]).order_by(*spec["order"]).limit(LIST_LIMIT)).all()
    return render_template(f"admin/{kind}_list.html", rows=rows, limit=LIST_LIMIT)


def _form(kind: str, form: Form, record=None):
    status = form.status if form.invalid else 200
    return render_template(f"admin/{kind}_form.html", form=form, record=record,
                           statuses=[(s, s) for s in values(PrescriberStatus)]), status


def _create(kind: str):
    spec = REGISTRY[kind]
    if request.method == "GET":
        initial = {"time_zone": "America/New_York"} if kind == "pharmacy" else {"status": "active"}
        return _form(kind, Form(initial))
    form = Form.from_request()
    ctx = _ctx()
    ok, record = attempt(form, lambda: spec["create"](ctx, spec["schema"]().load(
        {name: form.text(name) for name in spec["fields"]})))
    if not ok:
        return _form(kind, form)
    flash(f"{kind.capitalize()} #{record.id} registered.", "success")
    return redirect(url_for(spec["list"]), 303)


def _edit(kind: str, record_id: int):
    spec = REGISTRY[kind]
    ctx = _ctx()
    record = registry.get_pharmacy(ctx, record_id) if kind == "pharmacy" else registry.get_prescriber(ctx, record_id)
    if request.method == "GET":
        return _form(kind, Form(_values(record, spec["fields"])), record)
    form = Form.from_request()
    ok, result = attempt(form, lambda: spec["update"](ctx, record.id, spec["schema"]().load(
        {name: form.text(name) for name in spec["fields"]})))
    if not ok:
        return _form(kind, form, record)
    _record, reversed_ids = result
    flash(f"{kind.capitalize()} #{record.id} saved.", "success")
    report_reversed(reversed_ids)
    return redirect(url_for(spec["edit"], **{f"{kind}_id": record.id}), 303)


@bp.get("/pharmacies")
def pharmacies():
    return _list("pharmacy")


@bp.route("/pharmacies/new", methods=["GET", "POST"])
def new_pharmacy():
    return _create("pharmacy")


@bp.route("/pharmacies/<int:pharmacy_id>", methods=["GET", "POST"])
def edit_pharmacy(pharmacy_id: int):
    return _edit("pharmacy", pharmacy_id)


@bp.get("/prescribers")
def prescribers():
    return _list("prescriber")


@bp.route("/prescribers/new", methods=["GET", "POST"])
def new_prescriber():
    return _create("prescriber")


@bp.route("/prescribers/<int:prescriber_id>", methods=["GET", "POST"])
def edit_prescriber(prescriber_id: int):
    return _edit("prescriber", prescriber_id)


# Users and tokens.
def _choices():
    session = get_session()
    return {
        "roles": [(r, r) for r in ROLES],
        "prescriber_options": [(p.id, f"{p.last_name}, {p.first_name} (NPI {p.npi})") for p in session.scalars(
            select(Prescriber).order_by(Prescriber.last_name, Prescriber.first_name, Prescriber.id))],
        "pharmacy_options": [(p.id, f"{p.name} (NCPDP {p.ncpdp_id})") for p in session.scalars(
            select(Pharmacy).order_by(Pharmacy.name, Pharmacy.id))],
    }


@bp.get("/users", endpoint="users")
def users_list():
    rows = get_session().scalars(select(User).order_by(User.email).limit(LIST_LIMIT)).all()
    return render_template("admin/user_list.html", rows=rows, limit=LIST_LIMIT)


def _show_token_once(ctx, user_id: int, token: str):
    """Keep the new token for this admin's next view of the user's page, then redirect there. The
    token never goes into the URL, a cookie or a log."""
    users.hold_reveal(ctx, current_web_session(), f"user:{user_id}", token)
    return redirect(url_for("admin.user", user_id=user_id), 303)


@bp.route("/users/new", methods=["GET", "POST"])
def new_user():
    if request.method == "GET":
        return render_template("admin/user_form.html", form=Form(), **_choices())
    form = Form.from_request(secret=("password",))
    ctx = _ctx()

    def act():
        data = UserIn().load({
            "email": form.text("email"), "role": form.text("role"), "prescriber_id": form.record_id("prescriber_id"),
            "pharmacy_id": form.record_id("pharmacy_id"), "password": form.secret("password"),
            "issue_token": form.checkbox("issue_token")})
        return users.create_user(ctx, email=data["email"], role=data["role"],
                                 prescriber_id=data.get("prescriber_id"), pharmacy_id=data.get("pharmacy_id"),
                                 password=data.get("password"), issue_token=data.get("issue_token", False))

    ok, result = attempt(form, act)
    if not ok:
        return render_template("admin/user_form.html", form=form, **_choices()), form.status
    user, token = result
    flash(f"User #{user.id} created.", "success")
    if token:
        return _show_token_once(ctx, user.id, token)
    return redirect(url_for("admin.user", user_id=user.id), 303)


@bp.get("/users/<int:user_id>")
def user(user_id: int):
    target = users.get_user(_ctx(), user_id)
    session = get_session()
    tokens = session.scalars(select(ApiToken).where(ApiToken.user_id == target.id).order_by(ApiToken.id.desc())).all()
    return render_template(
        "admin/user.html", user=target, tokens=tokens,
        new_token=users.take_reveal(current_web_session(), f"user:{target.id}", now()),
        new_link=users.take_reveal(current_web_session(), f"password-link:{target.id}", now()),
        prescriber=session.get(Prescriber, target.prescriber_id) if target.prescriber_id else None,
        pharmacy=session.get(Pharmacy, target.pharmacy_id) if target.pharmacy_id else None)


@bp.post("/users/<int:user_id>/active")
def set_active(user_id: int):
    ctx = _ctx()
    target = users.get_user(ctx, user_id)
    form = Form.from_request()
    ok, _user = attempt(form, lambda: users.update_user(ctx, target.id, UserPatch().load(
        {"active": form.choice("active", {"yes": True, "no": False})}), source="web"))
    if not ok:
        reasons = [m for messages in form.errors.values() for m in messages] or [form.message]
        flash("The change was refused: " + " ".join(reasons), "error")
    elif target.active:
        flash(f"User #{target.id} reactivated.", "success")
    else:
        flash(f"User #{target.id} deactivated: their sessions and API tokens stop working now.", "success")
    return redirect(url_for("admin.user", user_id=target.id), 303)


@bp.post("/users/<int:user_id>/tokens")
def issue_token(user_id: int):
    ctx = _ctx()
    target = users.get_user(ctx, user_id)
    _row, token = users.issue_api_token(ctx, target.id)
    flash("API token issued.", "success")
    return _show_token_once(ctx, target.id, token)


@bp.post("/users/<int:user_id>/password-link")
def password_link(user_id: int):
    """A one-time link for the user to set a password: the first, or after a reset (the old password
    and the user's sessions stop working at once). Shown to this admin once, never in a URL they see
    in the address bar, a cookie or a log."""
    ctx = _ctx()
    target = users.get_user(ctx, user_id)
    had_password = bool(target.password_hash)
    _row, token = users.issue_password_link(ctx, target.id)
    link = current_runtime().settings["BASE_URL"] + url_for("auth.set_password", token=token)
    users.hold_reveal(ctx, current_web_session(), f"password-link:{target.id}", link)
    flash(("Password reset: the old password and every session of the user stopped working. " if had_password
           else "") + "Password link made: pass it on yourself.", "success")
    return redirect(url_for("admin.user", user_id=target.id), 303)


@bp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int):
    ctx = _ctx()
    row = users.revoke_api_token(ctx, token_id)
    flash(f"API token #{row.id} revoked.", "success")
    return redirect(url_for("admin.user", user_id=row.user_id), 303)


# Sign-in locks.
@bp.get("/sign-in-locks")
def sign_in_locks():
    session = get_session()
    rows = session.scalars(signin.locks_in_force(now()).order_by(SignInCounter.id.desc())
                           .limit(LIST_LIMIT)).all()
    people = {u.id: u for u in session.scalars(select(User).where(User.id.in_({r.user_id for r in rows if r.user_id})))}
    return render_template("admin/sign_in_locks.html", locks=[signin.lock_facts(r) for r in rows], people=people,
                           limit=LIST_LIMIT, limits=signin.Limits())


@bp.post("/sign-in-locks/<int:lock_id>/lift")
def lift_lock(lock_id: int):
    _lock, was_locked = signin.lift_lock(_ctx(), lock_id, source="web")
    flash(f"Lock lifted: #{lock_id} refuses no sign-in now." if was_locked else
          f"Lock #{lock_id} was no longer in force.", "success")
    return redirect(url_for("admin.sign_in_locks"), 303)
