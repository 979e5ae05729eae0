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
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from pharmsafe.audit import append_event
from pharmsafe.audit.verify import verify_chain
from pharmsafe.leader import leader_lock
from pharmsafe.models import AuditEvent, Authorization, SchedulerHeartbeat
from pharmsafe.runtime import runtime_of
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
    clock.set(datetime(2026, 12, 2, tzinfo=UTC))
    results = run_together(2, lambda i: run_expiry_sweep(app))
    assert sum(results) == len(ids)
    with runtime_of(app).session_factory() as s:
        statuses = set(s.scalars(select(Authorization.status).where(Authorization.id.in_(ids))))
        subjects = s.scalars(select(AuditEvent.subject).where(AuditEvent.action == "authorization.expired")).all()
        assert statuses == {"expired"}
        assert sorted(subjects) == sorted(f"authorization:{i}" for i in ids)
        assert verify_chain(s).intact


def test_concurrent_appends_keep_one_unbroken_chain(app):
    factory = runtime_of(app).session_factory
    now = datetime(2026, 11, 26, 15, tzinfo=UTC)

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
    with runtime_of(app).session_factory() as s:
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


# --- audit anchors -------------------------------------------------------------------------------

@pytest.fixture
def anchored(settings, clock, tmp_path):
    from pharmsafe import create_app
    from pharmsafe.audit.anchor import generate_keypair

    private, _ = generate_keypair(tmp_path / "keys")
    anchor_file = tmp_path / "anchors.jsonl"
    app = create_app(dict(settings, AUDIT_SIGNING_KEY_FILE=str(private), AUDIT_ANCHOR_FILE=str(anchor_file),
                          AUDIT_ANCHOR_INTERVAL_SECONDS=3600), clock=clock)
    yield app, anchor_file
    runtime_of(app).engine.dispose()


def last_anchor(anchor_file) -> dict | None:
    import json

    lines = anchor_file.read_text().splitlines() if anchor_file.exists() else []
    return json.loads(lines[-1]) if lines else None


def head_id(app) -> int:
    with runtime_of(app).session_factory() as s:
        return s.scalar(select(func.max(AuditEvent.id))) or 0


def add_logins(app, n: int) -> None:
    with runtime_of(app).session_factory() as s:
        for i in range(n):
            append_event(s, action="user.login", actor="user:1", subject="user:1",
                         now=datetime(2026, 11, 26, 15, tzinfo=UTC), payload={"n": i})
        s.commit()


def test_the_scheduler_anchors_only_with_a_key(app, anchored):
    from pharmsafe.scheduler import build_scheduler

    assert "anchor" not in {job.id for job in build_scheduler(app).get_jobs()}
    jobs = {job.id: job for job in build_scheduler(anchored[0]).get_jobs()}
    assert jobs["anchor"].trigger.interval.total_seconds() == 3600


def test_the_scheduler_anchors_at_start_and_at_a_clean_stop(anchored):
    from pharmsafe.scheduler import run_scheduler

    app, anchor_file = anchored
    add_logins(app, 3)
    stop = threading.Event()
    thread = threading.Thread(target=run_scheduler, args=(app, stop), kwargs={"poll_seconds": 0.2}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: (last_anchor(anchor_file) or {}).get("head_event_id") == head_id(app))
        # The interval is an hour: only the stop can anchor what follows.
        add_logins(app, 2)
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()
    assert last_anchor(anchor_file)["head_event_id"] == head_id(app)
    with runtime_of(app).session_factory() as s:
        assert verify_chain(s, runtime_of(app).anchoring).intact


def serve_process(env, port, **kw):
    return subprocess.Popen([sys.executable, "-m", "pharmsafe.cli", "serve", "--port", str(port), "--workers", "2"],
                            env=env, stdout=subprocess.DEVNULL, **kw)


def get(port, path):
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return None, None


@pytest.mark.slow
def test_serve_anchors_at_a_clean_shutdown(anchored, process_env):
    app, anchor_file = anchored
    env = dict(process_env, PHARMSAFE_SCHEDULER="off", PHARMSAFE_AUDIT_ANCHOR_FILE=str(anchor_file),
               PHARMSAFE_AUDIT_SIGNING_KEY_FILE=app.config["PHARMSAFE"]["AUDIT_SIGNING_KEY_FILE"])
    port = free_port()
    proc = serve_process(env, port, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: get(port, "/healthz")[0] == 200)
        add_logins(app, 2)
        assert last_anchor(anchor_file) is None  # no scheduler: nothing anchored yet
        status, body = get(port, "/readyz")
        assert status == 200 and body["audit_anchor"]["after_anchor"] == head_id(app)
    finally:
        stop(proc)
    assert proc.returncode == 0
    assert last_anchor(anchor_file)["head_event_id"] == head_id(app) > 0


@pytest.mark.slow
def test_production_serve_without_a_key_says_so_once(process_env, tmp_path):
    env = dict(process_env, PHARMSAFE_ENV="production", PHARMSAFE_SCHEDULER="off", PHARMSAFE_PASSWORD_HASHING="argon2id",
               PHARMSAFE_SECRET_KEY="a-production-secret-of-its-own-0123456789")
    port = free_port()
    log = tmp_path / "stderr.log"
    with open(log, "wb") as err:
        proc = serve_process(env, port, stderr=err)
        try:
            wait_for(lambda: get(port, "/healthz")[0] == 200)
            status, body = get(port, "/readyz")
            assert status == 200 and body["audit_anchor"] == "off"
        finally:
            stop(proc)
    assert log.read_text().count("audit anchoring is off") == 1
