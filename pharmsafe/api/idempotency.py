"""Idempotency-Key, as DESIGN.md §5 says: scoped to the token's user and the route, kept 24 hours.

The key is claimed in its own committed transaction before the request runs, so a duplicate that
arrives meanwhile sees the claim and gets 409 request_in_progress; the answer is stored after the
request's own transaction has committed, and replayed for the same key and body. Answers of 500 and
above are not kept: the key is released so the client may retry."""
from __future__ import annotations

import functools
import hashlib
import json
from datetime import timedelta

from flask import Response, current_app, make_response, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from pharmsafe.api.common import current_user
from pharmsafe.models import IdempotencyRecord
from pharmsafe.services.errors import Conflict, ValidationFailed
from pharmsafe.transactions import finish, get_session, now

KEEP_FOR = timedelta(hours=24)
# A claim older than this whose request never finished (its process died) may be taken over.
ABANDONED_AFTER = timedelta(minutes=5)


def _request_hash() -> str:
    raw = request.get_data(cache=True)
    try:
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        body = raw
    return hashlib.sha256(body).hexdigest()


def _replay(record: IdempotencyRecord) -> Response:
    response = current_app.response_class(record.response_body, status=record.status_code,
                                          mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _claim(factory, user_id: int, route: str, key: str, digest: str) -> IdempotencyRecord | None:
    """Claim the key; returns an earlier finished record to replay, or None when claimed now."""
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
                return None
            if existing.request_hash != digest:
                raise ValidationFailed({"Idempotency-Key": ["This key was used with a different body."]},
                                       message="The Idempotency-Key was already used with a different request body.")
            if existing.status_code is None:
                if existing.created_at >= instant - ABANDONED_AFTER:
                    raise Conflict("A request with this Idempotency-Key is still being processed.",
                                   code="request_in_progress")
                existing.created_at = instant
                return None
            session.expunge(existing)
            return existing


def _store(factory, user_id: int, route: str, key: str, response: Response) -> None:
    with factory() as session, session.begin():
        record = session.scalar(select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id, IdempotencyRecord.route == route, IdempotencyRecord.key == key))
        if record is None:
            return
        if response.status_code >= 500:
            session.delete(record)
        else:
            record.status_code = response.status_code
            record.response_body = response.get_data(as_text=True)


def idempotent(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        if not 1 <= len(key) <= 255:
            raise ValidationFailed({"Idempotency-Key": ["Must be 1 to 255 characters."]})
        user_id = current_user().id
        # End the request session's transaction (it only read the token) before the claim's own
        # transaction begins: on SQLite both would want the single write lock.
        get_session().commit()
        route = f"{request.method} {request.path}"
        factory = current_app.extensions["pharmsafe"]["session_factory"]
        replay = _claim(factory, user_id, route, key, _request_hash())
        if replay is not None:
            return _replay(replay)
        try:
            response = make_response(view(*args, **kwargs))
        except Exception as exc:  # mapped exactly as the error handlers would, so it can be stored
            response = make_response(current_app.handle_user_exception(exc))
        response = finish(response)
        _store(factory, user_id, route, key, response)
        return response

    return wrapper
