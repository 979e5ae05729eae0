"""Domain errors and HTTP errors mapped to responses in one place (pharmsafe.http.respond answers
them as JSON or as a page)."""
from __future__ import annotations

import logging

from flask import Flask, request
from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from pharmsafe.errors import DomainError
from pharmsafe.http.bodies import CONFLICT, HTTP_CODES, INTERNAL, UNAVAILABLE, flatten_messages
from pharmsafe.http.respond import error_response
from pharmsafe.http.unit import mark_persist

log = logging.getLogger("pharmsafe")

HTTP_MESSAGES = {
    413: "The request body is larger than 1 MiB.",
    404: "There is nothing at this address.",
    405: "This method is not allowed here.",
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        if exc.persist:
            mark_persist()
        return error_response(exc.status, exc.code, exc.message, exc.fields, exc.details)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError):
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return error_response(422, "validation_error", "The request has invalid fields.", flatten_messages(messages))

    @app.errorhandler(IntegrityError)
    def _integrity(exc: IntegrityError):
        log.warning("integrity conflict on %s %s", request.method, request.path)
        return error_response(*CONFLICT)

    @app.errorhandler(OperationalError)
    def _operational(exc: OperationalError):
        log.error("database unavailable on %s %s: %s", request.method, request.path, type(exc.orig).__name__)
        return error_response(*UNAVAILABLE)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        status = exc.code or 500
        message = HTTP_MESSAGES.get(status, exc.description or "The request could not be handled.")
        return error_response(status, HTTP_CODES.get(status, "http_error"), message)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.path)
        return error_response(*INTERNAL)
