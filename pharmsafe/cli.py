"""The `pharmsafe` command. Each command is an edge: it builds the app, acts as system:cli, commits.

Bad input or a missing database ends the command with one sentence and a non-zero exit code."""
from __future__ import annotations

import functools
import os
import sys
from datetime import date
from pathlib import Path

import click
from sqlalchemy.exc import OperationalError

from pharmsafe.config import ConfigError
from pharmsafe.errors import DomainError
from pharmsafe.runtime import runtime_of

ACTOR = "system:cli"


def fail(message: str, code: int = 2):
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def make_app(**overrides):
    from pharmsafe import create_app

    try:
        app = create_app(overrides or None)
    except ConfigError as exc:
        fail(str(exc))
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(runtime_of(app).engine.dispose)
    return app


def require_migrated(app) -> None:
    from pharmsafe.migrations_state import migration_status

    try:
        with runtime_of(app).engine.connect() as conn:
            current, head = migration_status(conn)
    except OperationalError:
        fail("The database cannot be reached; check PHARMSAFE_DATABASE_URL.")
    if current != head:
        fail("The database is not migrated to the current schema; run 'pharmsafe db upgrade' first.")


def with_ctx(view):
    """Run ``view(app, ctx)`` in one transaction, committed when it returns."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        app = make_app()
        require_migrated(app)
        try:
            with runtime_of(app).unit_of_work(ACTOR) as ctx:
                return view(app, ctx, *args, **kwargs)
        except DomainError as exc:
            detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in (exc.fields or {}).items())
            fail(exc.message + (f" ({detail})" if detail else ""))

    return wrapper


def record_policy_set(app) -> None:
    """Record the policy versions and dates in force (`policy.loaded`) when they differ from the
    latest record, in a transaction of its own: at `db upgrade`, `serve` and `scheduler` start-up."""
    from pharmsafe.services.policies import record_policy_set as record

    try:
        with runtime_of(app).unit_of_work(ACTOR) as ctx:
            record(ctx)
    except OperationalError:
        fail("The database cannot be reached; check PHARMSAFE_DATABASE_URL.")


@click.group()
def main():
    """PharmSafe: dispensing-safety gates for isotretinoin."""


@main.group()
def db():
    """The database schema."""


@db.command("upgrade")
def db_upgrade():
    """Apply migrations to the configured database."""
    from pharmsafe.migrations_state import upgrade

    app = make_app()
    url = app.config["PHARMSAFE"]["DATABASE_URL"]
    try:
        upgrade(url)
    except OperationalError:
        fail("The database cannot be reached; check PHARMSAFE_DATABASE_URL.")
    record_policy_set(app)
    click.echo("Database is at the current schema.")


@main.group()
def users():
    """People and their API tokens."""


@users.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(["admin", "prescriber", "pharmacist", "technician", "manager",
                                                              "auditor"]))
@click.option("--prescriber-id", type=click.IntRange(min=1))
@click.option("--pharmacy-id", type=click.IntRange(min=1))
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--api-token", is_flag=True, help="Issue an API token; it is the last line printed.")
def users_create(email, role, prescriber_id, pharmacy_id, password_stdin, api_token):
    """Create a user."""
    from marshmallow import ValidationError

    from pharmsafe.schemas.users import UserIn
    from pharmsafe.services.users import create_user

    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        UserIn().load({"email": email, "role": role, "password": password})
    except ValidationError as exc:
        fail("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.messages.items()))

    @with_ctx
    def run(app, ctx):
        return create_user(ctx, email=email, role=role, prescriber_id=prescriber_id, pharmacy_id=pharmacy_id,
                           password=password, issue_token=api_token)

    user, token = run()
    click.echo(f"Created user {user.id} ({user.email}, {user.role}).")
    if token:
        click.echo(token)


@main.group()
def demo():
    """Demonstration data."""


@demo.command("load")
def demo_load():
    """Load idempotent demo data; logins go to instance/demo-credentials.txt."""
    from pharmsafe.demo import load_demo

    app = make_app()
    require_migrated(app)
    path = load_demo(app)
    click.echo(f"Demo data loaded. Logins and API tokens: {path}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def serve(host, port, workers):
    """Serve the web application with gunicorn."""
    from pharmsafe.server import serve as run_server

    app = make_app()
    require_migrated(app)
    record_policy_set(app)
    run_server(host=host, port=port, workers=workers, embedded_scheduler=app.config["PHARMSAFE"]["SCHEDULER"] == "embedded")


@main.command()
def scheduler():
    """Run the scheduler alone, in the foreground."""
    import signal
    import threading

    from pharmsafe.scheduler import run_scheduler

    app = make_app()
    require_migrated(app)
    record_policy_set(app)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    click.echo("Scheduler started; it runs jobs while it holds the leader lock. Ctrl-C stops it.")
    run_scheduler(app, stop)


@main.group()
def authorizations():
    """Authorizations."""


@authorizations.command("expire")
def authorizations_expire():
    """One expiry sweep now."""
    from pharmsafe.scheduler import run_expiry_sweep

    app = make_app()
    require_migrated(app)
    click.echo(f"{run_expiry_sweep(app, actor=ACTOR)} expired")


@main.group()
def audit():
    """The audit trail."""


@audit.command("checkpoint")
def audit_checkpoint():
    """Record the chain's count and head now."""
    from pharmsafe.audit.verify import record_checkpoint

    @with_ctx
    def run(app, ctx):
        return record_checkpoint(ctx.session, actor=ctx.actor, now=ctx.now)

    cp = run()
    click.echo(f"Checkpoint {cp.id}: {cp.event_count} events, head {cp.head_hash}")


