"""Idempotency-Key on a dispense (DESIGN.md §5): a request that fails (any 5xx, or an exception
before its answer is kept) releases its claim, so that a retry with the same key proceeds at once
instead of meeting 409 request_in_progress until the claim is abandoned; answers below 500 are kept
and replayed."""
from __future__ import annotations

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

import pharmsafe.api.prescriptions as prescription_views
from pharmsafe.db import is_sqlite
from pharmsafe.models import Dispense, IdempotencyRecord
from pharmsafe.runtime import runtime_of
from tests.support import World

BODY = {"quantity": 60, "rma_number": "RMA-77", "rma_do_not_dispense_after": "2027-12-31"}
KEY = {"Idempotency-Key": "retry-me"}


@pytest.fixture
def world(app, client):
    return World(app, client)


@pytest.fixture
def dispense(world):
    """(pharmacist api, dispense path) for an active authorization."""
    rph, *_, decision = world.authorized()
    return rph, f"/authorizations/{decision['authorization']['id']}/dispense"


def rows(app, model, *criteria) -> int:
    with runtime_of(app).session_factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*criteria))


def assert_retry_succeeds(app, rph, path):
    """Nothing was written by the failed attempt, no claim is left, and the retry dispenses once;
    a replay of the retry then answers the same."""
    assert rows(app, Dispense) == 0
    assert rows(app, IdempotencyRecord) == 0
    retry = rph.post(path, json=BODY, headers=KEY)
    assert retry.status_code == 201, retry.get_json()
    replay = rph.post(path, json=BODY, headers=KEY)
    assert replay.status_code == 201 and replay.get_json() == retry.get_json()
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert rows(app, Dispense) == 1


def test_an_exception_raised_by_the_dispense_releases_the_claim(app, dispense, monkeypatch):
    rph, path = dispense

    def fail(*_args, **_kwargs):
        raise RuntimeError("the dispensing service failed")

    monkeypatch.setattr(prescription_views, "dispense_authorization", fail)
    first = rph.post(path, json=BODY, headers=KEY)
    assert first.status_code == 500 and first.get_json()["error"]["code"] == "internal_error"
    monkeypatch.undo()
    assert_retry_succeeds(app, rph, path)


def test_an_exception_raised_while_committing_releases_the_claim(app, dispense):
    """The request's own commit fails: the error escapes the request's unit of work."""
    rph, path = dispense
    armed = {"on": True}

    def _flushed(session, _flush_context, _instances):
        if any(isinstance(obj, Dispense) for obj in session.new):
            session.info["dispense_flushed"] = True

    def _fail(session):
        if armed["on"] and session.info.pop("dispense_flushed", False):
            armed["on"] = False
            raise RuntimeError("the commit failed")

    event.listen(Session, "before_flush", _flushed)
    event.listen(Session, "before_commit", _fail)
    try:
        first = rph.post(path, json=BODY, headers=KEY)
    finally:
        event.remove(Session, "before_commit", _fail)
        event.remove(Session, "before_flush", _flushed)
    assert not armed["on"], "the failure was never triggered"
    assert first.status_code == 500, first.get_data(as_text=True)
    assert_retry_succeeds(app, rph, path)


def test_a_crash_inside_the_request_releases_the_claim(app, dispense, monkeypatch):
    """A worker stopped mid-request (a timeout raises SystemExit in it) must not leave the key
    claimed for minutes."""
    rph, path = dispense

    def stopped(*_args, **_kwargs):
        raise SystemExit(1)

    monkeypatch.setattr(prescription_views, "dispense_authorization", stopped)
    with pytest.raises(SystemExit):
        rph.post(path, json=BODY, headers=KEY)
    monkeypatch.undo()
    assert_retry_succeeds(app, rph, path)


@pytest.fixture
def failing_database(app):
    """A database-side failure of the dispense's insert: SQLite cannot run the trigger (503); on
    PostgreSQL a deferred constraint trigger raises at COMMIT (500). Removed by calling the result."""
    engine = runtime_of(app).engine
    if is_sqlite(engine):
        create = ["CREATE TRIGGER test_dispense_fails BEFORE INSERT ON dispenses "
                  "BEGIN SELECT pharmsafe_test_unavailable(); END"]
        drop = ["DROP TRIGGER test_dispense_fails"]
    else:
        create = ["CREATE FUNCTION test_dispense_fails() RETURNS trigger LANGUAGE plpgsql AS "
                  "$$ BEGIN RAISE EXCEPTION 'dispense storage failed'; END $$",
                  "CREATE CONSTRAINT TRIGGER test_dispense_fails AFTER INSERT ON dispenses "
                  "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_dispense_fails()"]
        drop = ["DROP TRIGGER test_dispense_fails ON dispenses", "DROP FUNCTION test_dispense_fails()"]
    with engine.begin() as conn:
        for statement in create:
            conn.execute(text(statement))

    def restore():
        with engine.begin() as conn:
            for statement in drop:
                conn.execute(text(statement))

    return restore


def test_a_database_failure_releases_the_claim(app, dispense, failing_database):
    rph, path = dispense
    first = rph.post(path, json=BODY, headers=KEY)
    assert first.status_code in (500, 503), first.get_data(as_text=True)
    assert first.get_json()["error"]["code"] in ("internal_error", "unavailable")
    failing_database()
    assert_retry_succeeds(app, rph, path)


def test_an_answer_below_500_is_kept_and_replayed(app, dispense):
    """A refusal is an answer: the same key and body replay it, even once the refusal no longer holds."""
    rph, path = dispense
    first = rph.post(path, json={**BODY, "quantity": 600}, headers=KEY)
    assert first.status_code in (409, 422), first.get_json()
    again = rph.post(path, json={**BODY, "quantity": 600}, headers=KEY)
    assert again.status_code == first.status_code and again.get_json() == first.get_json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert rows(app, IdempotencyRecord) == 1


def test_a_claim_in_progress_still_refuses_a_duplicate(app, dispense):
    """Releasing on failure must not weaken the in-progress guard: a claim whose request is still
    running (no answer yet, claimed just now) refuses the duplicate, and a failed duplicate does not
    release the claim it did not make."""
    rph, path = dispense
    ext = runtime_of(app)
    first = rph.post(path, json={**BODY, "quantity": 600}, headers={"Idempotency-Key": "other"})
    with ext.session_factory() as s:
        record = s.scalars(select(IdempotencyRecord)).one()
        s.add(IdempotencyRecord(user_id=record.user_id, route=record.route, key=KEY["Idempotency-Key"],
                                request_hash=_hash(BODY), created_at=ext.clock.now()))
        s.commit()
    assert first.status_code in (409, 422)
    duplicate = rph.post(path, json=BODY, headers=KEY)
    assert duplicate.status_code == 409 and duplicate.get_json()["error"]["code"] == "request_in_progress"
    assert rows(app, IdempotencyRecord, IdempotencyRecord.key == KEY["Idempotency-Key"],
                IdempotencyRecord.status_code.is_(None)) == 1
    assert rows(app, Dispense) == 0


def _hash(body: dict) -> str:
    import hashlib
    import json
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
