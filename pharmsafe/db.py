"""Engine and session factory, built by create_app (or a CLI command), never at import."""
from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, sessionmaker
from sqlalchemy.pool import NullPool

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def is_sqlite(engine_or_url) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


# A SQLite database holds health data: only the service's user may read it. SQLite gives the -wal and
# -shm files it creates beside the database the database file's own permissions.
SQLITE_FILE_MODE = 0o600


def make_engine(url: str, **kwargs) -> Engine:
    if is_sqlite(url):
        parsed = make_url(url)
        if parsed.database and parsed.database != ":memory:" and not parsed.query.get("uri"):
            _create_private(Path(parsed.database))
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _create_private(path: Path) -> None:
    """Create the database file (empty: SQLite fills it at the first connection) with mode 0600,
    whatever the umask, unless it exists already; an existing file keeps the mode it was given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SQLITE_FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, SQLITE_FILE_MODE)  # os.open's mode is narrowed by the umask, never widened
    finally:
        os.close(fd)


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling is switched off so that SQLAlchemy emits BEGIN itself:
    # every transaction takes the write lock at BEGIN (IMMEDIATE), so two writers queue on the
    # busy timeout instead of failing with "database is locked" when one upgrades a read lock.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # A read-only reader (export, verification) begins DEFERRED: under WAL it reads a snapshot
        # without holding the write lock.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("read_only") else "BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def read_only_session(factory: sessionmaker):
    """A session for long reads: on SQLite it does not take the write lock."""
    engine = factory.kw["bind"]
    return factory(bind=engine.execution_options(read_only=True))


# The readiness probe's bounded waits.
PROBE_SQLITE_BUSY_SECONDS = 1
PROBE_PG_CONNECT_SECONDS = 2  # libpq's smallest useful connect timeout
PROBE_PG_STATEMENT_MS = 1000
PROBE_PG_LOCK_MS = 800


def make_probe_engine(url: str) -> Engine:
    """The readiness probe's engine: no pool (each probe connects afresh, and nothing lingers
    between probes), read-only, bounded waits."""
    if is_sqlite(url):
        # Autocommit at the driver: each SELECT is its own read, which WAL serves beside a writer.
        engine = create_engine(url, poolclass=NullPool,
                               connect_args={"timeout": PROBE_SQLITE_BUSY_SECONDS, "isolation_level": None})

        @event.listens_for(engine, "connect")
        def _read_only(dbapi_connection, _record):
            dbapi_connection.execute("PRAGMA query_only = 1")

        return engine
    return create_engine(url, poolclass=NullPool, connect_args={
        "connect_timeout": PROBE_PG_CONNECT_SECONDS,
        "options": f"-c statement_timeout={PROBE_PG_STATEMENT_MS} -c lock_timeout={PROBE_PG_LOCK_MS} "
                   f"-c default_transaction_read_only=on"})