def _anchor_summary(result, anchoring) -> str:
    if anchoring is None:
        return ("anchor: off (PHARMSAFE_AUDIT_SIGNING_KEY_FILE is not set): nothing outside the database "
                "vouches for the chain")
    if result.anchor is None:
        return f"anchor: none yet in {anchoring.anchor_file}; {result.after_anchor} events after it"
    a = result.anchor
    return (f"anchor: line {a.line} of {anchoring.anchor_file}, {a.count} events, head {a.head_hash}, "
            f"anchored at {a.anchored_at}, key {a.key_id}; {result.after_anchor} events after it")


@audit.command("verify")
@click.option("--since-anchor", is_flag=True,
              help="Check only the events after the latest anchor (and that the anchor still holds).")
def audit_verify(since_anchor):
    """Exit 0 if the chain is intact, 1 and the first broken event if not."""
    from pharmsafe.audit.anchor import AnchorError
    from pharmsafe.audit.verify import verify_trail

    app = make_app()
    require_migrated(app)
    anchoring = runtime_of(app).anchoring
    if since_anchor and anchoring is None:
        fail("--since-anchor needs anchoring: set PHARMSAFE_AUDIT_ANCHOR_FILE and PHARMSAFE_AUDIT_SIGNING_KEY_FILE "
             "(or PHARMSAFE_AUDIT_VERIFY_KEY_FILE).")
    try:
        result = verify_trail(runtime_of(app), since_anchor=since_anchor)
    except AnchorError as exc:
        fail(str(exc))
    if result.intact:
        walked = " (walked from the anchor on)" if since_anchor and result.anchor is not None else ""
        click.echo(f"intact: {result.events} events, head {result.head}{walked}")
        click.echo(_anchor_summary(result, anchoring))
        return
    if result.first_broken is None:
        click.echo(f"BROKEN: {result.reason}")
    else:
        click.echo(f"BROKEN at event {result.first_broken}: {result.reason} "
                   f"({result.events} events verified before it)")
    click.echo(_anchor_summary(result, anchoring))
    sys.exit(1)


@audit.command("keygen")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="The folder to write audit-signing-key.pem and audit-signing-key.pub.pem into.")
def audit_keygen(out_dir):
    """Write an Ed25519 key pair for anchors (the private key with mode 0600)."""
    from pharmsafe.audit.anchor import AnchorError, generate_keypair, key_id_of, load_public_key

    try:
        private_path, public_path = generate_keypair(out_dir)
    except AnchorError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"The key pair cannot be written to {out_dir} ({exc.strerror or exc}).")
    key_id = key_id_of(load_public_key(public_path))
    click.echo(f"Private key (mode 0600, keep it secret): {private_path.resolve()}")
    click.echo(f"Public key (mode 0644, give it to auditors): {public_path.resolve()}")
    click.echo(f"Key id: {key_id}")
    click.echo(f"Set PHARMSAFE_AUDIT_SIGNING_KEY_FILE={private_path.resolve()} and PHARMSAFE_AUDIT_ANCHOR_FILE "
               f"to a file outside the database.")


@audit.command("anchor")
def audit_anchor():
    """Sign the chain's head now and append it to the anchor file."""
    from pharmsafe.audit.anchor import AnchorError, AnchorRefused
    from pharmsafe.audit.anchor_writer import write_anchor

    app = make_app()
    require_migrated(app)
    anchoring = runtime_of(app).anchoring
    if anchoring is None or not anchoring.can_sign:
        fail("Anchoring is off: set PHARMSAFE_AUDIT_SIGNING_KEY_FILE and PHARMSAFE_AUDIT_ANCHOR_FILE "
             "('pharmsafe audit keygen' writes a key).")
    ext = runtime_of(app)
    try:
        anchor = write_anchor(anchoring, ext.session_factory, ext.clock.now(), number_lines=True)
    except AnchorRefused as exc:
        click.echo(f"Not anchored: {exc}.", err=True)
        sys.exit(1)
    except AnchorError as exc:
        fail(str(exc), 1)
    except OperationalError:
        fail("The database cannot be reached; check PHARMSAFE_DATABASE_URL.")
    if anchor is None:
        click.echo("Nothing to anchor: the audit trail is empty.")
        return
    click.echo(f"Anchor line {anchor.line} of {anchoring.anchor_file}: {anchor.count} events, head "
               f"{anchor.head_hash}, key {anchor.key_id}")


