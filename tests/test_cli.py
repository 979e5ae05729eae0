"""The `pharmsafe` command: exit codes, one-sentence errors, the token as the last line."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pharmsafe.cli import main
from tests.conftest import TEST_SETTINGS


@pytest.fixture
def run(db_url, monkeypatch):
    env = {f"PHARMSAFE_{k}": str(v) for k, v in TEST_SETTINGS.items()}
    env["PHARMSAFE_DATABASE_URL"] = db_url
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PHARMSAFE_CONFIG", raising=False)

    def invoke(*args, input=None):
        return CliRunner().invoke(main, list(args), input=input)

    return invoke


def test_users_create_prints_token_last(run):
    result = run("users", "create", "ops@example.test", "--role", "auditor", "--api-token")
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert len(token) >= 40 and " " not in token


def test_users_create_with_password_from_stdin(run, app):
    result = run("users", "create", "rph@example.com", "--role", "admin", "--password-stdin", input="s3cret-pass\n")
    assert result.exit_code == 0, result.output
    from pharmsafe.services.users import find_user_by_email, verify_password
    with app.extensions["pharmsafe"]["session_factory"]() as s:
        assert verify_password(find_user_by_email(s, "rph@example.com").password_hash, "s3cret-pass")


@pytest.mark.parametrize("args,needle", [
    (("users", "create", "not-an-email", "--role", "admin"), "email"),
    (("users", "create", "a@example.com", "--role", "pharmacist"), "pharmacy_id"),
    (("users", "create", "a@example.com", "--role", "pharmacist", "--pharmacy-id", "99"), "pharmacy"),
    (("users", "create", "a@example.com", "--role", "wizard"), "role"),
])
def test_users_create_bad_input_exits_nonzero_with_a_sentence(run, args, needle):
    result = run(*args)
    assert result.exit_code != 0
    assert needle in result.output.lower()
    assert "Traceback" not in result.output


def test_duplicate_user_is_refused(run):
    assert run("users", "create", "x@example.com", "--role", "admin").exit_code == 0
    result = run("users", "create", "x@example.com", "--role", "admin")
    assert result.exit_code != 0 and "already exists" in result.output


def test_missing_database_is_one_sentence(tmp_path, monkeypatch):
    for k, v in TEST_SETTINGS.items():
        monkeypatch.setenv(f"PHARMSAFE_{k}", str(v))
    monkeypatch.setenv("PHARMSAFE_DATABASE_URL", f"sqlite:///{tmp_path / 'nothing.db'}")
    result = CliRunner().invoke(main, ["audit", "verify"])
    assert result.exit_code == 2
    assert "pharmsafe db upgrade" in result.output and "Traceback" not in result.output


def test_bad_configuration_is_one_sentence(monkeypatch):
    monkeypatch.setenv("PHARMSAFE_EXPIRY_INTERVAL_SECONDS", "0")
    result = CliRunner().invoke(main, ["audit", "verify"])
    assert result.exit_code == 2 and "PHARMSAFE_EXPIRY_INTERVAL_SECONDS" in result.output


def test_audit_verify_export_and_checkpoint(run, tmp_path):
    run("users", "create", "a@example.com", "--role", "admin")
    assert run("audit", "checkpoint").exit_code == 0
    result = run("audit", "verify")
    assert result.exit_code == 0 and result.output.startswith("intact: 2 events")
    out = tmp_path / "audit.ndjson"
    assert run("audit", "export", "--format", "ndjson", "-o", str(out)).exit_code == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [e["action"] for e in lines] == ["user.created", "audit.checkpoint", "audit.exported"]
    bad = run("audit", "export", "--format", "csv", "--since", "yesterday")
    assert bad.exit_code == 2 and "--since" in bad.output


def test_audit_verify_exits_1_with_first_broken_event(run, app):
    run("users", "create", "a@example.com", "--role", "admin")
    run("users", "create", "b@example.com", "--role", "admin")
    engine = app.extensions["pharmsafe"]["engine"]
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER audit_events_no_update")
        else:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.exec_driver_sql("UPDATE audit_events SET actor = 'user:666' WHERE id = 2")
    result = run("audit", "verify")
    assert result.exit_code == 1 and "event 2" in result.output


def test_authorizations_expire_prints_count(run):
    result = run("authorizations", "expire")
    assert result.exit_code == 0 and result.output.strip() == "0 expired"


def test_demo_load_is_idempotent(run, app, tmp_path, monkeypatch):
    monkeypatch.setattr("pharmsafe.demo.credentials_path", lambda app: tmp_path / "demo-credentials.txt")
    first = run("demo", "load")
    assert first.exit_code == 0, first.output
    creds = tmp_path / "demo-credentials.txt"
    assert oct(creds.stat().st_mode & 0o777) == "0o600"
    text = creds.read_text()
    assert run("demo", "load").exit_code == 0
    assert creds.read_text() == text
    from sqlalchemy import select
    from pharmsafe.models import Prescription
    with app.extensions["pharmsafe"]["session_factory"]() as s:
        statuses = sorted(s.scalars(select(Prescription.status)).all())
    assert statuses == ["authorized", "authorized", "blocked", "dispensed", "expired", "reversed", "submitted"]
