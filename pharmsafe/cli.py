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
        ctx.call_on_close(app.extensions["pharmsafe"]["engine"].dispose)
    return app


def require_migrated(app) -> None:
    from pharmsafe.migrations_state import migration_status

    try:
        with app.extensions["pharmsafe"]["engine"].connect() as conn:
            current, head = migration_status(conn)
    except OperationalError:
        fail("The database cannot be reached; check PHARMSAFE_DATABASE_URL.")
    if current != head:
        fail("The database is not migrated to the current schema; run 'pharmsafe db upgrade' first.")


def with_ctx(view):
    """Run ``view(app, ctx)`` in one transaction, committed when it returns."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        from pharmsafe.services.context import Ctx
        from pharmsafe.services.errors import DomainError

        app = make_app()
        require_migrated(app)
        ext = app.extensions["pharmsafe"]
        with ext["session_factory"]() as session:
            ctx = Ctx(session=session, actor=ACTOR, now=ext["clock"].now(), config=ext["program"])
            try:
                result = view(app, ctx, *args, **kwargs)
                session.commit()
            except DomainError as exc:
                session.rollback()
                detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in (exc.fields or {}).items())
                fail(exc.message + (f" ({detail})" if detail else ""))
        return result

    return wrapper


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
    click.echo("Database is at the current schema.")


@main.group()
def users():
    """People and their API tokens."""


@users.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(["admin", "prescriber", "pharmacist", "auditor"]))
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
    run_server(host=host, port=port, workers=workers, embedded_scheduler=app.config["PHARMSAFE"]["SCHEDULER"] == "embedded")


@main.command()
def scheduler():
    """Run the scheduler alone, in the foreground."""
    import signal
    import threading

    from pharmsafe.scheduler import run_scheduler

    app = make_app()
    require_migrated(app)
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


@audit.command("verify")
def audit_verify():
    """Exit 0 if the chain is intact, 1 and the first broken event if not."""
    from pharmsafe.audit.verify import verify_chain
    from pharmsafe.db import read_only_session

    app = make_app()
    require_migrated(app)
    with read_only_session(app.extensions["pharmsafe"]["session_factory"]) as session:
        result = verify_chain(session)
    if result.intact:
        click.echo(f"intact: {result.events} events, head {result.head}")
        return
    click.echo(f"BROKEN at event {result.first_broken}: {result.reason} ({result.events} events verified before it)")
    sys.exit(1)


@audit.command("export")
@click.option("--format", "fmt", required=True, type=click.Choice(["csv", "ndjson", "fhir"]))
@click.option("--since", help="A date (the whole day counts) or an instant with offset.")
@click.option("--until", help="A date (the whole day counts) or an instant with offset.")
@click.option("-o", "output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE (default: stdout).")
def audit_export(fmt, since, until, output):
    """Stream the audit trail as CSV, NDJSON or FHIR R4 AuditEvent NDJSON."""
    from marshmallow import ValidationError

    from pharmsafe.audit import append_event
    from pharmsafe.audit.export import export_rows
    from pharmsafe.audit.query import parse_filters

    app = make_app()
    require_migrated(app)
    ext = app.extensions["pharmsafe"]
    try:
        filters = parse_filters({"since": since, "until": until}, ext["program"].time_zone)
    except ValidationError as exc:
        fail("; ".join(f"--{k}: {' '.join(v)}" for k, v in exc.messages.items()))
    with ext["session_factory"]() as session:
        append_event(session, action="audit.exported", actor=ACTOR, subject="audit:export", now=ext["clock"].now(),
                     payload={"format": fmt, "since": since, "until": until, "output": bool(output)})
        session.commit()
    out = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        for chunk in export_rows(ext["session_factory"], filters, fmt):
            out.write(chunk)
    finally:
        if output:
            out.close()


if __name__ == "__main__":
    main()
