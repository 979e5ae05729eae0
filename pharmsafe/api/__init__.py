"""JSON API v1: token auth, roles and ownership, then body validation, in that order."""
from __future__ import annotations

from flask import Blueprint

api_bp = Blueprint("api", __name__, url_prefix="/api/v1")

from pharmsafe.api import audit, evidence, openapi, prescriptions, registry, transfers, users  # noqa: E402,F401
