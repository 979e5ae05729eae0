"""JSON API v1: token auth, roles and ownership, then body validation, in that order.

Importing the package registers every route module's views on ``api_bp``."""
from __future__ import annotations

from pharmsafe.api import audit, evidence, openapi, prescriptions, registry, transfers, users
from pharmsafe.api.blueprint import api_bp

__all__ = ["api_bp", "audit", "evidence", "openapi", "prescriptions", "registry", "transfers", "users"]
