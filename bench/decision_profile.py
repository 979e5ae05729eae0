"""One gate decision's cost without HTTP: re-evaluations through the Flask test client, in this
process, one after another, and the SQL statements one of them runs.

    .venv/bin/python bench/decision_profile.py                    # SQLite (a file in a temp dir)
    .venv/bin/python bench/decision_profile.py --postgresql postgresql+psycopg://postgres@127.0.0.1:5432/bench
    .venv/bin/python bench/decision_profile.py --profile 30       # and cProfile's 30 costliest calls

Seeds --prescriptions prescriptions as bench/http_bench.py does (each for its own patient, evidence
current, already authorized), warms up, then times --requests re-evaluations (POST
/api/v1/prescriptions/{id}/evaluations with a pharmacist's Bearer token) cycling over them, and
prints milliseconds per decision, best of --repeat. This is where to look first when the HTTP
benchmark moves: the same request, without gunicorn, wrk or a second process sharing the cores.
On PostgreSQL the time includes the server's work, on the same machine. The PostgreSQL database
given is wiped."""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from pharmsafe.runtime import runtime_of

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import http_bench  # noqa: E402  (database preparation, seeding, the server's environment)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgresql", metavar="URL", help="run on this PostgreSQL database (wiped) instead of SQLite")
    parser.add_argument("--prescriptions", type=int, default=300, help="seeded prescriptions (default 300)")
    parser.add_argument("--requests", type=int, default=2000, help="timed re-evaluations per repeat (default 2000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed repeats; the best is printed (default 3)")
    parser.add_argument("--profile", type=int, metavar="N", help="profile one more repeat with cProfile, print N rows")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        if args.postgresql:
            url = args.postgresql
        else:
            url = f"sqlite:///{stack.enter_context(tempfile.TemporaryDirectory())}/decisions.db"
        run(url, args)


def run(url: str, args) -> None:
    http_bench.prepare_database(url)
    os.environ.update(http_bench.pharmsafe_env(url))
    from sqlalchemy import event

    from pharmsafe import create_app

    app = create_app()
    token, rx_ids = http_bench.seed_authorized(app, args.prescriptions)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    paths = [http_bench.PATH.format(i) for i in rx_ids]

    def decide(count: int) -> None:
        for n in range(count):
            response = client.post(paths[n % len(paths)], headers=headers)
            if response.status_code != 201:
                raise SystemExit(f"a re-evaluation answered {response.status_code}: {response.get_data(as_text=True)}")

    decide(min(200, args.requests))  # warm-up: statement caches, connection pool
    best = float("inf")
    for _ in range(args.repeat):
        start = time.perf_counter()
        decide(args.requests)
        best = min(best, (time.perf_counter() - start) / args.requests)

    # Listened to after the timing: an engine that has had a listener stays on its slower path.
    statements: list[str] = []
    engine = runtime_of(app).engine

    def record(_conn, _cursor, statement, *_):
        statements.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    decide(1)
    event.remove(engine, "before_cursor_execute", record)
    engine_name = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(f"{engine_name}: {best * 1000:.2f} ms per re-evaluation ({1 / best:,.0f}/s in one thread), "
          f"best of {args.repeat} x {args.requests}; {len(statements)} SQL statements each:")
    for statement in statements:
        print(f"  {statement[:110]}")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        decide(args.requests)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)


if __name__ == "__main__":
    main()
