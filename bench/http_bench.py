"""Gate decisions per second through the real HTTP stack, beside a bare Flask endpoint and a bare
WSGI callable served the same way.

    .venv/bin/python bench/http_bench.py                      # SQLite (a file in a temp dir)
    .venv/bin/python bench/http_bench.py --duration 5         # shorter phases
    .venv/bin/python bench/http_bench.py --postgresql postgresql+psycopg://postgres@127.0.0.1:5432/bench

Three gunicorn servers run side by side, in subprocesses, with identical settings (sync workers,
--workers of them, bound to a free port on 127.0.0.1), and are measured one at a time:

  pharmsafe   create_app() in production mode, scheduler off; the request measured is
              POST /api/v1/prescriptions/{id}/evaluations with a pharmacist's Bearer token, cycling
              over N seeded prescriptions (each its own patient, evidence current, already authorized,
              so every request re-evaluates: token lookup, gates, decision, authorization superseded
              and created anew, three audit events, commit);
  bare-flask  a Flask app with the same POST route answering a small JSON body;
  bare-wsgi   a plain WSGI callable answering the same body.

After a warm-up, each server gets a closed-loop phase with wrk (saturation throughput), then an
open-loop phase at half of its own saturation rate: a Python client (one epoll loop in each of
--client-procs processes) sends requests on a fixed schedule and measures each latency from its
scheduled start, so a stall counts against every request it delays. The servers are measured in
turn, --rounds times over, so that other load on the machine falls on the three alike; each figure
is the median of its rounds. The table gives req/s at saturation and its ratio to bare Flask, p50
and p99 at half saturation and the p99 ratio to bare Flask, all from one run. Needs wrk (Debian:
apt-get install wrk). The PostgreSQL database given is wiped."""
from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import re
import secrets
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from pharmsafe.runtime import runtime_of

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVERS = ("pharmsafe", "bare-flask", "bare-wsgi")
PATH = "/api/v1/prescriptions/{}/evaluations"
BARE_BODY = b'{"id": 1, "outcome": "authorized"}'


# --- the servers -------------------------------------------------------------------------------

def bare_flask_app():
    from flask import Flask, jsonify

    app = Flask("bare")

    @app.post("/api/v1/prescriptions/<int:prescription_id>/evaluations")
    def evaluate(prescription_id: int):
        return jsonify({"id": prescription_id, "outcome": "authorized"}), 201

    return app


def bare_wsgi_app(environ, start_response):
    start_response("201 Created", [("Content-Type", "application/json"),
                                   ("Content-Length", str(len(BARE_BODY)))])
    return [BARE_BODY]


def pharmsafe_app():
    from pharmsafe import create_app

    return create_app()  # configured by the PHARMSAFE_* variables the parent set


def serve(kind: str, port: int, workers: int, access_log: bool) -> None:
    """Run one gunicorn server in this process, in the way pharmsafe/server.py does."""
    from gunicorn.app.base import BaseApplication

    loaders = {"pharmsafe": pharmsafe_app, "bare-flask": bare_flask_app, "bare-wsgi": lambda: bare_wsgi_app}

    class Server(BaseApplication):
        def load_config(self):
            for key, value in gunicorn_options(port, workers, access_log).items():
                self.cfg.set(key, value)

        def load(self):
            return loaders[kind]()

    Server().run()