@audit.command("export")
@click.option("--format", "fmt", required=True, type=click.Choice(["csv", "ndjson", "fhir"]))
@click.option("--since", help="A date (the whole day counts) or an instant with offset.")
@click.option("--until", help="A date (the whole day counts) or an instant with offset.")
@click.option("-o", "output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE (default: stdout).")
def audit_export(fmt, since, until, output):
    """Stream the audit trail as CSV, NDJSON or FHIR R4 AuditEvent NDJSON.

    The export is recorded (audit.exported) once it has completed, then anchored. With -o it is
    written beside FILE and renamed to FILE only when complete; a failed export leaves no FILE."""
    import tempfile

    from pharmsafe.audit.export import AuditExport, ExportFailed
    from pharmsafe.audit.query import parse_filters
    from pharmsafe.errors import ValidationFailed

    app = make_app()
    require_migrated(app)
    runtime = runtime_of(app)
    try:
        filters = parse_filters({"since": since, "until": until}, runtime.program.time_zone)
    except ValidationFailed as exc:
        fail("; ".join(f"--{k}: {' '.join(v)}" for k, v in exc.fields.items()))
    payload = {"format": fmt, "since": since, "until": until, "output": bool(output), "source": "system"}

    partial = None
    if output:
        target = Path(output)
        try:
            fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent or ".")
        except OSError as exc:
            fail(f"Cannot write {output} ({exc.strerror or exc}).")
        out = os.fdopen(fd, "w", encoding="utf-8", newline="")
    else:
        out = sys.stdout
    try:
        try:
            export = AuditExport(runtime, filters, fmt, actor=ACTOR, payload=payload)
        except OperationalError:
            fail("The database cannot be reached; check PHARMSAFE_DATABASE_URL.")
        try:
            for chunk in export.rows():
                out.write(chunk)
            out.flush()
        except ExportFailed as exc:
            where = f"nothing was written to {output}" if output else "the output above is incomplete"
            fail(f"The export failed: {exc}; {where}, and it was not recorded.", 1)
        if output:
            out.close()
            os.replace(partial, output)
            partial = None
    finally:
        if output and partial is not None:
            out.close()
            Path(partial).unlink(missing_ok=True)
    # Complete and in place: now recorded, then anchored. An export that cannot be recorded is not
    # handed over (as the API breaks its stream).
    try:
        export.record()
    except Exception as exc:
        if output:
            Path(output).unlink(missing_ok=True)
        where = f"{output} was removed" if output else "discard the output above"
        fail(f"The export could not be recorded ({type(exc).__name__}); {where}.", 1)
    export.anchor()


@main.group()
def policy():
    """The policy versions (read-only: nothing is written)."""


def program_config():
    """The configured program and its versions in force, from the settings alone: the policy
    commands read no database and write nothing."""
    from pharmsafe.config import load_settings
    from pharmsafe.services.context import ProgramConfig

    try:
        return ProgramConfig.from_settings(load_settings())
    except ConfigError as exc:
        fail(str(exc))


def show_value(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return ", ".join(show_value(v) for v in value)
    return str(value)


@policy.command("list")
def policy_list():
    """Each version: name, program, version, effective date in force and where it came from."""
    from pharmsafe.clock import SystemClock
    from pharmsafe.gates.policies import NoPolicyInForce

    config = program_config()
    today = config.today_for(SystemClock().now())
    try:
        in_force = config.policy_on(today).name
    except NoPolicyInForce:
        in_force = None
        click.echo(f"No {config.program} version is in force on {today.isoformat()}.", err=True)
    rows = sorted(config.policies.values(), key=lambda p: (p.program, p.effective_from, p.name))
    width = max(len(p.name) for p in rows)
    pwidth = max(len(p.program) for p in rows)
    for p in rows:
        marks = []
        if p.name == in_force:
            marks.append(f"in force on {today.isoformat()}")
        if p.name == config.pinned_policy:
            marks.append("pinned by PHARMSAFE_POLICY")
        line = (f"{p.name:<{width}}  {p.program:<{pwidth}}  version {p.version}  "
                f"effective {p.effective_from.isoformat()}  {config.effective_sources[p.name]}")
        click.echo(line + (f"  [{', '.join(marks)}]" if marks else ""))


@policy.command("show")
@click.argument("name")
def policy_show(name):
    """Every parameter of version NAME, one per line, with the effective date in force."""
    from pharmsafe.gates.policies import POLICIES, policy_parameters

    config = program_config()
    if name not in config.policies:
        fail(f"There is no policy version {name!r}; known: {', '.join(sorted(config.policies))}.")
    chosen = config.policies[name]
    for key, value in policy_parameters(chosen):
        click.echo(f"{key}: {show_value(value)}")
        if key == "effective_from":
            click.echo(f"effective_from_source: {config.effective_sources[name]}")
            shipped = POLICIES.get(name)
            if shipped is not None:
                click.echo(f"shipped_effective_from: {shipped.effective_from.isoformat()}")


if __name__ == "__main__":
    main()
