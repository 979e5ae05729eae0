"""Expiring due authorizations with their audit events, beside a raw driver loop writing the same rows.

    .venv/bin/python bench/expiry_bench.py                          # SQLite, 1,000,000 due authorizations
    .venv/bin/python bench/expiry_bench.py --rows 100000            # a quicker run
    .venv/bin/python bench/expiry_bench.py --chunk-sizes 200 100 500
    .venv/bin/python bench/expiry_bench.py --postgresql postgresql+psycopg://postgres@127.0.0.1:5432/bench

The database holds --rows authorizations past their dispense_by (inserted directly, in bulk: a
pharmacy, a prescriber, one patient per ten prescriptions, the prescriptions, their authorized
decisions with a full set of gate results, the active authorizations; dispense_by is the end of a
local day, spread over the --days days before today, so many share one instant), plus --decisions
prescriptions built through the services (current evidence, authorized, a pharmacist's token) for
the decision-latency phase.

For each chunk size, on a fresh copy of that database:

  sweep  pharmsafe.scheduler.run_expiry_sweep(app), which calls expire_stale_authorizations once
         per chunk, one transaction each: rows/s, and the write-lock hold of every chunk
         transaction (from the moment BEGIN has the lock, via the engine's "begin" event, to the
         end of COMMIT, via the session's "after_commit" event): max and p99;
  raw    the same work with the driver alone (sqlite3, or psycopg): per chunk, BEGIN (IMMEDIATE),
         the same SELECT (locking the authorizations and their prescriptions, SKIP LOCKED, on
         PostgreSQL), UPDATE of those authorizations by primary key (RETURNING id) and of their
         prescriptions, the chain lock and head, the SHA-256
         chain computed in the loop, one executemany INSERT of the audit rows, COMMIT. Its events
         hash exactly as PharmSafe's, so --verify checks both chains.

The lock hold is also given up to the start of COMMIT: on SQLite a COMMIT that crosses the WAL
auto-checkpoint threshold (1000 pages) runs the checkpoint before it returns, after the write lock
is released, so the full figure is an upper bound there.

Then, on one more fresh copy, decision latency: PharmSafe served by gunicorn (--workers sync
workers, the same server as bench/http_bench.py) takes re-evaluations
(POST /api/v1/prescriptions/{id}/evaluations) at a constant --decision-rate from an open-loop
client that measures each request from its scheduled start; p50/p99 idle, then p50/p99 of the
requests scheduled while a sweep (the first chunk size) runs in another process. The default rate,
5/s, is about half of what one decision at a time allows on this database: with a million
authorizations in the table a decision costs some 70-100 ms here (see docs/benchmarks.md).

Each sweep and raw run is its own process. The PostgreSQL database given is wiped (and rebuilt for
every run)."""
from __future__ import annotations

import argparse
import concurrent.futures
import csv
import hashlib
import io
import json
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

from pharmsafe.runtime import runtime_of

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import http_bench  # noqa: E402  (the gunicorn server, the seeding through the services, the open-loop client)

NEW_YORK = ZoneInfo("America/New_York")
GENESIS_HASH = "0" * 64
CHAIN_LOCK_KEY = 7_301_442_001  # pharmsafe.audit.chain.CHAIN_LOCK_KEY
ACTOR = "system:scheduler"
SEED_BATCH = 50_000


# --- the database ------------------------------------------------------------------------------

def app_for(url: str, **settings):
    from pharmsafe import create_app

    return create_app({"ENV": "testing", "SECRET_KEY": "x" * 32, "SCHEDULER": "off", "DATABASE_URL": url,
                       **settings})


