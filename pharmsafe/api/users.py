"""Users and API tokens (admin)."""
from __future__ import annotations

from flask import jsonify

from pharmsafe.api import api_bp
from pharmsafe.api.common import current_user, ctx, load_body, roles
from pharmsafe.schemas.users import TokenOut, UserIn, UserOut, UserPatch
from pharmsafe.services import users as svc
from pharmsafe.services.errors import Forbidden


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
    user = svc.update_user(c, user_id, load_body(UserPatch(), partial=True))
    return jsonify(UserOut().dump(user))


@api_bp.post("/users/<int:user_id>/tokens")
@roles("admin")
def issue_token(user_id: int):
    row, token = svc.issue_api_token(ctx(), user_id)
    return jsonify({**TokenOut().dump(row), "api_token": token}), 201


@api_bp.delete("/tokens/<int:token_id>")
@roles("admin", "prescriber", "pharmacist", "auditor")
def revoke_token(token_id: int):
    c = ctx()
    row = svc.get_token(c, token_id)
    user = current_user()
    if user.role != "admin" and row.user_id != user.id:
        raise Forbidden("Only an admin or the token's owner may revoke it.")
    return jsonify(TokenOut().dump(svc.revoke_api_token(c, token_id)))
