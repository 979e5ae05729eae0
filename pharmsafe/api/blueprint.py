"""The JSON API's blueprint, which every route module of pharmsafe.api registers on."""
from __future__ import annotations

from flask import Blueprint

api_bp = Blueprint("api", __name__, url_prefix="/api/v1")
