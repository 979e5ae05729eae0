"""The request edge of the unit of work: one session per request, committed in one place.

A request that answers below 400 commits; an error rolls back, unless the error itself was
recorded (a refused dispense keeps its decision and audit event). A commit that fails on a
constraint answers 409, never a 500 with a half-written change."""
from __future__ import annotations

from flask import Flask, g, has_request_context, make_response, request
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from pharmsafe.http.bodies import CONFLICT, UNAVAILABLE
from pharmsafe.http.respond import error_response
from pharmsafe.runtime import current_runtime
from pharmsafe.services.context import Ctx


def get_session() -> Session:
    if "db" not in g:
        g.db = current_runtime().session_factory()
    return g.db


def now():
    return current_runtime().clock.now()


# The edge a request came in by, by its path (DESIGN.md §2's `source`); anything else is a page.
SOURCE_PREFIXES = (("/api/", "api"), ("/fhir/", "fhir"), ("/ncpdp/", "ncpdp"))


def request_source() -> str:
    return next((source for prefix, source in SOURCE_PREFIXES if request.path.startswith(prefix)), "web")


def make_ctx(actor: str) -> Ctx:
    """The request's unit of work, as the given actor: its session, committed by ``finish``."""
    return current_runtime().ctx(get_session(), actor, source=request_source())


def mark_persist() -> None:
    g.persist_error = True


def finish(response):
    """Commit (or roll back) the request's session now; returns the response to send."""
    session: Session | None = g.pop("db", None)
    if session is None:
        return response
    try:
        if response.status_code < 400 or g.pop("persist_error", False):
            session.commit()
        else:
            session.rollback()
    except IntegrityError:
        session.rollback()
        return make_response(error_response(*CONFLICT))
    except OperationalError:
        session.rollback()
        return make_response(error_response(*UNAVAILABLE))
    finally:
        session.close()
    return response


def discard() -> None:
    """Roll back and close the request's session now, ahead of teardown: a request that failed
    gives up its locks (SQLite's write lock) before anything else is written."""
    session: Session | None = g.pop("db", None)
    if session is not None:
        try:
            session.rollback()
        finally:
            session.close()


def init_app(app: Flask) -> None:
    app.after_request(finish)

    @app.teardown_request
    def _teardown(_exc):
        if has_request_context():
            session = g.pop("db", None)
            if session is not None:
                session.rollback()
                session.close()
