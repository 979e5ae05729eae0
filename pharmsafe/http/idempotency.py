"""Idempotency-Key, as DESIGN.md §5 says: scoped to the token's user and the route, kept 24 hours.

The key is claimed in its own committed transaction before the request runs, so a duplicate that
arrives meanwhile sees the claim and gets 409 request_in_progress; the answer is stored after the
request's own transaction has committed, and replayed for the same key and body.

A request that fails releases its claim, so that the client's retry proceeds at once: an answer of 500
or above, or anything raised before the answer is kept (a commit that fails in a way no error
handler maps, a worker stopped mid-request). Such a request's transaction is rolled back, so the
retry starts afresh; in the one case where the request had committed (its answer then could not be
kept) the retry meets the state it left, and a dispense is refused as already dispensed, never made
twice. Only a claim whose release cannot reach the database (the database is down, the process was
killed) waits out ABANDONED_AFTER."""
from __future__ import annotations

import functools
import hashlib
import json
import logging
from datetime import datetime, timedelta

from flask import Response, current_app, make_response, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from pharmsafe.errors import Conflict, MalformedBody, ValidationFailed
from pharmsafe.http.jsonbody import json_text, nested_too_deep
from pharmsafe.http.tokens import current_user
from pharmsafe.http.unit import discard, finish, get_session, now
from pharmsafe.models import IdempotencyRecord
from pharmsafe.runtime import current_runtime

log = logging.getLogger("pharmsafe")

KEEP_FOR = timedelta(hours=24)
# A claim older than this whose request never finished (its process died) may be taken over.
ABANDONED_AFTER = timedelta(minutes=5)


def _request_hash() -> str:
    """The body's hash, of its canonical JSON when it is JSON the view could read; of its bytes
    otherwise (the view answers 400 for it). A body nested too deep is never parsed here either."""
    raw = request.get_data(cache=True)
    body = raw
    try:
        text = json_text(raw)
        if not nested_too_deep(text):
            body = json.dumps(json.loads(text), sort_keys=True, separators=(",", ":")).encode()
    except (MalformedBody, ValueError, RecursionError):
        pass
    return hashlib.sha256(body).hexdigest()


# The headers of an answer a replay repeats, with its media type.
REPLAYED_HEADERS = ("Content-Type", "Location", "ETag")


def _replay(record: IdempotencyRecord) -> Response:
    headers = json.loads(record.response_headers) if record.response_headers else {}
    response = current_app.response_class(record.response_body, status=record.status_code,
                                          mimetype="application/json")
    for name, value in headers.items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _claim(factory, user_id: int, route: str, key: str, digest: str) -> IdempotencyRecord | datetime:
    """Claim the key; returns an earlier finished record to replay, or the instant of the claim made now."""
    instant = now()
    with factory() as session:
        with session.begin():
            session.execute(delete(IdempotencyRecord).where(
                IdempotencyRecord.user_id == user_id, IdempotencyRecord.route == route,
                IdempotencyRecord.key == key, IdempotencyRecord.created_at < instant - KEEP_FOR))
            existing = session.scalar(select(IdempotencyRecord).where(
                IdempotencyRecord.user_id == user_id, IdempotencyRecord.route == route,
                IdempotencyRecord.key == key))
            if existing is None:
                session.add(IdempotencyRecord(user_id=user_id, route=route, key=key, request_hash=digest,
                                              created_at=instant))
                try:
                    session.flush()
                except IntegrityError:
                    raise Conflict("A request with this Idempotency-Key is still being processed.",
                                   code="request_in_progress") from None
                return instant
            if existing.request_hash != digest:
                raise ValidationFailed({"Idempotency-Key": ["This key was used with a different body."]},
                                       message="The Idempotency-Key was already used with a different request body.")
            if existing.status_code is None:
                if existing.created_at >= instant - ABANDONED_AFTER:
                    raise Conflict("A request with this Idempotency-Key is still being processed.",
                                   code="request_in_progress")
                existing.created_at = instant
                return instant
            session.expunge(existing)
            return existing


def _store(factory, user_id: int, route: str, key: str, response: Response) -> None:
    """Keep an answer below 500 for replay."""
    with factory() as session, session.begin():
        record = session.scalar(select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id, IdempotencyRecord.route == route, IdempotencyRecord.key == key))
        if record is not None:
            record.status_code = response.status_code
            record.response_body = response.get_data(as_text=True)
            record.response_headers = json.dumps({name: response.headers[name] for name in REPLAYED_HEADERS
                                                  if name in response.headers})


def _release(factory, user_id: int, route: str, key: str, claimed_at: datetime) -> None:
    """Remove this request's claim (still unanswered, and not taken over since) so that a retry
    proceeds. Best effort: when the database cannot be reached the claim is abandoned instead."""
    try:
        discard()  # the request's own session first: on SQLite it may hold the write lock
        with factory() as session, session.begin():
            session.execute(delete(IdempotencyRecord).where(
                IdempotencyRecord.user_id == user_id, IdempotencyRecord.route == route,
                IdempotencyRecord.key == key, IdempotencyRecord.status_code.is_(None),
                IdempotencyRecord.created_at == claimed_at))
    except Exception as exc:  # the original failure is what the client must hear about
        log.error("could not release an Idempotency-Key claim on %s: %s", route, type(exc).__name__)


def idempotent(view=None, *, fallback=None):
    """``@idempotent``, or ``@idempotent(fallback=f)`` where ``f()`` gives the key a request carries
    in its body when it has no Idempotency-Key header (a FHIR transaction's Bundle.identifier)."""
    if view is None:
        return functools.partial(idempotent, fallback=fallback)

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None and fallback is not None:
            key = fallback()
        if key is None:
            return view(*args, **kwargs)
        if not 1 <= len(key) <= 255:
            raise ValidationFailed({"Idempotency-Key": ["Must be 1 to 255 characters."]})
        user_id = current_user().id
        # End the request session's transaction (it only read the token) before the claim's own
        # transaction begins: on SQLite both would want the single write lock.
        get_session().commit()
        route = f"{request.method} {request.path}"
        factory = current_runtime().session_factory
        claim = _claim(factory, user_id, route, key, _request_hash())
        if isinstance(claim, IdempotencyRecord):
            return _replay(claim)
        kept = False
        try:
            try:
                response = make_response(view(*args, **kwargs))
            except Exception as exc:  # mapped exactly as the error handlers would, so it can be stored
                response = make_response(current_app.handle_user_exception(exc))
            response = finish(response)
            if response.status_code < 500:
                _store(factory, user_id, route, key, response)
                kept = True
        finally:
            # Any 5xx, and anything raised (BaseException too: a worker stopped by its timeout).
            if not kept:
                _release(factory, user_id, route, key, claim)
        return response

    return wrapper
