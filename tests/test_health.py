"""Liveness never touches the database; readiness answers, bounded, whatever holds the database; both
say where audit anchoring stands."""
from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.pool import NullPool

from pharmsafe import create_app
from pharmsafe.audit.anchor import generate_keypair
from pharmsafe.audit.anchor_writer import write_anchor
from pharmsafe.config import load_settings
from pharmsafe.runtime import runtime_of
from pharmsafe.server import startup_notices
from tests.conftest import TEST_SETTINGS
from tests.test_audit_anchor import add_events

# Generous: a probe that waits on the database's own lock timeouts (30 s on SQLite, none on
# PostgreSQL) is still waiting then; a bounded one answered long before.
JOIN_SECONDS = 20


def call_in_thread(client, path: str):
    """GET path from another thread; returns (thread, result holder)."""
    result = {}

    def run():
        resp = client.get(path)
        result["status"], result["body"] = resp.status_code, resp.get_json()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_healthz_never_touches_the_database(clock):
    # A database that refuses every connection: liveness does not care, readiness says so.
    app = create_app(dict(TEST_SETTINGS, DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/none"), clock=clock)
    touched = []
    event.listen(runtime_of(app).engine, "connect", lambda *_: touched.append("connect"))
    client = app.test_client()
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.get_json() == {"status": "ok"}
    assert touched == [] and runtime_of(app)._probe == []
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["database"] == "unreachable"
    assert ready.get_json()["status"] == "not_ready"


class Holder:
    """Another connection holding a lock on the test database, as a long write or a migration would."""

    def __init__(self, db_url: str, kind: str):
        self.kind = kind
        url = make_url(db_url)
        if url.get_backend_name() == "sqlite":
            self.conn = sqlite3.connect(url.database, isolation_level=None, timeout=5)
            if kind == "everything":
                # Readers are shut out too (no shared WAL index while this connection holds it).
                self.conn.execute("PRAGMA locking_mode = EXCLUSIVE")
                self.conn.execute("BEGIN EXCLUSIVE")
            else:
                self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("INSERT INTO scheduler_heartbeats (name, beat_at, host, runs) "
                              "VALUES ('held', '2026-11-26 15:00:00.000000', 'test', 0)")
            self.engine = None
        else:
            self.engine = create_engine(db_url, poolclass=NullPool)
            self.conn = self.engine.connect()
            mode = "ACCESS EXCLUSIVE" if kind == "everything" else "EXCLUSIVE"  # EXCLUSIVE still lets reads in
            self.conn.execute(text(f"LOCK TABLE alembic_version, scheduler_heartbeats IN {mode} MODE"))

    def release(self) -> None:
        if self.engine is None:
            self.conn.execute("ROLLBACK")
            self.conn.close()
        else:
            self.conn.rollback()
            self.conn.close()
            self.engine.dispose()


@pytest.mark.parametrize("kind,ready", [("writes", True), ("everything", False)])
def test_readyz_answers_while_the_database_is_locked(app, db_url, kind, ready):
    runtime_of(app).engine.dispose()  # nothing of the app's holds the file open
    client = app.test_client()
    holder = Holder(db_url, kind)
    try:
        live, live_result = call_in_thread(client, "/healthz")
        probe, probe_result = call_in_thread(client, "/readyz")
        live.join(JOIN_SECONDS)
        probe.join(JOIN_SECONDS)
        assert not live.is_alive() and live_result["status"] == 200
        assert not probe.is_alive(), "/readyz waited on the database's lock"
        assert probe_result["status"] == (200 if ready else 503)
        assert probe_result["body"]["status"] == ("ready" if ready else "not_ready")
    finally:
        holder.release()
        probe.join(60)
    # Once the lock is gone the probe is ready again.
    assert client.get("/readyz").status_code == 200


def test_readyz_says_anchoring_is_off(client):
    assert client.get("/readyz").get_json()["audit_anchor"] == "off"


def test_readyz_reports_the_age_of_the_latest_anchor(settings, clock, tmp_path):
    private, _ = generate_keypair(tmp_path / "keys")
    app = create_app(dict(settings, AUDIT_SIGNING_KEY_FILE=str(private),
                          AUDIT_ANCHOR_FILE=str(tmp_path / "anchors.jsonl")), clock=clock)
    try:
        client = app.test_client()
        body = client.get("/readyz").get_json()
        assert body["audit_anchor"] == {"age_seconds": None, "head_event_id": None, "after_anchor": 0}
        factory = runtime_of(app).session_factory
        add_events(factory, 3)
        write_anchor(runtime_of(app).anchoring, factory, clock.now() - timedelta(seconds=90))
        add_events(factory, 2, start=3)
        resp = client.get("/readyz")
        assert resp.status_code == 200
        assert resp.get_json()["audit_anchor"] == {"age_seconds": 90.0, "head_event_id": 3, "after_anchor": 2}
        (tmp_path / "anchors.jsonl").write_text("tampered\n")
        report = client.get("/readyz").get_json()["audit_anchor"]
        assert "anchor file last line: not a JSON anchor line" == report["error"] and report["age_seconds"] is None
    finally:
        runtime_of(app).engine.dispose()


def test_production_without_a_key_says_so_once(tmp_path):
    base = {"PHARMSAFE_ENV": "production", "PHARMSAFE_SECRET_KEY": "k" * 32}
    notices = startup_notices(load_settings(environ=base))
    assert len(notices) == 1 and "PHARMSAFE_AUDIT_SIGNING_KEY_FILE" in notices[0] and "off" in notices[0]
    private, _ = generate_keypair(tmp_path / "keys")
    keyed = {**base, "PHARMSAFE_AUDIT_SIGNING_KEY_FILE": str(private),
             "PHARMSAFE_AUDIT_ANCHOR_FILE": str(tmp_path / "anchors.jsonl")}
    assert startup_notices(load_settings(environ=keyed)) == []
    assert startup_notices(load_settings(environ={"PHARMSAFE_ENV": "testing"})) == []
