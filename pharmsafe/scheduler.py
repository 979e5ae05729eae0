"""APScheduler setup and jobs. Jobs call services; they hold no rules and read time via the clock.

Each job is its own edge: it opens a session, calls a service, commits. Every job is idempotent, and
a leader lock (pharmsafe.leader) keeps one scheduler active among several processes or hosts."""
from __future__ import annotations

import logging
import os
import smtplib
import socket
import threading

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy import select

from pharmsafe.audit.anchor import AnchorError, off_notice
from pharmsafe.audit.anchor_writer import anchor_quietly, write_anchor
from pharmsafe.audit.verify import record_checkpoint
from pharmsafe.clock import utcnow
from pharmsafe.leader import leader_lock
from pharmsafe.mail import send_mail
from pharmsafe.models import Notification, SchedulerHeartbeat, User
from pharmsafe.runtime import runtime_of
from pharmsafe.services.authorizations import expire_stale_authorizations
from pharmsafe.services.notifications import claim_mail, mail_settled, notify

log = logging.getLogger("pharmsafe.scheduler")
ACTOR = "system:scheduler"


def run_expiry_sweep(app: Flask, *, actor: str = ACTOR) -> int:
    """Expire everything past dispense_by, one bounded chunk per transaction."""
    runtime = runtime_of(app)
    chunk = runtime.settings["EXPIRY_CHUNK_SIZE"]
    total = 0
    while True:
        with runtime.unit_of_work(actor) as ctx:
            n = expire_stale_authorizations(ctx, chunk_size=chunk)
        total += n
        if n < chunk:
            return total


def send_notifications(app: Flask, *, actor: str = ACTOR) -> tuple[int, int]:
    """Make the notifications of new events (one transaction), then mail the ones not mailed yet,
    each claimed first and settled after its own send. Returns (made, mailed)."""
    runtime = runtime_of(app)
    settings = app.config["PHARMSAFE"]
    smtp = settings["SMTP"]
    with runtime.unit_of_work(actor) as ctx:
        made = notify(ctx, base_url=settings["BASE_URL"], mail=smtp is not None)
    if smtp is None:
        return made, 0
    with runtime.unit_of_work(actor) as ctx:
        claimed = claim_mail(ctx.session, ctx.now)
    mailed = 0
    for notification_id in claimed:
        with runtime.session_factory() as session:
            row, to = session.execute(select(Notification, User.email).join(User, User.id == Notification.user_id)
                                      .where(Notification.id == notification_id)).one()
            subject, body = row.mail_subject, row.mail_body
        try:
            send_mail(smtp, to, subject, body)
            sent = True
        except (OSError, smtplib.SMTPException) as exc:  # tried again next run
            log.warning("notification %s not mailed: %s", notification_id, type(exc).__name__)
            sent = False
        with runtime.unit_of_work(actor) as ctx:
            mail_settled(ctx.session, notification_id, ctx.now, sent=sent)
        mailed += sent
    return made, mailed


def write_checkpoint(app: Flask, *, actor: str = ACTOR) -> None:
    with runtime_of(app).unit_of_work(actor) as ctx:
        record_checkpoint(ctx.session, actor=ctx.actor, now=ctx.now)


def write_audit_anchor(app: Flask) -> None:
    """Sign the chain's head and append it to the anchor file, when it moved since the latest
    anchor (the events since then are verified first; a broken chain is not signed)."""
    runtime = runtime_of(app)
    if runtime.anchoring is not None and runtime.anchoring.can_sign:
        write_anchor(runtime.anchoring, runtime.session_factory, runtime.now(), only_if_changed=True)


def write_heartbeat(app: Flask) -> None:
    """Nothing to do but be recorded: its row's age is the scheduler's liveness."""


