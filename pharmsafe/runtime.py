"""The runtime: what the app factory builds once for an application, and the one way a unit of work
begins, commits or rolls back.

``Runtime`` holds the engine, the session factory, the clock, the program configuration (with the
policy versions in force), the password hashing and the audit anchoring. ``runtime.unit_of_work(actor)``
is how a CLI command, a scheduler job, the demo loader and the tests do their work: one session, one
``Ctx``, committed when the block ends, rolled back when it raises. A web or API request has its unit of
work opened and committed by the HTTP edge (``pharmsafe.http.unit``), through ``runtime.ctx``."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from pharmsafe.audit.anchor import Anchoring, anchoring_from_settings
from pharmsafe.clock import Clock, SystemClock
from pharmsafe.db import make_engine, make_probe_engine, make_session_factory, read_only_session
from pharmsafe.services.context import Ctx, ProgramConfig
from pharmsafe.services.passwords import PROFILES, PasswordHashing

EXTENSION = "pharmsafe"


@dataclass(frozen=True)
class Runtime:
    settings: Mapping[str, Any]
    engine: Engine
    session_factory: sessionmaker
    clock: Clock
    program: ProgramConfig
    passwords: PasswordHashing
    anchoring: Anchoring | None
    # Made when first asked for (a process that never answers /readyz never makes it).
    _probe: list[Engine] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def build(cls, settings: Mapping[str, Any], clock: Clock | None = None) -> Runtime:
        """From settings that load_settings has validated."""
        engine = make_engine(settings["DATABASE_URL"])
        return cls(settings=settings, engine=engine, session_factory=make_session_factory(engine),
                   clock=clock or SystemClock(), program=ProgramConfig.from_settings(settings),
                   passwords=PROFILES[settings["PASSWORD_HASHING"]], anchoring=anchoring_from_settings(settings))

    def now(self) -> datetime:
        return self.clock.now()

    def ctx(self, session: Session, actor: str, now: datetime | None = None, source: str = "system") -> Ctx:
        return Ctx(session=session, actor=actor, now=now or self.clock.now(), config=self.program,
                   passwords=self.passwords, source=source)

    @contextmanager
    def unit_of_work(self, actor: str, *, now: datetime | None = None) -> Iterator[Ctx]:
        """One session and one Ctx; committed when the block ends, rolled back if it raises."""
        with self.session_factory() as session:
            ctx = self.ctx(session, actor, now)
            try:
                yield ctx
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def read_only(self) -> Session:
        """A session for long reads (verification, export): on SQLite it never takes the write lock."""
        return read_only_session(self.session_factory)

    def probe_engine(self) -> Engine:
        """The readiness probe's engine (pharmsafe.db.make_probe_engine): no pool, bounded waits."""
        if not self._probe:
            self._probe.append(make_probe_engine(self.settings["DATABASE_URL"]))
        return self._probe[0]

    def install(self, app: Flask) -> None:
        app.extensions[EXTENSION] = self

    def dispose(self) -> None:
        self.engine.dispose()
        for engine in self._probe:
            engine.dispose()


def runtime_of(app: Flask) -> Runtime:
    return app.extensions[EXTENSION]


def current_runtime() -> Runtime:
    """The runtime of the Flask app in context (a request, or a CLI command's app context)."""
    return runtime_of(current_app)
