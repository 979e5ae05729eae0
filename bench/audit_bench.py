"""Audit export and verification against a raw cursor loop, at 100,000 and 1,000,000 events.

    .venv/bin/python bench/audit_bench.py                     # SQLite, 100k and 1M events
    .venv/bin/python bench/audit_bench.py --rows 20000 200000 # smaller sizes
    .venv/bin/python bench/audit_bench.py --postgresql postgresql+psycopg://postgres@127.0.0.1:5432/bench

Each measurement runs in a fresh process so that its peak RSS is its own. The raw loop reads the same
rows with the driver's own cursor and hashes each row's fields with SHA-256: the floor that export
and verification are compared to. The PostgreSQL database given is wiped."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_bench import prepare_database  # noqa: E402  (wipes a PostgreSQL schema, then migrates)

BATCH = 10_000
T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def seed(url: str, rows: int) -> None:
    from pharmsafe.audit.chain import append_events
    from pharmsafe.db import make_engine, make_session_factory

    prepare_database(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    for start in range(0, rows, BATCH):
        events = [{"action": "decision.recorded", "subject": f"decision:{i}", "policy": "ipledge-2026",
                   "payload": {"prescription_id": i // 2, "outcome": "authorized" if i % 3 else "blocked",
                               "stage": "evaluation", "gates": [{"gate": "labs", "status": "pass",
                                                                 "code": "LABS_CURRENT"}]}}
                  for i in range(start + 1, min(start + BATCH, rows) + 1)]
        with factory() as session:
            append_events(session, events, actor="user:1", now=T0 + timedelta(seconds=start // BATCH))
            session.commit()
    engine.dispose()


def measure(url: str, what: str) -> dict:
    from pharmsafe.audit.export import export_rows
    from pharmsafe.audit.query import AuditFilters
    from pharmsafe.audit.verify import verify_chain
    from pharmsafe.db import make_engine, make_session_factory, read_only_session

    engine = make_engine(url)
    factory = make_session_factory(engine)
    started = time.perf_counter()
    rows = 0
    if what == "verify":
        with read_only_session(factory) as session:
            result = verify_chain(session)
        assert result.intact, result
        rows = result.events
    elif what in ("ndjson", "csv", "fhir"):
        with open(os.devnull, "w") as sink:
            for chunk in export_rows(factory, AuditFilters(), what):
                sink.write(chunk)
                rows += chunk.count("\n")  # one line per event (JSON payloads escape their newlines)
        rows -= 1 if what == "csv" else 0  # the header
    else:
        rows = raw_loop(url)
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"what": what, "rows": rows, "seconds": seconds,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def raw_loop(url: str) -> int:
    sql = ("SELECT id, occurred_at, action, actor, subject, policy, payload, prev_hash, hash "
           "FROM audit_events ORDER BY id")
    rows = 0
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        cursor = conn.execute(sql)
    else:
        import psycopg

        conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        cursor = conn.cursor(name="raw")
        cursor.itersize = 2000
        cursor.execute(sql)
    for row in cursor:
        hashlib.sha256("|".join(map(str, row)).encode()).hexdigest()
        rows += 1
    conn.close()
    return rows


def run_measure(url: str, what: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--measure", what, "--url", url],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--postgresql", metavar="URL")
    parser.add_argument("--measure")
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.url, args.measure)))
        return
    workdir = Path(tempfile.mkdtemp(prefix="pharmsafe-bench-"))
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    for engine_name in ["sqlite"] + (["postgresql"] if args.postgresql else []):
        results = {}
        for rows in args.rows:
            url = f"sqlite:///{workdir / f'audit-{rows}.db'}" if engine_name == "sqlite" else args.postgresql
            started = time.perf_counter()
            seed(url, rows)
            print(f"{engine_name}: seeded {rows:,} events in {time.perf_counter() - started:.1f} s")
            results[rows] = {what: run_measure(url, what) for what in ("raw", "verify", "ndjson", "csv", "fhir")}
        print(f"\n{engine_name}")
        print(f"{'rows':>10} {'what':<7} {'rows/s':>10} {'x raw':>6} {'peak RSS MiB':>13}")
        for rows, by_what in results.items():
            raw_rate = by_what["raw"]["rows"] / by_what["raw"]["seconds"]
            for what, r in by_what.items():
                rate = r["rows"] / r["seconds"]
                print(f"{rows:>10,} {what:<7} {rate:>10,.0f} {rate / raw_rate:>6.2f} {r['peak_rss_mib']:>13.1f}")
        if len(results) > 1:
            small, large = min(results), max(results)
            for what in ("verify", "ndjson", "csv", "fhir"):
                growth = results[large][what]["peak_rss_mib"] - results[small][what]["peak_rss_mib"]
                print(f"peak RSS growth {small:,} -> {large:,} rows, {what}: {growth:+.1f} MiB")
        print()


if __name__ == "__main__":
    main()