def record_run(app: Flask, name: str) -> None:
    with runtime_of(app).unit_of_work(ACTOR) as ctx:
        session = ctx.session
        row = session.scalar(select(SchedulerHeartbeat).where(SchedulerHeartbeat.name == name).with_for_update())
        host = f"{socket.gethostname()}:{os.getpid()}"
        if row is None:
            session.add(SchedulerHeartbeat(name=name, beat_at=ctx.now, host=host, runs=1))
        else:
            row.beat_at, row.host, row.runs = ctx.now, host, row.runs + 1


JOBS = {"expiry": run_expiry_sweep, "heartbeat": write_heartbeat, "checkpoint": write_checkpoint,
        "anchor": write_audit_anchor, "notify": send_notifications}


def _job(app: Flask, name: str):
    def run():
        try:
            JOBS[name](app)
            record_run(app, name)
        except AnchorError as exc:  # its sentence names no data: event ids and hash prefixes at most
            log.error("scheduler job %s failed: %s", name, exc)
        except Exception as exc:  # logged (without a trace: logs stay free of data); retried next interval
            log.error("scheduler job %s failed: %s", name, type(exc).__name__)
    run.__name__ = f"pharmsafe_{name}"
    return run


def build_scheduler(app: Flask) -> BackgroundScheduler:
    settings = app.config["PHARMSAFE"]
    # One instance of each job at a time (max_instances); runs missed while busy or paused collapse
    # into one (coalesce); a run later than one interval is dropped, since the next does the same work.
    scheduler = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1}, timezone="UTC")
    start = utcnow()  # the first sweep and heartbeat run at once, not one interval after start-up
    jobs = [("expiry", "EXPIRY_INTERVAL_SECONDS", start), ("heartbeat", "HEARTBEAT_INTERVAL_SECONDS", start),
            ("checkpoint", "CHECKPOINT_INTERVAL_SECONDS", None), ("notify", "EXPIRY_INTERVAL_SECONDS", start)]
    anchoring = runtime_of(app).anchoring
    if anchoring is not None and anchoring.can_sign:
        # The first anchor at once: the window in which events can vanish unseen starts small.
        jobs.append(("anchor", "AUDIT_ANCHOR_INTERVAL_SECONDS", start))
    for name, key, first in jobs:
        seconds = settings[key]
        options = {"next_run_time": first} if first else {}
        scheduler.add_job(_job(app, name), "interval", seconds=seconds, id=name, misfire_grace_time=seconds,
                          **options)
    return scheduler


def run_scheduler(app: Flask, stop: threading.Event, *, poll_seconds: float | None = None) -> None:
    """Run the jobs while this process holds the leader lock; follow (idle) otherwise.

    Followers poll at half the expiry interval (at most 10 s), so one takes over within two
    intervals of the leader's death."""
    settings = app.config["PHARMSAFE"]
    poll = poll_seconds or max(0.2, min(settings["EXPIRY_INTERVAL_SECONDS"] / 2, 10))
    lock = leader_lock(settings["DATABASE_URL"])
    scheduler = build_scheduler(app)
    leading = False
    # Started by `pharmsafe serve`: stop when that process is gone, even if it could not say so.
    parent = os.environ.get("PHARMSAFE_SCHEDULER_PARENT")
    notice = None if parent else off_notice(settings)  # beside `pharmsafe serve`, the server says it
    if notice:
        log.warning(notice)
    try:
        while not stop.is_set():
            if parent and str(os.getppid()) != parent:
                log.warning("the serving process is gone; the embedded scheduler stops")
                break
            held = lock.hold()
            if held and not leading:
                log.info("scheduler leads (pid %s)", os.getpid())
                scheduler.resume() if scheduler.running else scheduler.start()
                leading = True
            elif not held and leading:
                log.warning("scheduler lost the leader lock; pausing")
                scheduler.pause()
                leading = False
            stop.wait(poll)
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=True)
        if leading:  # a clean stop anchors what happened since the last tick
            runtime = runtime_of(app)
            anchor_quietly(runtime.anchoring, runtime.session_factory, runtime.now(), why="scheduler shutdown")
        lock.release()
