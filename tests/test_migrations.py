"""The schema is built only by migrations, and the models never drift from them."""
from __future__ import annotations

from datetime import UTC

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DatabaseError

from pharmsafe.db import Base
from pharmsafe.runtime import runtime_of


def test_models_match_migrations(app):
    engine = runtime_of(app).engine
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


EVENT_COLUMNS = "id, occurred_at, action, actor, subject, policy, payload, prev_hash, hash"
# Ways to rewrite the trail in place, as (SQLite, PostgreSQL) statements run with the application's
# own credentials.
REWRITES = {
    "event update": ("UPDATE audit_events SET action = 'forged' WHERE id = 1",) * 2,
    "event delete": ("DELETE FROM audit_events WHERE id = 1",) * 2,
    "events truncate": ("DELETE FROM audit_events", "TRUNCATE audit_events"),
    "events truncate cascade": ("DELETE FROM audit_events WHERE id > 0",
                                "TRUNCATE scheduler_heartbeats, audit_events RESTART IDENTITY CASCADE"),
    "event replace": (
        f"INSERT OR REPLACE INTO audit_events ({EVENT_COLUMNS}) SELECT id, occurred_at, 'forged', actor, subject, "
        "policy, payload, prev_hash, hash FROM audit_events WHERE id = 1",
        f"INSERT INTO audit_events ({EVENT_COLUMNS}) SELECT id, occurred_at, 'forged', actor, subject, policy, "
        "payload, prev_hash, hash FROM audit_events WHERE id = 1 ON CONFLICT (id) DO UPDATE SET action = 'forged'"),
    "event REPLACE or MERGE DELETE": (
        f"REPLACE INTO audit_events ({EVENT_COLUMNS}) SELECT id, occurred_at, 'forged', actor, subject, "
        "policy, payload, prev_hash, hash FROM audit_events WHERE id = 1",
        "MERGE INTO audit_events a USING (SELECT 1 AS id) s ON a.id = s.id WHEN MATCHED THEN DELETE"),
    # A new id that collides on the unique hash: REPLACE would delete event 1 to make room.
    "event replace by hash": (
        f"INSERT OR REPLACE INTO audit_events ({EVENT_COLUMNS}) SELECT 99, occurred_at, 'forged', actor, subject, "
        "policy, payload, prev_hash, hash FROM audit_events WHERE id = 1",
        f"INSERT INTO audit_events ({EVENT_COLUMNS}) SELECT 99, occurred_at, 'forged', actor, subject, policy, "
        "payload, prev_hash, hash FROM audit_events WHERE id = 1 ON CONFLICT (hash) DO UPDATE SET id = 99"),
    "event upsert or MERGE UPDATE": (
        f"INSERT INTO audit_events ({EVENT_COLUMNS}) SELECT id, occurred_at, action, actor, subject, policy, "
        "payload, prev_hash, hash FROM audit_events WHERE id = 1 ON CONFLICT (id) DO UPDATE SET action = 'forged'",
        "MERGE INTO audit_events a USING (SELECT 1 AS id) s ON a.id = s.id WHEN MATCHED THEN UPDATE SET action = 'x'"),
    "checkpoint update": ("UPDATE audit_checkpoints SET event_count = 0 WHERE id = 1",) * 2,
    "checkpoint delete": ("DELETE FROM audit_checkpoints WHERE id = 1",) * 2,
    "checkpoints truncate": ("DELETE FROM audit_checkpoints", "TRUNCATE audit_checkpoints"),
    "checkpoint replace": (
        "INSERT OR REPLACE INTO audit_checkpoints (id, created_at, event_count, head_event_id, head_hash) "
        "VALUES (1, '2026-11-26 00:00:00', 0, 0, 'forged')",
        "INSERT INTO audit_checkpoints (id, created_at, event_count, head_event_id, head_hash) "
        "VALUES (1, '2026-11-26 00:00:00+00', 0, 0, 'forged') ON CONFLICT (id) DO UPDATE SET head_hash = 'forged'"),
}


def _trail(conn) -> list:
    return [tuple(r) for r in conn.execute(text(f"SELECT {EVENT_COLUMNS} FROM audit_events ORDER BY id"))] + \
        [tuple(r) for r in conn.execute(text("SELECT * FROM audit_checkpoints ORDER BY id"))]


@pytest.mark.parametrize("rewrite", sorted(REWRITES))
def test_database_refuses_every_rewrite_of_the_trail(app, session, rewrite):
    from datetime import datetime

    from pharmsafe.audit import append_event
    from pharmsafe.audit.verify import record_checkpoint

    now = datetime(2026, 11, 26, tzinfo=UTC)
    append_event(session, action="user.created", actor="system:test", subject="user:1", now=now, payload={})
    record_checkpoint(session, actor="system:test", now=now)
    session.commit()
    engine = runtime_of(app).engine
    statement = REWRITES[rewrite][0 if engine.dialect.name == "sqlite" else 1]
    with engine.connect() as conn:
        before = _trail(conn)
        conn.rollback()
    assert len(before) == 3
    with pytest.raises(DatabaseError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert _trail(conn) == before


def test_the_guards_go_with_a_downgrade_and_come_back(tmp_path):
    from alembic import command

    from pharmsafe.migrations_state import alembic_config, upgrade

    url = f"sqlite:///{tmp_path / 'down.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "0005")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))}
        assert names == {"audit_events_no_update", "audit_events_no_delete"}
        upgrade(url)
        with engine.connect() as conn:
            names = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))}
        assert {"audit_events_no_replace", "audit_checkpoints_no_update", "audit_checkpoints_no_delete",
                "audit_checkpoints_no_replace"} <= names
    finally:
        engine.dispose()


def test_readyz_reports_database_and_migrations(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "ready" and body["migrations"] == "at_head"
    assert "scheduler_heartbeat_age_seconds" in body
    assert client.get("/healthz").status_code == 200


def test_readyz_fails_when_not_migrated(tmp_path, clock):
    from pharmsafe import create_app
    from tests.conftest import TEST_SETTINGS

    app = create_app(dict(TEST_SETTINGS, DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}"), clock=clock)
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503 and resp.get_json()["status"] == "not_ready"
    runtime_of(app).engine.dispose()
