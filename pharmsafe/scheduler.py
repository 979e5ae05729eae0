"""APScheduler setup and jobs. Jobs call services; they hold no rules and read time via the clock.

Each job is its own edge: it opens a session, calls a service, commits. Every job is idempotent."""
from __future__ import annotations

import logging
import socket

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from pharmsafe.audit.verify import record_checkpoint
from pharmsafe.clock import utcnow
from pharmsafe.models import SchedulerHeartbeat
from pharmsafe.services.authorizations import expire_stale_authorizations
from pharmsafe.services.context import Ctx

log = logging.getLogger("pharmsafe.scheduler")
ACTOR = "system:scheduler"


def _ext(app: Flask):
    return app.extensions["pharmsafe"]


def run_expiry_sweep(app: Flask, *, actor: str = ACTOR) -> int:
    """Expire everything past dispense_by, one bounded chunk per transaction."""
    ext, settings = _ext(app), app.config["PHARMSAFE"]
    chunk = settings["EXPIRY_CHUNK_SIZE"]
    total = 0
    while True:
        with ext["session_factory"]() as session:
            ctx = Ctx(session=session, actor=actor, now=ext["clock"].now(), config=ext["program"])
            n = expire_stale_authorizations(ctx, chunk_size=chunk)
            session.commit()
        total += n
        if n < chunk:
            return total


def write_heartbeat(app: Flask, name: str = "scheduler") -> None:
    ext = _ext(app)
    with ext["session_factory"]() as session:
        beat = session.get(SchedulerHeartbeat, name)
        now = ext["clock"].now()
        if beat is None:
            session.add(SchedulerHeartbeat(name=name, beat_at=now, host=socket.gethostname()))
        else:
            beat.beat_at, beat.host = now, socket.gethostname()
        session.commit()


def write_checkpoint(app: Flask, *, actor: str = ACTOR) -> None:
    ext = _ext(app)
    with ext["session_factory"]() as session:
        record_checkpoint(session, actor=actor, now=ext["clock"].now())
        session.commit()


def _safely(job, app: Flask):
    def run():
        try:
            job(app)
        except Exception:  # a failed run is logged and retried at the next interval
            log.exception("scheduler job %s failed", job.__name__)
    run.__name__ = job.__name__
    return run


def build_scheduler(app: Flask, *, blocking: bool = False):
    settings = app.config["PHARMSAFE"]
    # One instance of each job at a time; runs missed while busy coalesce into one; a run late by
    # more than its interval is skipped, since the next one does the same work.
    defaults = {"coalesce": True, "max_instances": 1}
    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(job_defaults=defaults, timezone="UTC")
    interval = settings["EXPIRY_INTERVAL_SECONDS"]
    start = utcnow()  # the first sweep and heartbeat run at once, not one interval after start-up
    scheduler.add_job(_safely(run_expiry_sweep, app), "interval", seconds=interval, id="expiry",
                      misfire_grace_time=interval, next_run_time=start)
    scheduler.add_job(_safely(write_heartbeat, app), "interval", seconds=settings["HEARTBEAT_INTERVAL_SECONDS"],
                      id="heartbeat", misfire_grace_time=settings["HEARTBEAT_INTERVAL_SECONDS"], next_run_time=start)
    scheduler.add_job(_safely(write_checkpoint, app), "interval", seconds=settings["CHECKPOINT_INTERVAL_SECONDS"],
                      id="checkpoint", misfire_grace_time=settings["CHECKPOINT_INTERVAL_SECONDS"])
    return scheduler
