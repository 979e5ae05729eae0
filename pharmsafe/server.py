"""`pharmsafe serve`: gunicorn in-process, and with the embedded scheduler, one scheduler process
beside it (started by the gunicorn master, so there is one however many workers run).

The master also says once, at start-up, when a production deployment runs without audit anchoring,
and at a clean shutdown anchors the audit chain (after the scheduler, if any, has stopped)."""
from __future__ import annotations

import logging
import os
import subprocess
import sys

from gunicorn.app.base import BaseApplication

from pharmsafe.runtime import runtime_of

log = logging.getLogger("pharmsafe.audit")


# The access log: the path without its query string, and no Referer (see serve()).
ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(L)ss'


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from pharmsafe import create_app

        return create_app()


def startup_notices(settings) -> list[str]:
    """What the serving process says once at start-up (as warnings)."""
    from pharmsafe.audit.anchor import off_notice

    notice = off_notice(settings)
    return [notice] if notice else []


def anchor_at_shutdown() -> None:
    """Anchor the chain's head as the server stops cleanly; a failure is logged, never raised."""
    from pharmsafe import create_app
    from pharmsafe.audit.anchor_writer import anchor_quietly

    try:
        app = create_app()
    except Exception as exc:  # the configuration was good at start-up; say so and stop
        log.error("audit anchor at shutdown not written: %s", type(exc).__name__)
        return
    runtime = runtime_of(app)
    try:
        anchor_quietly(runtime.anchoring, runtime.session_factory, runtime.now(), why="server shutdown")
    finally:
        runtime.dispose()


def serve(*, host: str, port: int, workers: int, embedded_scheduler: bool) -> None:
    state: dict = {}

    def on_starting(arbiter):
        from pharmsafe.config import load_settings

        for notice in startup_notices(load_settings()):
            arbiter.log.warning(notice)  # the master's log, once however many workers start
        if embedded_scheduler:
            env = dict(os.environ, PHARMSAFE_SCHEDULER_PARENT=str(os.getpid()))
            state["scheduler"] = subprocess.Popen([sys.executable, "-m", "pharmsafe.cli", "scheduler"], env=env)

    def on_exit(_arbiter):
        proc = state.get("scheduler")
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        anchor_at_shutdown()

    _Gunicorn({
        "bind": f"{host}:{port}",
        "workers": workers,
        "on_starting": on_starting,
        "on_exit": on_exit,
        "accesslog": "-",
        # The path without its query string, and no Referer: the queue's search (?q=) holds patient
        # names, and a Referer repeats the previous page's query.
        "access_log_format": ACCESS_LOG_FORMAT,
        "timeout": 60,
    }).run()
