"""What the manager's dashboard costs on a large database: every chart of /manager/ for one
pharmacy and for every pharmacy (an admin's view), over the default 30 days, on PostgreSQL.

    .venv/bin/python bench/dashboard_bench.py --postgresql postgresql+psycopg://postgres@127.0.0.1:5432/bench
    .venv/bin/python bench/dashboard_bench.py --postgresql $PG --decisions 100000   # a quick look

The database named is wiped (its public schema is dropped and rebuilt by the migrations). The seed
is written with INSERT ... SELECT over generate_series, not through the services: --decisions
decisions (default 1,000,000) over --days days (365) before the clock's now, across --pharmacies
pharmacies (20), five decisions a prescription, the last of each authorized, the others blocked by one
of five gate codes; one authorization per prescription (a third expired, a third dispensed, the rest
active with deadlines over the next ten days) and a dispense for each dispensed one. Then each
chart's query is timed in this process with the application's own code (pharmsafe.services.dashboard),
the median of --repeat runs, and the whole dashboard too. Nothing is asserted; the figures and the
target (200 ms on 1,000,000 decisions) are in docs/benchmarks.md."""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import http_bench  # noqa: E402  (prepare_database)

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
CODES = ("PREGNANCY_TEST_OUTSIDE_WINDOW", "LABS_STALE", "CONTRACEPTION_MISSING", "PRESCRIPTION_WINDOW_PASSED",
         "PRESCRIBER_CERTIFICATION_EXPIRED")
PASS = '{"gate": "pharmacy", "status": "pass", "code": "PHARMACY_ACTIVE", "message": "ok"}'


def seed(url: str, decisions: int, days: int, pharmacies: int) -> None:
    from sqlalchemy import create_engine, text

    prescriptions = max(1, decisions // 5)
    engine = create_engine(url)
    start = NOW - timedelta(days=days)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO pharmacies (id, name, ncpdp_id, rems_registration_id, activated_until, time_zone, created_at) "
            "SELECT g, 'Pharmacy ' || g, lpad((1000000 + g)::text, 7, '0'), 'R' || g, DATE '2027-12-31', "
            "'America/New_York', :start FROM generate_series(1, :n) g"), {"n": pharmacies, "start": start})
        conn.execute(text(
            "INSERT INTO prescribers (id, npi, first_name, last_name, license_state, license_number, "
            "license_expires_on, rems_certified_until, status, created_at) VALUES (1, '1234567893', 'A', 'B', 'NY', "
            "'1', DATE '2027-12-31', DATE '2027-12-31', 'active', :start)"), {"start": start})
        conn.execute(text(
            "INSERT INTO patients (id, prescriber_id, first_name, last_name, date_of_birth, can_get_pregnant, "
            "rems_patient_id, enrolled_on, home_pregnancy_tests_allowed, status, created_at) "
            "SELECT g, 1, 'P', g::text, DATE '2000-01-01', false, 'R' || g, DATE '2026-01-01', false, 'active', "
            ":start FROM generate_series(1, :n) g"), {"n": prescriptions, "start": start})
        # Prescription g is submitted at a random instant of the range, routed to pharmacy g % n + 1.
        conn.execute(text(
            "INSERT INTO prescriptions (id, patient_id, prescriber_id, pharmacy_id, drug, ndc, strength_mg, quantity, "
            "days_supply, refills, written_on, status, submitted_at, submitted_by) "
            "SELECT g, g, 1, g % :p + 1, 'isotretinoin', '0591-2434-15', 20, 60, 30, 0, DATE '2026-01-01', "
            "'authorized', :start + (g::float / :n) * (:days * interval '1 day'), 'user:1' "
            "FROM generate_series(1, :n) g"), {"n": prescriptions, "p": pharmacies, "start": start, "days": days})
        # Five decisions a prescription, an hour apart: four blocked, the last authorized.
        conn.execute(text(
            "INSERT INTO decisions (id, prescription_id, stage, outcome, evaluated_at, evaluated_by, policy_name, "
            "policy_version, gates, cited, failing_codes) "
            "SELECT (p.id - 1) * 5 + k, p.id, 'evaluation', CASE WHEN k = 5 THEN 'authorized' ELSE 'blocked' END, "
            "p.submitted_at + (k * interval '1 hour'), 'user:1', 'ipledge', 'ipledge-2026', "
            "CASE WHEN k = 5 THEN CAST(:pass AS json) ELSE CAST('[' || :pass_one || ', {\"gate\": \"x\", "
            "\"status\": \"fail\", \"code\": \"' || (ARRAY[:c1, :c2, :c3, :c4, :c5])[1 + (p.id + k) % 5] || "
            "'\", \"message\": \"m\", \"unblock\": \"u\"}]' AS json) END, CAST('[]' AS json), "
            "CASE WHEN k = 5 THEN NULL ELSE (ARRAY[:c1, :c2, :c3, :c4, :c5])[1 + (p.id + k) % 5] END "
            "FROM prescriptions p CROSS JOIN generate_series(1, 5) k"),
            {"pass": f"[{PASS}]", "pass_one": PASS, **{f"c{i + 1}": c for i, c in enumerate(CODES)}})
        conn.execute(text(
            "INSERT INTO authorizations (id, prescription_id, decision_id, pharmacy_id, status, dispense_by, "
            "issued_at, closed_at) "
            "SELECT p.id, p.id, (p.id - 1) * 5 + 5, p.pharmacy_id, "
            "CASE p.id % 3 WHEN 0 THEN 'expired' WHEN 1 THEN 'dispensed' ELSE 'active' END, "
            "CASE WHEN p.id % 3 = 2 THEN :now + ((p.id % 10) * interval '1 day') "
            "ELSE p.submitted_at + interval '7 days' END, p.submitted_at + interval '5 hours', "
            "CASE WHEN p.id % 3 = 2 THEN NULL ELSE p.submitted_at + interval '2 days' END FROM prescriptions p"),
            {"now": NOW})
        conn.execute(text(
            "INSERT INTO dispenses (id, authorization_id, prescription_id, patient_id, pharmacy_id, decision_id, "
            "quantity, days_supply, dispensed_at, dispensed_on, dispensed_by, acknowledged_warnings) "
            "SELECT a.id, a.id, a.prescription_id, a.prescription_id, a.pharmacy_id, a.decision_id, 60, 30, "
            "a.closed_at, CAST(a.closed_at AS date), 'user:1', CAST('[]' AS json) "
            "FROM authorizations a WHERE a.status = 'dispensed'"))
        for table in ("pharmacies", "prescribers", "patients", "prescriptions", "decisions", "authorizations",
                      "dispenses"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT coalesce(max(id), 1) FROM {table}))"))
        conn.execute(text("ANALYZE"))
    engine.dispose()


