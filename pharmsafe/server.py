"""`pharmsafe serve`: gunicorn in-process, and with the embedded scheduler, one scheduler process
beside it (started by the gunicorn master, so there is one however many workers run)."""
from __future__ import annotations

import os
import subprocess
import sys

from gunicorn.app.base import BaseApplication


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


def serve(*, host: str, port: int, workers: int, embedded_scheduler: bool) -> None:
    state: dict = {}

    def on_starting(_arbiter):
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

    _Gunicorn({
        "bind": f"{host}:{port}",
        "workers": workers,
        "on_starting": on_starting,
        "on_exit": on_exit,
        "accesslog": "-",
        "timeout": 60,
    }).run()