def gunicorn_options(port: int, workers: int, access_log: bool) -> dict:
    # The settings of `pharmsafe serve`, identical for the three servers.
    return {"bind": f"127.0.0.1:{port}", "workers": workers, "worker_class": "sync", "timeout": 60,
            "accesslog": "-" if access_log else None, "errorlog": "-", "loglevel": "warning"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningServer:
    """A server subprocess; waits until it answers, stops it (and only it) on exit."""

    def __init__(self, kind: str, *, workers: int, env: dict, access_log: bool, probe_path: str,
                 probe_headers: dict | None = None):
        self.kind, self.port = kind, free_port()
        cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", kind, "--port", str(self.port),
               "--workers", str(workers)] + (["--access-log"] if access_log else [])
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr,
                                     start_new_session=True)
        self._wait_ready(probe_path, probe_headers or {})

    def _wait_ready(self, path: str, headers: dict) -> None:
        import http.client

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the {self.kind} server exited with {self.proc.returncode} before answering")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("POST", path, headers=headers)
                status = conn.getresponse().status
                conn.close()
                if status != 201:
                    raise SystemExit(f"the {self.kind} server answered {status} to POST {path}")
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"the {self.kind} server did not answer within 60 s")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)  # gunicorn's master stops its workers
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


# --- seeding -----------------------------------------------------------------------------------

def prepare_database(url: str) -> None:
    """Migrate the database from empty; a PostgreSQL database is wiped first (its public schema)."""
    from sqlalchemy import create_engine, text

    from pharmsafe.migrations_state import upgrade

    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    upgrade(url)


def seed_authorized(app, count: int, *, ncpdp_id: str = "7654321", npi: str = "1234567893",
                    email: str = "rph@example.com") -> tuple[str, list[int]]:
    """A pharmacist's token and `count` prescriptions, each for its own patient with current
    evidence and an active authorization; built through the services, committed every 200."""
    from pharmsafe.services import evidence, registry
    from pharmsafe.services.evaluation import evaluate_prescription
    from pharmsafe.services.prescriptions import submit_prescription
    from pharmsafe.services.users import create_user

    ext = runtime_of(app)
    rx_ids: list[int] = []
    with ext.session_factory() as session:
        ctx = ext.ctx(session, "system:cli")
        today, far = ctx.today, ctx.today + timedelta(days=365)
        pharmacy = registry.create_pharmacy(ctx, {"name": "Bench Pharmacy", "ncpdp_id": ncpdp_id,
                                                  "rems_registration_id": "R", "activated_until": far,
                                                  "time_zone": "America/New_York"})
        prescriber = registry.create_prescriber(ctx, {
            "npi": npi, "first_name": "A", "last_name": "B", "license_state": "NY", "license_number": "1",
            "license_expires_on": far, "rems_certified_until": far, "status": "active"})
        _, token = create_user(ctx, email=email, role="pharmacist", pharmacy_id=pharmacy.id, issue_token=True)
        pharmacy_id, prescriber_id = pharmacy.id, prescriber.id
        session.commit()
    for start in range(0, count, 200):
        with ext.session_factory() as session:
            ctx = ext.ctx(session, "system:cli")
            for n in range(start, min(start + 200, count)):
                patient = registry.create_patient(ctx, {
                    "prescriber_id": prescriber_id, "first_name": "P", "last_name": str(n),
                    "date_of_birth": date(2000, 1, 1), "can_get_pregnant": False, "rems_patient_id": f"R{n}",
                    "enrolled_on": today - timedelta(days=40)})
                evidence.record_attestation(ctx, patient.id, {"kind": "counseling", "attested_on": today})
                for test, unit in (("ALT", "U/L"), ("AST", "U/L"), ("TRIGLYCERIDES", "mg/dL"),
                                   ("TOTAL_CHOLESTEROL", "mg/dL")):
                    evidence.record_lab_result(ctx, patient.id, {"test": test, "value": Decimal("20"), "unit": unit,
                                                                 "collected_on": today})
                rx = submit_prescription(ctx, prescriber_id, {
                    "patient_id": patient.id, "pharmacy_id": pharmacy_id, "drug": "isotretinoin",
                    "ndc": "0591-2434-15", "strength_mg": Decimal("20"), "quantity": Decimal("30"),
                    "days_supply": 30, "refills": 0, "written_on": today, "first_of_course": None})
                _, auth = evaluate_prescription(ctx, rx.id)
                if auth is None:
                    raise SystemExit("a seeded prescription was not authorized; the seed no longer fits the rules")
                rx_ids.append(rx.id)
            session.commit()
    return token, rx_ids