def build_database(url: str, rows: int, decisions: int, days: int) -> dict:
    """Migrate, build the decision prescriptions through the services, then insert the due rows."""
    http_bench.prepare_database(url)
    app = app_for(url)
    token, rx_ids = http_bench.seed_authorized(app, decisions)
    with runtime_of(app).engine.connect() as conn:  # a real decision's gate results
        gates_json = conn.exec_driver_sql("SELECT gates FROM decisions ORDER BY id LIMIT 1").scalar()
    runtime_of(app).engine.dispose()
    if not isinstance(gates_json, str):
        gates_json = json.dumps(gates_json)
    if url.startswith("sqlite"):
        # No ANALYZE here: PharmSafe never runs one, so SQLite plans without statistics, as it
        # would in a deployment.
        _bulk_sqlite(url.removeprefix("sqlite:///"), rows, days, gates_json)
    else:
        _bulk_postgresql(url, rows, days, gates_json)
    return {"token": token, "rx_ids": rx_ids}


def _due_rows(rows: int, days: int, first: dict, gates_json: str):
    """Batches of tuples per table, in Python values (datetimes UTC-aware)."""
    today = datetime.now(NEW_YORK).date()
    # End of each local day, the last `days` days (oldest first): dispense_by as PharmSafe fixes it.
    ends = [datetime.combine(today - timedelta(days=days - d), dtime(23, 59, 59), NEW_YORK).astimezone(UTC)
            for d in range(days)]
    created = datetime.now(UTC) - timedelta(days=days + 60)
    pharmacy_id, prescriber_id = first["pharmacies"], first["prescribers"]
    yield "pharmacies", [(pharmacy_id, "Due Pharmacy", "7000001", "R-DUE", today + timedelta(days=365),
                          "America/New_York", created)]
    yield "prescribers", [(prescriber_id, "1245319599", "D", "U", "NY", "NY-DUE", today + timedelta(days=365),
                           today + timedelta(days=365), "active", created)]
    patients = (rows + 9) // 10
    for start in range(0, patients, SEED_BATCH):
        yield "patients", [(first["patients"] + i, prescriber_id, "P", f"due-{i}", date(1990, 1, 1), False,
                            f"DUE{i}", (created - timedelta(days=30)).date(), False, created)
                           for i in range(start, min(start + SEED_BATCH, patients))]
    source = json.dumps({"gate": "labs", "evidence": "lab_result:1", "last_day": "2026-01-01"})
    cited = json.dumps(["attestation:1", "lab_result:1", "patient:1", "pharmacy:1", "prescriber:1"])
    for start in range(0, rows, SEED_BATCH):
        batch = range(start, min(start + SEED_BATCH, rows))
        due = [ends[i * days // rows] for i in batch]
        granted = [d - timedelta(days=30) for d in due]
        yield "prescriptions", [(first["prescriptions"] + i, first["patients"] + i // 10, prescriber_id, pharmacy_id,
                                 "isotretinoin", "0591-2434-15", "20", "30", 30, 0, (iss - timedelta(days=1)).date(),
                                 None, "authorized", iss - timedelta(days=1), "user:1")
                                for i, iss in zip(batch, granted, strict=True)]
        yield "decisions", [(first["decisions"] + i, first["prescriptions"] + i, "evaluation", "authorized", iss,
                             "user:1", "ipledge-2026", "2026-08-08", d, source, gates_json, cited)
                            for i, d, iss in zip(batch, due, granted, strict=True)]
        yield "authorizations", [(first["authorizations"] + i, first["prescriptions"] + i, first["decisions"] + i,
                                  pharmacy_id, "active", d, iss, None, None, None)
                                 for i, d, iss in zip(batch, due, granted, strict=True)]


COLUMNS = {
    "pharmacies": "id, name, ncpdp_id, rems_registration_id, activated_until, time_zone, created_at",
    "prescribers": "id, npi, first_name, last_name, license_state, license_number, license_expires_on, "
                   "rems_certified_until, status, created_at",
    "patients": "id, prescriber_id, first_name, last_name, date_of_birth, can_get_pregnant, rems_patient_id, "
                "enrolled_on, home_pregnancy_tests_allowed, created_at",
    "prescriptions": "id, patient_id, prescriber_id, pharmacy_id, drug, ndc, strength_mg, quantity, days_supply, "
                     "refills, written_on, first_of_course, status, submitted_at, submitted_by",
    "decisions": "id, prescription_id, stage, outcome, evaluated_at, evaluated_by, policy_name, policy_version, "
                 "dispense_by, dispense_by_source, gates, cited",
    "authorizations": "id, prescription_id, decision_id, pharmacy_id, status, dispense_by, issued_at, closed_at, "
                      "reversal_reason, reversed_by",
}


def _sqlite_value(v):
    # As SQLAlchemy stores them on SQLite: UTC instants as naive text with microseconds, dates as text.
    if isinstance(v, datetime):
        return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, date):
        return v.isoformat()
    return v


def _first_ids(max_id) -> dict:
    return {table: max_id(table) + 1 for table in COLUMNS}


def _bulk_sqlite(path: str, rows: int, days: int, gates_json: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")  # seeding only
    first = _first_ids(lambda t: conn.execute(f"SELECT coalesce(max(id), 0) FROM {t}").fetchone()[0])
    conn.execute("BEGIN")
    for table, batch in _due_rows(rows, days, first, gates_json):
        marks = ",".join("?" * len(COLUMNS[table].split(",")))
        conn.executemany(f"INSERT INTO {table} ({COLUMNS[table]}) VALUES ({marks})",
                         [tuple(_sqlite_value(v) for v in row) for row in batch])
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _bulk_postgresql(url: str, rows: int, days: int, gates_json: str) -> None:
    import psycopg

    with psycopg.connect(pg_dsn(url)) as conn:
        first = _first_ids(lambda t: conn.execute(f"SELECT coalesce(max(id), 0) FROM {t}").fetchone()[0])
        for table, batch in _due_rows(rows, days, first, gates_json):
            buf = io.StringIO()
            writer = csv.writer(buf)
            for row in batch:
                writer.writerow(["" if v is None else v.isoformat() if isinstance(v, (date, datetime)) else v
                                 for v in row])
            with conn.cursor().copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN (FORMAT csv)") as copy:
                copy.write(buf.getvalue())
        for table in COLUMNS:  # the ids were given explicitly: move the sequences past them
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
    with psycopg.connect(pg_dsn(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # as autovacuum would have, long before a million rows came due


def pg_dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


class Database:
    """A fresh copy of the benchmark database for every run: a file copy on SQLite, a rebuild on
    PostgreSQL."""

    def __init__(self, engine_name: str, url: str | None, workdir: Path, args):
        self.engine_name, self.workdir, self.args = engine_name, workdir, args
        self.template = workdir / "template.db"
        self.url = f"sqlite:///{workdir / 'run.db'}" if engine_name == "sqlite" else url
        self.built = False
        self.seed: dict = {}

    def fresh(self) -> str:
        started = time.perf_counter()
        if self.engine_name == "sqlite":
            if not self.built:
                self.seed = build_database(f"sqlite:///{self.template}", self.args.rows, self.args.decisions,
                                           self.args.days)
                self.built = True
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.url.removeprefix("sqlite:///")) + suffix).unlink(missing_ok=True)
            shutil.copyfile(self.template, self.url.removeprefix("sqlite:///"))
        else:
            self.seed = build_database(self.url, self.args.rows, self.args.decisions, self.args.days)
        print(f"  {self.engine_name}: fresh database with {self.args.rows:,} due authorizations "
              f"in {time.perf_counter() - started:.1f} s", flush=True)
        return self.url


# --- the measured runs (each in its own process) -----------------------------------------------

def measure_sweep(url: str, chunk_size: int, verify: bool) -> dict:
    from sqlalchemy import event

    from pharmsafe.scheduler import run_expiry_sweep

    app = app_for(url, EXPIRY_CHUNK_SIZE=chunk_size)
    ext = runtime_of(app)
    holds: list[float] = []  # from BEGIN (lock held) to the end of COMMIT
    before_commit: list[float] = []  # from BEGIN to the start of COMMIT
    began: list[float] = []

    # Registered after PharmSafe's own "begin" listener (which runs BEGIN IMMEDIATE on SQLite),
    # so the clock starts once the transaction has its lock. The engine's "commit" event fires just
    # before the driver's COMMIT, the session's "after_commit" once it has returned.
    event.listen(ext.engine, "begin", lambda conn: began.append(time.perf_counter()))
    event.listen(ext.engine, "commit", lambda conn: before_commit.append(time.perf_counter() - began[-1]))
    event.listen(ext.session_factory, "after_commit", lambda session: holds.append(time.perf_counter() - began.pop()))
    started, start_mono = time.perf_counter(), time.monotonic()
    expired = run_expiry_sweep(app)
    seconds = time.perf_counter() - started
    result = {"what": "sweep", "rows": expired, "seconds": seconds, "start": start_mono,
              "end": time.monotonic(), "holds": holds, "before_commit": before_commit}
    ext.engine.dispose()
    if verify:
        result["intact"] = verify_chain(url)
    return result


def measure_raw(url: str, chunk_size: int, verify: bool) -> dict:
    loop = raw_loop_sqlite if url.startswith("sqlite") else raw_loop_postgresql
    started, start_mono = time.perf_counter(), time.monotonic()
    expired, holds, before_commit = loop(url, chunk_size)
    result = {"what": "raw", "rows": expired, "seconds": time.perf_counter() - started, "start": start_mono,
              "end": time.monotonic(), "holds": holds, "before_commit": before_commit}
    if verify:
        result["intact"] = verify_chain(url)
    return result


def verify_chain(url: str) -> bool:
    from pharmsafe.audit.verify import verify_chain as verify
    from pharmsafe.db import make_engine, make_session_factory, read_only_session

    engine = make_engine(url)
    with read_only_session(make_session_factory(engine)) as session:
        result = verify(session)
    engine.dispose()
    return result.intact


SELECT_DUE = ("SELECT a.id, a.prescription_id, a.dispense_by, d.policy_name FROM authorizations a "
              "JOIN decisions d ON d.id = a.decision_id JOIN prescriptions p ON p.id = a.prescription_id "
              "WHERE a.status = 'active' AND a.dispense_by < {p} "
              "ORDER BY a.dispense_by, a.id LIMIT {p}")


def _instant(value: datetime) -> str:
    """PharmSafe's canonical instant: UTC, ISO 8601, Z, microseconds only when there are some."""
    value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds" if value.microsecond else "seconds").replace("+00:00", "Z")


def _chain(rows, head: tuple[int, str], occurred: str, occurred_stored) -> list[tuple]:
    """The audit rows for one chunk, hashed in the loop: SHA-256 over the canonical JSON of each
    event (its id, fields and the previous hash), as PharmSafe's chain defines it."""
    head_id, prev = head
    out = []
    dumps = json.dumps
    for auth_id, rx_id, due, policy in sorted(rows):
        head_id += 1
        payload = dumps({"dispense_by": due, "prescription_id": rx_id, "reason": "dispense_by passed"},
                        sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        subject = f"authorization:{auth_id}"
        body = dumps({"action": "authorization.expired", "actor": ACTOR, "id": head_id, "occurred_at": occurred,
                      "payload": payload, "policy": policy, "prev_hash": prev, "subject": subject},
                     sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(body.encode()).hexdigest()
        out.append((head_id, occurred_stored, "authorization.expired", ACTOR, subject, policy, payload, prev, digest))
        prev = digest
    return out


def raw_loop_sqlite(url: str, chunk_size: int) -> tuple[int, list[float], list[float]]:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=30)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    now = datetime.now(UTC)
    stored_now = now.strftime("%Y-%m-%d %H:%M:%S.%f")
    cutoff = now.replace(microsecond=0).strftime("%Y-%m-%d %H:%M:%S.%f")
    select_due = SELECT_DUE.format(p="?")
    total, holds, before_commit = 0, [], []
    while True:
        conn.execute("BEGIN IMMEDIATE")
        began = time.perf_counter()
        chunk = conn.execute(select_due, (cutoff, chunk_size)).fetchall()
        if chunk:
            marks = ",".join("?" * len(chunk))
            # The chunk's rows are ours until COMMIT (BEGIN IMMEDIATE holds the write lock), so the
            # primary key alone selects them.
            expired = {r[0] for r in conn.execute(
                f"UPDATE authorizations SET status = 'expired', closed_at = ? WHERE id IN ({marks}) RETURNING id",
                (stored_now, *(r[0] for r in chunk)))}
            rows = [(a, rx, f"{due[:10]}T{due[11:19]}Z" if due.endswith(".000000") else
                     _instant(datetime.fromisoformat(due).replace(tzinfo=UTC)), policy)
                    for a, rx, due, policy in chunk if a in expired]
            conn.execute(f"UPDATE prescriptions SET status = 'expired' WHERE id IN ({','.join('?' * len(rows))})",
                         [r[1] for r in rows])
            head = conn.execute("SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1").fetchone()
            conn.executemany("INSERT INTO audit_events (id, occurred_at, action, actor, subject, policy, payload, "
                             "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             _chain(rows, head or (0, GENESIS_HASH), _instant(now), stored_now))
            total += len(rows)
        before_commit.append(time.perf_counter() - began)
        conn.execute("COMMIT")
        holds.append(time.perf_counter() - began)
        if len(chunk) < chunk_size:
            break
    conn.close()
    return total, holds, before_commit


def raw_loop_postgresql(url: str, chunk_size: int) -> tuple[int, list[float], list[float]]:
    import psycopg

    now = datetime.now(UTC)
    cutoff = now.replace(microsecond=0)
    select_due = SELECT_DUE.format(p="%s") + " FOR UPDATE OF a, p SKIP LOCKED"
    total, holds, before_commit = 0, [], []
    with psycopg.connect(pg_dsn(url)) as conn:
        cur = conn.cursor()
        while True:
            began = time.perf_counter()  # psycopg begins with the first statement
            chunk = cur.execute(select_due, (cutoff, chunk_size)).fetchall()
            if chunk:
                # FOR UPDATE has locked the chunk's rows (and re-checked them), so the primary key
                # alone selects them.
                expired = {r[0] for r in cur.execute(
                    "UPDATE authorizations SET status = 'expired', closed_at = %s WHERE id = ANY(%s) RETURNING id",
                    (now, [r[0] for r in chunk]))}
                rows = [(a, rx, _instant(due), policy) for a, rx, due, policy in chunk if a in expired]
                cur.execute("UPDATE prescriptions SET status = 'expired' WHERE id = ANY(%s)", ([r[1] for r in rows],))
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_LOCK_KEY,))
                head = cur.execute("SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1").fetchone()
                cur.executemany("INSERT INTO audit_events (id, occurred_at, action, actor, subject, policy, payload, "
                                "prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                                _chain(rows, head or (0, GENESIS_HASH), _instant(now), now))
                total += len(rows)
            before_commit.append(time.perf_counter() - began)
            conn.commit()
            holds.append(time.perf_counter() - began)
            if len(chunk) < chunk_size:
                break
    return total, holds, before_commit


def run_measure(what: str, url: str, chunk_size: int, verify: bool) -> dict:
    """Run one measurement in a fresh process."""
    out = subprocess.run([sys.executable, __file__, "--measure", what, "--url", url, "--chunk-size", str(chunk_size)]
                         + (["--verify"] if verify else []), check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out)


# --- decision latency --------------------------------------------------------------------------

def decision_latency(db: Database, args) -> dict:
    url = db.fresh()
    token, rx_ids = db.seed["token"], db.seed["rx_ids"]
    headers = {"Authorization": f"Bearer {token}"}
    paths = [http_bench.PATH.format(i) for i in rx_ids]
    with http_bench.RunningServer("pharmsafe", workers=args.workers, env=http_bench.pharmsafe_env(url),
                                  access_log=False, probe_path=paths[0], probe_headers=headers) as server:
        http_bench.open_loop(server.port, paths, headers, rate=args.decision_rate, seconds=2, procs=1)  # warm-up
        idle = http_bench.open_loop(server.port, paths, headers, rate=args.decision_rate,
                                    seconds=args.idle_seconds, procs=1, keep=True)
        # The same load again, running from before the sweep starts until just after it ends.
        stop = multiprocessing.get_context("fork").Event()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            load = pool.submit(http_bench.open_loop, server.port, paths, headers, rate=args.decision_rate,
                               seconds=24 * 3600, procs=1, keep=True, stop=stop)
            time.sleep(3)
            try:
                swept = run_measure("sweep", url, args.chunk_sizes[0], False)
            finally:
                time.sleep(1)
                stop.set()
            loaded = load.result()
    during = [r for r in loaded["requests"] if swept["start"] <= r[0] <= swept["end"]]
    return {"idle": latency_summary(idle["requests"]), "during": latency_summary(during), "sweep": swept}


def latency_summary(requests: list) -> dict:
    latencies = sorted(lat for _, lat, _ in requests)
    errors = sum(1 for _, _, status in requests if not 200 <= status < 300)
    return {"n": len(latencies), "errors": errors, "p50_ms": http_bench.percentile(latencies, 50) * 1000,
            "p99_ms": http_bench.percentile(latencies, 99) * 1000,
            "max_ms": (latencies[-1] if latencies else float("nan")) * 1000}


# --- the benchmark -----------------------------------------------------------------------------

def hold_summary(holds: list[float]) -> tuple[float, float]:
    ordered = sorted(holds)
    return http_bench.percentile(ordered, 99) * 1000, ordered[-1] * 1000


def bench_engine(engine_name: str, url: str | None, args, workdir: Path) -> dict:
    db = Database(engine_name, url, workdir, args)
    runs = {}
    for chunk_size in args.chunk_sizes:
        for what in ("sweep", "raw"):
            result = run_measure(what, db.fresh(), chunk_size, args.verify)
            if result["rows"] != args.rows:
                raise SystemExit(f"{what} expired {result['rows']:,} rows, not {args.rows:,}")
            p99, worst = hold_summary(result["holds"])
            print(f"  {what:<5} chunk {chunk_size:>5}: {result['rows'] / result['seconds']:>9,.0f} rows/s "
                  f"({result['seconds']:.1f} s, {len(result['holds']):,} transactions), lock hold p99 "
                  f"{p99:.1f} ms, max {worst:.1f} ms (before COMMIT: max {max(result['before_commit']) * 1000:.1f} ms)"
                  + (f", chain intact: {result['intact']}" if args.verify else ""), flush=True)
            runs[(chunk_size, what)] = result
    latency = None
    if not args.skip_latency:
        latency = decision_latency(db, args)
        print(f"  decisions at {args.decision_rate:g}/s: idle p99 {latency['idle']['p99_ms']:.1f} ms, "
              f"during the sweep p99 {latency['during']['p99_ms']:.1f} ms", flush=True)
    return {"runs": runs, "latency": latency}


def print_tables(engine_name: str, results: dict, args) -> None:
    runs = results["runs"]
    print(f"\n{engine_name}: {args.rows:,} due authorizations (and as many audit events)")
    print("lock hold: from BEGIN (lock taken) to the end of COMMIT; 'pre-COMMIT' stops where COMMIT starts")
    print(f"{'chunk':>6} {'what':<6} {'seconds':>8} {'rows/s':>9} {'x raw':>6} {'txns':>6} "
          f"{'hold p99 ms':>12} {'hold max ms':>12} {'pre-COMMIT p99':>15} {'pre-COMMIT max':>15}")
    for chunk_size in args.chunk_sizes:
        raw_rate = runs[(chunk_size, "raw")]["rows"] / runs[(chunk_size, "raw")]["seconds"]
        for what in ("sweep", "raw"):
            r = runs[(chunk_size, what)]
            rate = r["rows"] / r["seconds"]
            p99, worst = hold_summary(r["holds"])
            pre_p99, pre_worst = hold_summary(r["before_commit"])
            print(f"{chunk_size:>6} {what:<6} {r['seconds']:>8.1f} {rate:>9,.0f} {rate / raw_rate:>6.2f} "
                  f"{len(r['holds']):>6,} {p99:>12.1f} {worst:>12.1f} {pre_p99:>15.1f} {pre_worst:>15.1f}")
    latency = results["latency"]
    if latency:
        idle, during, sweep = latency["idle"], latency["during"], latency["sweep"]
        p99, worst = hold_summary(sweep["holds"])
        print(f"\ndecisions (POST .../evaluations through gunicorn, {args.workers} sync workers) at "
              f"{args.decision_rate:g} req/s, open loop; sweep with chunk {args.chunk_sizes[0]}")
        print(f"{'':<14} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p99 x idle':>11}")
        for name, s in (("idle", idle), ("during sweep", during)):
            print(f"{name:<14} {s['n']:>9,} {s['errors']:>7} {s['p50_ms']:>8.1f} {s['p99_ms']:>8.1f} "
                  f"{s['max_ms']:>8.1f} {s['p99_ms'] / idle['p99_ms']:>11.2f}")
        print(f"the sweep under that load: {sweep['rows'] / sweep['seconds']:,.0f} rows/s, lock hold p99 "
              f"{p99:.1f} ms, max {worst:.1f} ms")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="due authorizations (default 1,000,000)")
    parser.add_argument("--chunk-sizes", type=int, nargs="+", default=[200],
                        help="EXPIRY_CHUNK_SIZE values to run; the first is used for the latency phase (default 200, the application's)")
    parser.add_argument("--postgresql", metavar="URL", help="also run on this PostgreSQL database (wiped)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    parser.add_argument("--days", type=int, default=100, help="days the due instants are spread over (default 100)")
    parser.add_argument("--decisions", type=int, default=300, help="prescriptions for the latency phase (default 300)")
    parser.add_argument("--decision-rate", type=float, default=5, help="decisions per second (default 5)")
    parser.add_argument("--idle-seconds", type=float, default=60, help="idle latency phase (default 60 s)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--skip-latency", action="store_true", help="only the sweep and raw runs")
    parser.add_argument("--verify", action="store_true", help="verify the audit chain after every run")
    parser.add_argument("--json", metavar="FILE", help="also write the raw results here")
    parser.add_argument("--measure", choices=("sweep", "raw"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--chunk-size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure = measure_sweep if args.measure == "sweep" else measure_raw
        print(json.dumps(measure(args.url, args.chunk_size, args.verify)))
        return
    workdir = Path(tempfile.mkdtemp(prefix="pharmsafe-expiry-bench-"))
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    engines = ([] if args.no_sqlite else [("sqlite", None)]) + ([("postgresql", args.postgresql)] if args.postgresql else [])
    results = {}
    for engine_name, url in engines:
        print(f"{engine_name}:", flush=True)
        results[engine_name] = bench_engine(engine_name, url, args, workdir)
    for engine_name, r in results.items():
        print_tables(engine_name, r, args)
    if args.json:
        Path(args.json).write_text(json.dumps({e: {"runs": {f"{c}-{w}": v for (c, w), v in r["runs"].items()},
                                                   "latency": r["latency"]} for e, r in results.items()}, indent=2))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
