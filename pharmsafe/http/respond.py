"""An error answered as the client wants it: the JSON error body under /api (and for clients that
ask for JSON), a plain page for people otherwise. Never a stack trace."""
from __future__ import annotations

from flask import jsonify, render_template, request
from jinja2 import TemplateNotFound

from pharmsafe.http.bodies import error_body


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, code: str, message: str, fields=None, details=None):
    if not wants_json():
        try:
            return render_template("errors/error.html", status=status, message=message), status
        except TemplateNotFound:
            pass
    return jsonify(error_body(code, message, fields, details)), status
