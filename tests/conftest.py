"""Shared fixtures: an app on a real database built by the migrations, on SQLite always and on
PostgreSQL when PHARMSAFE_TEST_DATABASE_URL is set; a fixed clock; API helpers."""
from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from pharmsafe import create_app
from pharmsafe.clock import FixedClock
from pharmsafe.migrations_state import upgrade
from pharmsafe.runtime import runtime_of

PG_URL = os.environ.get("PHARMSAFE_TEST_DATABASE_URL")
ENGINES = ["sqlite"] + (["postgresql"] if PG_URL else [])
# 2026-11-26 10:00 in New York.
DEFAULT_NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
TEST_SETTINGS = {"ENV": "testing", "SECRET_KEY": "test-run-secret-key-0123456789abcdef0123456789",
                 "SCHEDULER": "off", "PROGRAM": "ipledge", "POLICY": "", "TIME_ZONE": "America/New_York",
                 "PASSWORD_HASHING": "fast"}


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_migrated():
    if not PG_URL:
        return None
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(PG_URL)
    return PG_URL


def _truncate_pg(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = [r[0] for r in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"))]
        # The audit tables refuse TRUNCATE (migration 0006); a test reset goes beneath the guards.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=ENGINES)
def db_url(request, tmp_path):
    if request.param == "sqlite":
        path = tmp_path / "pharmsafe.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_migrated")
    _truncate_pg(url)
    return url


@pytest.fixture
def reset_database(app, db_url, request):
    """A callable that puts the app's database back to freshly migrated: for tests that replay
    scenarios and need each one to start from the same state."""
    def reset() -> None:
        runtime_of(app).engine.dispose()
        if db_url.startswith("sqlite"):
            path = Path(make_url(db_url).database)
            for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                extra.unlink(missing_ok=True)
            shutil.copy(request.getfixturevalue("sqlite_template"), path)
        else:
            _truncate_pg(db_url)
    return reset


@pytest.fixture
def clock():
    return FixedClock(DEFAULT_NOW)


@pytest.fixture
def settings(db_url):
    return dict(TEST_SETTINGS, DATABASE_URL=db_url)


@pytest.fixture
def app(settings, clock):
    app = create_app(settings, clock=clock)
    yield app
    runtime_of(app).engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def session(app):
    with runtime_of(app).session_factory() as s:
        yield s