def timed(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgresql", required=True, metavar="URL", help="a database of its own: it is wiped")
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--pharmacies", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from pharmsafe.models import Decision
    from pharmsafe.services import dashboard as d

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    started = time.perf_counter()
    http_bench.prepare_database(args.postgresql)
    seed(args.postgresql, args.decisions, args.days, args.pharmacies)
    engine = create_engine(args.postgresql)
    zone = ZoneInfo("America/New_York")
    until = NOW.astimezone(zone).date()
    since = until - timedelta(days=29)
    with Session(engine) as session:
        total = session.scalar(select(Decision.id).order_by(Decision.id.desc()).limit(1))
        print(f"seeded {total:,} decisions in {time.perf_counter() - started:.0f} s")
        charts = {"decisions per day": lambda p: d.decisions_per_day(session, p, since, until, zone),
                  "blocking reasons": lambda p: d.blocking_reasons(session, p, since, until, zone),
                  "submission to dispense": lambda p: d.submission_to_dispense(session, p, since, until, zone),
                  "expired undispensed": lambda p: d.expired_undispensed(session, p, since, until, zone),
                  "closing this week": lambda p: d.closing_this_week(session, p, NOW, zone),
                  "the whole dashboard": lambda p: d.dashboard(session, p, since, until, NOW, zone)}
        print(f"\nms, median of {args.repeat} (30 days, {since} to {until}; {args.pharmacies} pharmacies)")
        print(f"{'chart':28}{'one pharmacy':>14}{'every pharmacy':>16}")
        for name, fn in charts.items():
            one = timed(lambda fn=fn: fn(1), args.repeat)
            every = timed(lambda fn=fn: fn(None), args.repeat)
            print(f"{name:28}{one:14.1f}{every:16.1f}")
    engine.dispose()


if __name__ == "__main__":
    main()
