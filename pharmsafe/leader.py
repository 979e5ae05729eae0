"""One active scheduler among many processes or hosts.

PostgreSQL: a session advisory lock held on a dedicated connection (its own engine without a pool,
so closing it really ends the session). When the leader dies, its connection closes, the server
releases the lock, and the next follower to poll takes over. SQLite lives on one host: an exclusive
lock on a file beside the database does the same between processes."""
from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

log = logging.getLogger("pharmsafe.scheduler")
# An arbitrary constant, distinct from the audit chain's lock key.
SCHEDULER_LOCK_KEY = 7_301_442_002


class PostgresLeaderLock:
    def __init__(self, url: str):
        self._engine: Engine = create_engine(url, poolclass=NullPool)
        self._conn = None

    def hold(self) -> bool:
        """Acquire the lock, or confirm it is still held; False when another process leads."""
        try:
            if self._conn is None:
                conn = self._engine.connect()
                got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": SCHEDULER_LOCK_KEY}).scalar()
                conn.commit()
                if not got:
                    conn.close()
                    return False
                self._conn = conn
                return True
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        except DBAPIError:
            log.warning("scheduler leader lock lost: the database connection failed")
            self._drop()
            return False

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except DBAPIError:
                pass
            self._conn = None

    def release(self) -> None:
        self._drop()
        self._engine.dispose()


class FileLeaderLock:
    def __init__(self, path: Path):
        self._path = path
        self._fd: int | None = None

    def hold(self) -> bool:
        if self._fd is not None:
            return True
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def leader_lock(database_url: str):
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        return PostgresLeaderLock(database_url)
    path = Path(url.database) if url.database and url.database != ":memory:" else Path("instance/pharmsafe.db")
    return FileLeaderLock(path.with_name(path.name + ".scheduler.lock"))
