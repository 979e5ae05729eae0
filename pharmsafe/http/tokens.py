"""Bearer-token authentication and role checks, for the JSON API and the FHIR facade alike: the
token first (401), then the role (403), before the body is read."""
from __future__ import annotations

import functools

from flask import g, request

from pharmsafe.errors import Forbidden, Unauthorized
from pharmsafe.http.unit import get_session, make_ctx
from pharmsafe.models import User
from pharmsafe.services.context import Ctx
from pharmsafe.services.users import user_for_token


def current_user() -> User:
    if "api_user" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        user = user_for_token(get_session(), token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if user is None:
            raise Unauthorized("A valid API token is required: send 'Authorization: Bearer <token>'.")
        g.api_user = user
    return g.api_user


def roles(*allowed: str):
    """Authenticate, then refuse roles not in ``allowed`` (403), before the body is read."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            user = current_user()
            if user.role not in allowed:
                raise Forbidden(f"The {user.role} role may not do this.")
            return view(*args, **kwargs)

        wrapper.allowed_roles = allowed
        return wrapper

    return decorator


def ctx() -> Ctx:
    """The request's unit of work, as the token's user."""
    return make_ctx(current_user().actor)
