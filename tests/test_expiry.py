"""Expiry over time, with an injected clock: the first sweep after dispense_by expires, not before."""
from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select, text

from pharmsafe.models import AuditEvent, SchedulerHeartbeat
from pharmsafe.runtime import runtime_of
from pharmsafe.scheduler import _job, run_expiry_sweep
from tests.support import World

DISPENSE_BY = datetime(2026, 12, 1, 4, 59, 59, tzinfo=UTC)


@pytest.fixture
def world(app, client):
    return World(app, client)


def expired_events(app) -> int:
    with runtime_of(app).session_factory() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "authorization.expired"))


def test_sweep_expires_after_dispense_by_and_not_before(world, app, clock):
    rph, *_, decision = world.authorized()
    auth_id = decision["authorization"]["id"]
    assert decision["dispense_by"] == "2026-12-01T04:59:59Z"
    clock.set(datetime(2026, 12, 1, 4, 59, 59, 999999, tzinfo=UTC))
    assert run_expiry_sweep(app) == 0
    assert rph.ok("GET", f"/authorizations/{auth_id}")["status"] == "active"
    clock.set(datetime(2026, 12, 1, 5, 0, 0, tzinfo=UTC))
    assert run_expiry_sweep(app) == 1
    assert rph.ok("GET", f"/authorizations/{auth_id}")["status"] == "expired"
    assert rph.ok("GET", f"/prescriptions/{decision['prescription_id']}")["status"] == "expired"
    # Idempotent: a second sweep changes nothing and writes no second event.
    assert run_expiry_sweep(app) == 0
    assert expired_events(app) == 1
    with runtime_of(app).session_factory() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "authorization.expired")).one()
        assert event.actor == "system:scheduler" and event.subject == f"authorization:{auth_id}"


def test_sweep_works_in_chunks(world, app, clock, settings):
    app.config["PHARMSAFE"]["EXPIRY_CHUNK_SIZE"] = 2
    ids = [world.authorized()[-1]["authorization"]["id"] for _ in range(5)]
    clock.set(datetime(2026, 12, 2, tzinfo=UTC))
    assert run_expiry_sweep(app) == 5
    assert expired_events(app) == 5
    assert len(ids) == 5


def test_positive_test_after_issue_reverses_before_any_sweep(world, app, clock):
    rph, doc, patient, rx, decision = world.authorized()
    doc.ok("POST", f"/patients/{patient['id']}/pregnancy-tests",
           {"specimen_collected_on": world.day(0), "result": "positive", "specimen": "urine", "setting": "home"})
    assert rph.ok("GET", f"/authorizations/{decision['authorization']['id']}")["status"] == "reversed"
    clock.set(datetime(2026, 12, 2, tzinfo=UTC))
    assert run_expiry_sweep(app) == 0


def test_jobs_record_their_runs_and_readyz_reports_the_heartbeat_age(app, client, clock):
    assert client.get("/readyz").get_json()["scheduler_heartbeat_age_seconds"] is None
    _job(app, "heartbeat")()
    _job(app, "checkpoint")()
    _job(app, "heartbeat")()
    clock.set(datetime(2026, 11, 26, 15, 1, tzinfo=UTC))
    body = client.get("/readyz").get_json()
    assert body["status"] == "ready" and body["scheduler_heartbeat_age_seconds"] == 60.0
    with runtime_of(app).session_factory() as s:
        actions = s.scalars(select(AuditEvent.action)).all()
        runs = dict(s.execute(select(SchedulerHeartbeat.name, SchedulerHeartbeat.runs)).all())
    assert actions == ["audit.checkpoint"]
    assert runs == {"heartbeat": 2, "checkpoint": 1}



def test_the_sweep_updates_its_chunk_by_primary_key(world, app, clock):
    """The status re-check must not lead SQLite's planner (no statistics) to walk the status index
    over every active authorization for each chunk: the backlog would make each chunk slower."""
    engine = runtime_of(app).engine
    if engine.dialect.name != "sqlite":
        pytest.skip("the plan checked is SQLite's; PostgreSQL plans from statistics")
    for _ in range(3):
        world.authorized()
    updates = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE AUTHORIZATIONS"):
            updates.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        clock.set(datetime(2026, 12, 2, tzinfo=UTC))
        assert run_expiry_sweep(app) == 3
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    [(statement, parameters)] = updates
    with engine.connect() as conn:
        plan = " ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
    assert "INTEGER PRIMARY KEY" in plan and "status" not in plan, plan


def test_the_sweep_passes_over_a_prescription_another_transaction_holds(world, app, clock):
    """An evaluation or dispense locks the prescription, then its authorization; the sweep locks both
    in one statement and skips what is held, so the two never wait on each other in opposite orders."""
    engine = runtime_of(app).engine
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite runs one writer at a time")
    *_, decision = world.authorized()
    clock.set(datetime(2026, 12, 2, tzinfo=UTC))
    swept = []
    with engine.connect() as holder:
        holder.execute(text("SELECT id FROM prescriptions WHERE id = :id FOR UPDATE"),
                       {"id": decision["prescription_id"]})
        sweeper = threading.Thread(target=lambda: swept.append(run_expiry_sweep(app)), daemon=True)
        sweeper.start()
        sweeper.join(timeout=30)
        assert not sweeper.is_alive(), "the sweep waited for the held prescription"
        holder.rollback()
    assert swept == [0]
    assert run_expiry_sweep(app) == 1
