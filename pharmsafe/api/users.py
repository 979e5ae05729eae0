"""Users, API tokens and sign-in locks (admin)."""
from __future__ import annotations

from flask import jsonify
from marshmallow import Schema, fields

from pharmsafe.api.blueprint import api_bp
from pharmsafe.api.common import ctx, current_user, load_body, load_query, paginate, roles
from pharmsafe.errors import Forbidden
from pharmsafe.http.unit import now
from pharmsafe.models import SignInCounter
from pharmsafe.schemas.common import Instant, PageQuery
from pharmsafe.schemas.users import TokenOut, UserIn, UserOut, UserPatch
from pharmsafe.services import signin
from pharmsafe.services import users as svc


class SignInLockOut(Schema):
    """A sign-in lock: an account (the email as typed, and the user it names, if any), a client
    address, or a device (a browser of a user) refused for failed sign-ins until ``locked_until``
    (null once lifted or run out)."""
    id = fields.Integer(required=True)
    scope = fields.String(required=True, metadata={"enum": list(signin.LOCK_SCOPES)})
    user_id = fields.Integer(allow_none=True, required=True)
    email = fields.String(allow_none=True, required=True)
    client_address = fields.String(allow_none=True, required=True)
    failures = fields.Integer(required=True)
    locked_until = Instant(allow_none=True, required=True)


def _lock_out(counter: SignInCounter) -> dict:
    return SignInLockOut().dump(signin.lock_facts(counter))


@api_bp.post("/users")
@roles("admin")
def create_user():
    data = load_body(UserIn())
    user, token = svc.create_user(ctx(), email=data["email"], role=data["role"],
                                  prescriber_id=data.get("prescriber_id"), pharmacy_id=data.get("pharmacy_id"),
                                  password=data.get("password"), issue_token=data.get("issue_token", False))
    body = UserOut().dump(user)
    if token:
        body["api_token"] = token
    return jsonify(body), 201


@api_bp.patch("/users/<int:user_id>")
@roles("admin")
def update_user(user_id: int):
    c = ctx()
    svc.get_user(c, user_id)
    user = svc.update_user(c, user_id, load_body(UserPatch(), partial=True), source="api")
    return jsonify(UserOut().dump(user))


@api_bp.post("/users/<int:user_id>/tokens")
@roles("admin")
def issue_token(user_id: int):
    row, token = svc.issue_api_token(ctx(), user_id)
    return jsonify({**TokenOut().dump(row), "api_token": token}), 201


@api_bp.delete("/tokens/<int:token_id>")
@roles("admin", "prescriber", "pharmacist", "technician", "manager", "auditor")
def revoke_token(token_id: int):
    c = ctx()
    row = svc.get_token(c, token_id)
    user = current_user()
    if user.role != "admin" and row.user_id != user.id:
        raise Forbidden("Only an admin or the token's owner may revoke it.")
    return jsonify(TokenOut().dump(svc.revoke_api_token(c, token_id)))


@api_bp.get("/sign-in-locks")
@roles("admin")
def list_sign_in_locks():
    cursor = load_query(PageQuery()).get("cursor")
    return jsonify(paginate(signin.locks_in_force(now()), SignInCounter.id, cursor, _lock_out))


@api_bp.delete("/sign-in-locks/<int:lock_id>")
@roles("admin")
def lift_sign_in_lock(lock_id: int):
    counter, _lifted = signin.lift_lock(ctx(), lock_id, source="api")
    return jsonify(_lock_out(counter))
