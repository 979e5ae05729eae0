"""The schema is built only by migrations, and the models never drift from them."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from pharmsafe.db import Base


def test_models_match_migrations(app):
    engine = app.extensions["pharmsafe"]["engine"]
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET action = 'forged' WHERE id = 1",
    "DELETE FROM audit_events WHERE id = 1",
])
def test_database_refuses_changes_to_audit_events(app, session, statement):
    from pharmsafe.audit import append_event
    from datetime import datetime, timezone

    append_event(session, action="user.created", actor="system:test", subject="user:1",
                 now=datetime(2026, 11, 26, tzinfo=timezone.utc), payload={})
    session.commit()
    engine = app.extensions["pharmsafe"]["engine"]
    with pytest.raises(DatabaseError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT action FROM audit_events WHERE id = 1")).scalar() == "user.created"


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
    app.extensions["pharmsafe"]["engine"].dispose()
