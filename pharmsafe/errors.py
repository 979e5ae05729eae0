"""Domain errors and HTTP errors mapped to responses in one place: JSON under /api (and for
clients that ask for JSON), a page for people otherwise. Never a stack trace."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from jinja2 import TemplateNotFound
from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from pharmsafe.services.errors import DomainError
from pharmsafe.transactions import mark_persist

log = logging.getLogger("pharmsafe")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


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
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    if details:
        body.update(details)
    return jsonify({"error": body}), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        if exc.persist:
            mark_persist()
        return error_response(exc.status, exc.code, exc.message, exc.fields, exc.details)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError):
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return error_response(422, "validation_error", "The request has invalid fields.", _flatten(messages))

    @app.errorhandler(IntegrityError)
    def _integrity(exc: IntegrityError):
        log.warning("integrity conflict on %s %s", request.method, request.path)
        return error_response(409, "conflict", "The change conflicts with the current state; reload and try again.")

    @app.errorhandler(OperationalError)
    def _operational(exc: OperationalError):
        log.error("database unavailable on %s %s: %s", request.method, request.path, type(exc.orig).__name__)
        return error_response(503, "unavailable", "The database is busy or unreachable; try again.")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        status = exc.code or 500
        message = {
            413: "The request body is larger than 1 MiB.",
            404: "There is nothing at this address.",
            405: "This method is not allowed here.",
        }.get(status, exc.description or "The request could not be handled.")
        return error_response(status, HTTP_CODES.get(status, "http_error"), message)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.path)
        return error_response(500, "internal_error", "Something went wrong; nothing was saved.")


def _flatten(messages, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow nests messages for lists and nested objects; the API reports them per field path."""
    out: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = [str(v) for v in value]
        else:
            out[name] = [str(value)]
    return out