def pharmsafe_env(url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHARMSAFE_")}
    env.update(PHARMSAFE_ENV="production", PHARMSAFE_SECRET_KEY=secrets.token_hex(32),
               PHARMSAFE_SCHEDULER="off", PHARMSAFE_DATABASE_URL=url)
    return env


# --- load: closed loop (wrk) -------------------------------------------------------------------

WRK_SCRIPT = """
local ids = {%(ids)s}
local token = "%(token)s"
local n = 0
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
function request()
  n = n + 1
  local id = ids[((tid or 0) * 7919 + n) %% #ids + 1]
  return wrk.format("POST", "/api/v1/prescriptions/" .. id .. "/evaluations",
                    {["Authorization"] = "Bearer " .. token}, "")
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def run_wrk(port: int, script: Path, *, seconds: float, connections: int, threads: int) -> dict:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
                          "--timeout", "30s", "-s", str(script), f"http://127.0.0.1:{port}"],
                         check=True, capture_output=True, text=True).stdout
    match = re.search(r"^RESULT (.*)$", out, re.M)
    if not match:
        raise SystemExit(f"wrk printed no result:\n{out}")
    requests, duration_us, connect, read, write, status, timeout, p50_us, p99_us = map(int, match.group(1).split())
    return {"requests": requests, "rps": requests / (duration_us / 1e6), "non_2xx": status,
            "socket_errors": connect + read + write + timeout, "p50_ms": p50_us / 1000, "p99_ms": p99_us / 1000}


# --- load: open loop (fixed schedule, Python) --------------------------------------------------

_STOP = None  # an Event that ends an open-loop phase early (inherited by the client processes)


def _set_stop(stop) -> None:
    global _STOP
    _STOP = stop


def _open_loop_part(args: tuple) -> list[tuple[float, float, int]]:
    """One client process: a new connection per request (gunicorn's sync workers close it after the
    response), driven by one epoll loop so that the client itself stays cheap."""
    port, payloads, rate, count, start = args
    sel = selectors.DefaultSelector()
    results: list[tuple[float, float, int]] = []  # scheduled start, latency, status
    sent, inflight = 0, 0

    def finish(sock, state, status):
        nonlocal inflight
        sel.unregister(sock)
        sock.close()
        inflight -= 1
        results.append((state[0], time.monotonic() - state[0], status))

    checked = 0.0
    while sent < count or inflight:
        now = time.monotonic()
        if _STOP is not None and now - checked > 0.05:
            checked = now
            if _STOP.is_set():
                count = sent  # send nothing more; wait for the requests in flight
        while sent < count and start + sent / rate <= now:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            # state: scheduled start, request bytes, first bytes of the response
            sel.register(sock, selectors.EVENT_WRITE, [start + sent / rate, payloads[sent % len(payloads)], b""])
            sent += 1
            inflight += 1
        wait = (start + sent / rate - time.monotonic()) if sent < count else 1.0
        for key, mask in sel.select(max(0.0, wait)):
            sock, state = key.fileobj, key.data
            try:
                if mask & selectors.EVENT_WRITE:
                    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        finish(sock, state, -1)
                        continue
                    sock.send(state[1])  # a few hundred bytes: one send
                    sel.modify(sock, selectors.EVENT_READ, state)
                    continue
                chunk = sock.recv(65536)
            except OSError:
                finish(sock, state, -1)
                continue
            if chunk:
                if len(state[2]) < 12:
                    state[2] += chunk
            else:  # the server closed: the response is complete
                head = state[2]
                finish(sock, state, int(head[9:12]) if head.startswith(b"HTTP/1.") and head[9:12].isdigit() else -1)
        for key in list(sel.get_map().values()):  # a request stuck for 30 s counts as failed
            if time.monotonic() - key.data[0] > 30:
                finish(key.fileobj, key.data, -1)
    return results


def open_loop(port: int, paths: list[str], headers: dict, *, rate: float, seconds: float,
              procs: int, keep: bool = False, stop=None) -> dict:
    """Requests at a constant total `rate`, spread over `procs` processes; each latency is measured
    from the request's scheduled start (so queueing behind a stall is counted). With `keep`, the
    result also lists every request as (scheduled start on the monotonic clock, latency, status).
    `stop`, an Event of the "fork" multiprocessing context, ends the phase before `seconds`."""
    header_text = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    payloads = [f"POST {p} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n"
                f"Connection: close\r\n{header_text}\r\n".encode() for p in paths]
    per_proc = rate / procs
    count = max(1, int(per_proc * seconds))
    start = time.monotonic() + 0.5  # CLOCK_MONOTONIC is shared by the processes
    # Process k sends at start + k/rate + i*procs/rate: together, one request every 1/rate seconds.
    parts = [(port, payloads[k::procs] or payloads, per_proc, count, start + k / rate) for k in range(procs)]
    with multiprocessing.get_context("fork").Pool(procs, initializer=_set_stop, initargs=(stop,)) as pool:
        results = [r for part in pool.map(_open_loop_part, parts) for r in part]
    elapsed = time.monotonic() - start
    latencies = sorted(lat for _, lat, _ in results)
    ok = sum(1 for _, _, status in results if 200 <= status < 300)
    summary = {"rate": rate, "sent": len(results), "achieved_rps": len(results) / elapsed,
               "errors": len(results) - ok, "p50_ms": percentile(latencies, 50) * 1000,
               "p99_ms": percentile(latencies, 99) * 1000, "max_ms": latencies[-1] * 1000}
    if keep:
        summary["requests"] = results
    return summary


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = max(1, round(q / 100 * len(sorted_values)))  # nearest rank
    return sorted_values[min(rank, len(sorted_values)) - 1]


# --- the benchmark -----------------------------------------------------------------------------

def bench_engine(engine_name: str, url: str, args, workdir: Path) -> dict:
    """Seed, start the three servers, then measure them in turn, --rounds times over (so that other
    load on the machine falls on all three alike); each figure is the median of its rounds."""
    from pharmsafe import create_app

    started = time.perf_counter()
    prepare_database(url)
    app = create_app({"ENV": "testing", "SECRET_KEY": "x" * 32, "SCHEDULER": "off", "DATABASE_URL": url})
    token, rx_ids = seed_authorized(app, args.prescriptions)
    runtime_of(app).engine.dispose()
    print(f"{engine_name}: seeded {len(rx_ids):,} authorized prescriptions in {time.perf_counter() - started:.1f} s",
          flush=True)
    script = workdir / f"wrk-{engine_name}.lua"
    script.write_text(WRK_SCRIPT % {"ids": ",".join(map(str, rx_ids)), "token": token})
    headers = {"Authorization": f"Bearer {token}"}
    paths = [PATH.format(i) for i in rx_ids]
    wrk = {"connections": args.connections, "threads": args.wrk_threads}
    rounds: dict[str, dict[str, list]] = {kind: {"saturation": [], "half": []} for kind in SERVERS}
    with contextlib.ExitStack() as stack:
        servers = {kind: stack.enter_context(RunningServer(
            kind, workers=args.workers, env=pharmsafe_env(url) if kind == "pharmsafe" else dict(os.environ),
            access_log=args.access_log, probe_path=paths[0], probe_headers=headers)) for kind in SERVERS}
        for server in servers.values():
            run_wrk(server.port, script, seconds=args.warmup, **wrk)
        for n in range(args.rounds):
            for kind, server in servers.items():
                sat = run_wrk(server.port, script, seconds=args.duration, **wrk)
                rounds[kind]["saturation"].append(sat)
                print(f"  round {n + 1} {kind:<10} saturated: {sat['rps']:>8,.0f} req/s "
                      f"(non-2xx {sat['non_2xx']}, socket errors {sat['socket_errors']})", flush=True)
        for n in range(args.rounds):
            for kind, server in servers.items():
                rate = statistics.median(r["rps"] for r in rounds[kind]["saturation"]) / 2
                half = open_loop(server.port, paths, headers, rate=rate, seconds=args.duration,
                                 procs=args.client_procs)
                rounds[kind]["half"].append(half)
                print(f"  round {n + 1} {kind:<10} at {rate:>7,.0f} req/s: p50 {half['p50_ms']:7.2f} ms, "
                      f"p99 {half['p99_ms']:7.2f} ms, max {half['max_ms']:7.1f} ms "
                      f"(achieved {half['achieved_rps']:,.0f} req/s, errors {half['errors']})", flush=True)
    return rounds


def summarize(rounds: dict) -> dict:
    out = {}
    for kind, r in rounds.items():
        rps = [x["rps"] for x in r["saturation"]]
        out[kind] = {"rps": statistics.median(rps), "rps_min": min(rps), "rps_max": max(rps),
                     "errors": sum(x["non_2xx"] + x["socket_errors"] for x in r["saturation"])
                     + sum(x["errors"] for x in r["half"]),
                     "rate": r["half"][0]["rate"],
                     "p50_ms": statistics.median(x["p50_ms"] for x in r["half"]),
                     "p99_ms": statistics.median(x["p99_ms"] for x in r["half"]),
                     "p99_ms_max": max(x["p99_ms"] for x in r["half"])}
    return out


def print_table(engine_name: str, summary: dict, args) -> None:
    base = summary["bare-flask"]
    print(f"\n{engine_name}: {args.workers} sync workers each, wrk -t{args.wrk_threads} -c{args.connections}, "
          f"{args.duration:g} s a phase, median of {args.rounds} rounds")
    print(f"{'server':<11} {'req/s sat.':>10} {'(min-max)':>15} {'x flask':>8} {'errors':>7} "
          f"{'at req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'p99 x flask':>12} {'worst p99':>10}")
    for kind, s in summary.items():
        spread = f"({s['rps_min']:,.0f}-{s['rps_max']:,.0f})"
        print(f"{kind:<11} {s['rps']:>10,.0f} {spread:>15} {s['rps'] / base['rps']:>8.3f} {s['errors']:>7} "
              f"{s['rate']:>9,.0f} {s['p50_ms']:>8.2f} {s['p99_ms']:>8.2f} {s['p99_ms'] / base['p99_ms']:>12.2f} "
              f"{s['p99_ms_max']:>10.2f}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgresql", metavar="URL", help="also run on this PostgreSQL database (wiped)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    parser.add_argument("--prescriptions", type=int, default=2000, help="seeded prescriptions (default 2000)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers per server (default 2)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per measured phase (default 10)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of warm-up per server (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the three servers (default 3)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--client-procs", type=int, default=2, help="open-loop client processes (default 2)")
    parser.add_argument("--access-log", action="store_true", help="gunicorn access log to stdout (discarded), all servers")
    parser.add_argument("--json", metavar="FILE", help="also write the raw results here")
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.workers, args.access_log)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for the saturation phase: install it (Debian: apt-get install wrk).")
    workdir = Path(tempfile.mkdtemp(prefix="pharmsafe-http-bench-"))
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    engines = ([] if args.no_sqlite else [("sqlite", f"sqlite:///{workdir / 'http.db'}")])
    engines += [("postgresql", args.postgresql)] if args.postgresql else []
    all_rounds = {}
    for engine_name, url in engines:
        all_rounds[engine_name] = bench_engine(engine_name, url, args, workdir)
    for engine_name, rounds in all_rounds.items():
        print_table(engine_name, summarize(rounds), args)
    if args.json:
        Path(args.json).write_text(json.dumps(all_rounds, indent=2))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
