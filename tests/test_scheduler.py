"""One scheduler among many: concurrent sweeps, concurrent appends, the leader lock, and the
embedded scheduler under several gunicorn workers."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from pharmsafe.audit import append_event
from pharmsafe.audit.verify import verify_chain
from pharmsafe.leader import leader_lock
from pharmsafe.models import AuditEvent, Authorization, SchedulerHeartbeat
from pharmsafe.scheduler import run_expiry_sweep
from tests.conftest import TEST_SETTINGS
from tests.support import World


def run_together(n: int, target) -> list:
    barrier, results, errors = threading.Barrier(n), [None] * n, []

    def worker(i):
        try:
            barrier.wait()
            results[i] = target(i)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_two_concurrent_sweeps_expire_each_authorization_once(app, client, clock):
    world = World(app, client)
    ids = [world.authorized()[-1]["authorization"]["id"] for _ in range(12)]
    app.config["PHARMSAFE"]["EXPIRY_CHUNK_SIZE"] = 3
    clock.set(datetime(2026, 12, 2, tzinfo=timezone.utc))
    results = run_together(2, lambda i: run_expiry_sweep(app))
    assert sum(results) == len(ids)
    with app.extensions["pharmsafe"]["session_factory"]() as s:
        statuses = set(s.scalars(select(Authorization.status).where(Authorization.id.in_(ids))))
        subjects = s.scalars(select(AuditEvent.subject).where(AuditEvent.action == "authorization.expired")).all()
        assert statuses == {"expired"}
        assert sorted(subjects) == sorted(f"authorization:{i}" for i in ids)
        assert verify_chain(s).intact


def test_concurrent_appends_keep_one_unbroken_chain(app):
    factory = app.extensions["pharmsafe"]["session_factory"]
    now = datetime(2026, 11, 26, 15, tzinfo=timezone.utc)

    def append_many(i):
        for j in range(15):
            with factory() as s:
                append_event(s, action="user.login", actor=f"user:{i}", subject=f"user:{i}", now=now,
                             payload={"n": j})
                s.commit()

    run_together(6, append_many)
    with factory() as s:
        result = verify_chain(s)
        assert result.intact and result.events == 90
        assert s.scalar(select(func.max(AuditEvent.id))) == 90


def test_leader_lock_admits_one_holder_and_hands_over_on_release(db_url):
    first, second = leader_lock(db_url), leader_lock(db_url)
    try:
        assert first.hold() is True
        assert first.hold() is True  # confirming keeps it
        assert second.hold() is False
        first.release()
        assert second.hold() is True
        assert first.hold() is False
    finally:
        first.release()
        second.release()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def runs(app, name="expiry"):
    with app.extensions["pharmsafe"]["session_factory"]() as s:
        row = s.get(SchedulerHeartbeat, name)
        return (0, None) if row is None else (row.runs, row.host)


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def process_env(db_url):
    env = dict(os.environ, **{f"PHARMSAFE_{k}": str(v) for k, v in TEST_SETTINGS.items()})
    env.update(PHARMSAFE_DATABASE_URL=db_url, PHARMSAFE_SCHEDULER="embedded", PHARMSAFE_EXPIRY_INTERVAL_SECONDS="1",
               PHARMSAFE_HEARTBEAT_INTERVAL_SECONDS="1")
    env.pop("PHARMSAFE_CONFIG", None)
    return env


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_embedded_scheduler_runs_once_per_interval_under_several_workers(app, process_env):
    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "pharmsafe.cli", "serve", "--port", str(port), "--workers", "4"],
                             env=process_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    spare = None
    try:
        wait_for(lambda: runs(app)[0] >= 2)
        start_runs, leader = runs(app)
        started = time.monotonic()
        # A separate scheduler beside it stays idle while the leader lives.
        spare = subprocess.Popen([sys.executable, "-m", "pharmsafe.cli", "scheduler"], env=process_env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3)
        end_runs, host = runs(app)
        elapsed = time.monotonic() - started
        assert host == leader, "a second scheduler ran a job while the leader lived"
        # Once per one-second interval across all four workers (one scheduler each would run about 4x).
        assert 1 <= end_runs - start_runs <= elapsed + 1.5
        # When the leader dies, the spare takes over within two intervals (plus its poll).
        stop(serve)
        wait_for(lambda: runs(app)[1] not in (None, leader), timeout=10)
        assert runs(app)[1].endswith(f":{spare.pid}")
    finally:
        stop(serve)
        if spare is not None:
            stop(spare)
