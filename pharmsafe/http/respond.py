"""An error answered as the client wants it: the JSON error body under /api (and for clients that
ask for JSON), a plain page for people otherwise. Never a stack trace."""
from __future__ import annotations

from collections.abc import Callable

from flask import jsonify, render_template, request
from jinja2 import TemplateNotFound

from pharmsafe.http.bodies import error_body

# Facades that answer errors in their own shape (the FHIR facade: an OperationOutcome), by path
# prefix; registered by the facade, so that the edge never imports it.
_RENDERERS: dict[str, Callable] = {}


def render_errors_under(prefix: str, renderer: Callable) -> None:
    """``renderer(status, code, message, fields, details)`` answers every error under ``prefix``."""
    _RENDERERS[prefix] = renderer


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, code: str, message: str, fields=None, details=None):
    for prefix, renderer in _RENDERERS.items():
        if request.path.startswith(prefix):
            return renderer(status, code, message, fields, details)
    if not wants_json():
        try:
            return render_template("errors/error.html", status=status, message=message), status
        except TemplateNotFound:
            pass
    return jsonify(error_body(code, message, fields, details)), status
