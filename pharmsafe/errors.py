"""Domain errors: the one module the services and the edges raise from; pharmsafe.http.errors maps
them to HTTP in one place."""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "bad_request"
    # True when the refusal itself was recorded (a decision and its audit event) and the edge must
    # commit that record while answering with the error.
    persist = False

    def __init__(self, message: str, *, code: str | None = None, fields: dict[str, list[str]] | None = None,
                 details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields
        self.details = details

    def recorded(self) -> DomainError:
        self.persist = True
        return self


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class MultipleMatches(DomainError):
    """412: a reference or input names more than one record; one is never picked."""
    status = 412
    code = "multiple_matches"


class TooLarge(DomainError):
    status = 413
    code = "payload_too_large"


class ValidationFailed(DomainError):
    status = 422
    code = "validation_error"

    def __init__(self, fields: dict[str, list[str]], message: str = "The request has invalid fields."):
        super().__init__(message, fields=fields)


class Unauthorized(DomainError):
    """401: no valid bearer token (the API)."""
    status = 401
    code = "unauthorized"


class MalformedBody(DomainError):
    """400: the body is not JSON this API can read."""
    status = 400
    code = "bad_request"

    def __init__(self, problem: str):
        super().__init__(f"The request body is not usable JSON: {problem}", fields={"_schema": [problem]})


class SignInRefused(DomainError):
    status = 401
    code = "sign_in_failed"


class SignInThrottled(DomainError):
    status = 429
    code = "too_many_attempts"


class UnsupportedMedia(DomainError):
    """415: a body in a media type the endpoint does not read."""
    status = 415
    code = "unsupported_media_type"
