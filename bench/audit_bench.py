"""Audit export and verification against a raw cursor loop, at 100,000 and 1,000,000 events.

    .venv/bin/python bench/audit_bench.py                     # SQLite, 100k and 1M events
    .venv/bin/python bench/audit_bench.py --rows 20000 200000 # smaller sizes
    .venv/bin/python bench/audit_bench.py --postgresql postgresql+psycopg://postgres@127.0.0.1:5432/bench
    .venv/bin/python bench/audit_bench.py --rows 1000000 --what raw verify verify-anchored since-anchor anchor

Each measurement runs in a fresh process so that its peak RSS is its own. The raw loop reads the same
rows with the driver's own cursor and hashes each row's fields with SHA-256: the floor that export
and verification are compared to. The PostgreSQL database given is wiped.

The chain is anchored (a key pair made for the run) --after-anchor events before its end, as the
scheduler leaves it between two ticks: `verify-anchored` is the full verification that also checks
the anchor file, `since-anchor` is `pharmsafe audit verify --since-anchor` (only the events after
the latest anchor are walked), `anchor` writes the next anchor (it verifies those events first)."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_bench import prepare_database  # noqa: E402  (wipes a PostgreSQL schema, then migrates)

BATCH = 10_000
T0 = datetime(2026, 11, 1, tzinfo=UTC)


WHATS = ("raw", "verify", "verify-anchored", "since-anchor", "ndjson", "csv", "fhir", "anchor")


def anchoring(workdir: Path):
    from pharmsafe.audit.anchor import anchoring_from_settings

    return anchoring_from_settings({"AUDIT_SIGNING_KEY_FILE": str(workdir / "audit-signing-key.pem"),
                                    "AUDIT_ANCHOR_FILE": str(workdir / "anchors.jsonl")})


def seed(url: str, rows: int, workdir: Path, after_anchor: int) -> None:
    """`rows` events, anchored `after_anchor` events before the end."""
    from pharmsafe.audit.anchor_writer import write_anchor
    from pharmsafe.db import make_engine, make_session_factory

    prepare_database(url)
    (workdir / "anchors.jsonl").unlink(missing_ok=True)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    anchored_at = max(rows - after_anchor, 0)
    append_range(factory, 0, anchored_at)
    if anchored_at:
        write_anchor(anchoring(workdir), factory, T0 + timedelta(days=1))
    append_range(factory, anchored_at, rows)
    engine.dispose()


def append_range(factory, first: int, end: int) -> None:
    from pharmsafe.audit.chain import append_events

    for start in range(first, end, BATCH):
        events = [{"action": "decision.recorded", "subject": f"decision:{i}", "policy": "ipledge-2026",
                   "payload": {"prescription_id": i // 2, "outcome": "authorized" if i % 3 else "blocked",
                               "stage": "evaluation", "gates": [{"gate": "labs", "status": "pass",
                                                                 "code": "LABS_CURRENT"}]}}
                  for i in range(start + 1, min(start + BATCH, end) + 1)]
        with factory() as session:
            append_events(session, events, actor="user:1", now=T0 + timedelta(seconds=start // BATCH))
            session.commit()


def measure(url: str, what: str, workdir: Path) -> dict:
    from pharmsafe.audit.anchor_writer import write_anchor
    from pharmsafe.audit.export import export_rows
    from pharmsafe.audit.query import AuditFilters
    from pharmsafe.audit.verify import verify_chain
    from pharmsafe.db import make_engine, make_session_factory, read_only_session

    engine = make_engine(url)
    factory = make_session_factory(engine)
    anchors = anchoring(workdir)
    started = time.perf_counter()
    rows = 0
    if what in ("verify", "verify-anchored", "since-anchor"):
        with read_only_session(factory) as session:
            result = verify_chain(session, anchors if what != "verify" else None, since_anchor=what == "since-anchor")
        assert result.intact, result
        # --since-anchor walks only the events after the anchor: those are its rows.
        rows = result.after_anchor if what == "since-anchor" else result.events
    elif what == "anchor":
        from pharmsafe.audit.anchor import latest_anchor

        before = latest_anchor(anchors)
        started = time.perf_counter()  # the events since the latest anchor are its rows
        rows = write_anchor(anchors, factory, T0 + timedelta(days=2)).count - (before.count if before else 0)
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


def run_measure(url: str, what: str, workdir: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--measure", what, "--url", url, "--workdir", str(workdir)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--postgresql", metavar="URL")
    parser.add_argument("--what", nargs="+", choices=WHATS, default=list(WHATS),
                        help="what to measure (default: all; 'raw' is needed for the ratios)")
    parser.add_argument("--after-anchor", type=int, default=1000,
                        help="events appended after the anchor (default 1000)")
    parser.add_argument("--measure")
    parser.add_argument("--url")
    parser.add_argument("--workdir")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.url, args.measure, Path(args.workdir))))
        return
    workdir = Path(tempfile.mkdtemp(prefix="pharmsafe-bench-"))
    try:
        run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(args, workdir: Path) -> None:
    from pharmsafe.audit.anchor import generate_keypair

    generate_keypair(workdir)
    whats = [w for w in WHATS if w in args.what]  # "anchor" last: it moves the latest anchor
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    for engine_name in ["sqlite"] + (["postgresql"] if args.postgresql else []):
        results = {}
        for rows in args.rows:
            url = f"sqlite:///{workdir / f'audit-{rows}.db'}" if engine_name == "sqlite" else args.postgresql
            started = time.perf_counter()
            seed(url, rows, workdir, args.after_anchor)
            print(f"{engine_name}: seeded {rows:,} events (anchored {args.after_anchor:,} before the end) "
                  f"in {time.perf_counter() - started:.1f} s", flush=True)
            results[rows] = {}
            for what in whats:
                results[rows][what] = run_measure(url, what, workdir)
                print(f"  {what}: {results[rows][what]['seconds']:.2f} s", flush=True)
        print(f"\n{engine_name}")
        print(f"{'rows':>10} {'what':<15} {'seconds':>8} {'rows/s':>10} {'x raw':>6} {'peak RSS MiB':>13}")
        for rows, by_what in results.items():
            raw = by_what.get("raw")
            raw_rate = raw["rows"] / raw["seconds"] if raw else None
            for what, r in by_what.items():
                rate = r["rows"] / r["seconds"]
                ratio = f"{rate / raw_rate:>6.2f}" if raw_rate else f"{'-':>6}"
                print(f"{rows:>10,} {what:<15} {r['seconds']:>8.2f} {rate:>10,.0f} {ratio} {r['peak_rss_mib']:>13.1f}")
            if "verify-anchored" in by_what and "since-anchor" in by_what:
                ratio = by_what["verify-anchored"]["seconds"] / by_what["since-anchor"]["seconds"]
                print(f"{rows:>10,} full verification / --since-anchor ({args.after_anchor:,} events after the "
                      f"anchor): {ratio:,.0f}x")
        if len(results) > 1:
            small, large = min(results), max(results)
            for what in ("verify", "ndjson", "csv", "fhir"):
                if what in results[large]:
                    growth = results[large][what]["peak_rss_mib"] - results[small][what]["peak_rss_mib"]
                    print(f"peak RSS growth {small:,} -> {large:,} rows, {what}: {growth:+.1f} MiB")
        print()


if __name__ == "__main__":
    main()
