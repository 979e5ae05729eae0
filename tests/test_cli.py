"""The `pharmsafe` command: exit codes, one-sentence errors, the token as the last line."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from pharmsafe.cli import main
from pharmsafe.runtime import runtime_of
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
    with runtime_of(app).session_factory() as s:
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
    # The export is recorded once complete, so after the events it holds.
    assert [e["action"] for e in lines] == ["user.created", "audit.checkpoint"]
    again = tmp_path / "again.ndjson"
    assert run("audit", "export", "--format", "ndjson", "-o", str(again)).exit_code == 0
    assert [json.loads(x)["action"] for x in again.read_text().splitlines()][-1] == "audit.exported"
    bad = run("audit", "export", "--format", "csv", "--since", "yesterday")
    assert bad.exit_code == 2 and "--since" in bad.output


def test_audit_verify_exits_1_with_first_broken_event(run, app):
    run("users", "create", "a@example.com", "--role", "admin")
    run("users", "create", "b@example.com", "--role", "admin")
    engine = runtime_of(app).engine
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
    with runtime_of(app).session_factory() as s:
        statuses = sorted(s.scalars(select(Prescription.status)).all())
    assert statuses == ["authorized", "authorized", "blocked", "dispensed", "expired", "reversed", "submitted"]


# --- policy versions ---------------------------------------------------------------------------------

def fix_clock(monkeypatch, instant: datetime) -> None:
    monkeypatch.setattr("pharmsafe.clock.utcnow", lambda: instant)


def policy_events(app) -> list[dict]:
    from sqlalchemy import select

    from pharmsafe.models import AuditEvent
    with runtime_of(app).session_factory() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == "policy.loaded").order_by(AuditEvent.id))
        return [{"actor": e.actor, "subject": e.subject, **json.loads(e.payload)} for e in rows]


def audit_count(app) -> int:
    from sqlalchemy import func, select

    from pharmsafe.models import AuditEvent
    with runtime_of(app).session_factory() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent))


def lines_of(output: str) -> dict[str, str]:
    return {line.split()[0]: line for line in output.strip().splitlines()}


def test_policy_list_shows_each_version_and_the_one_in_force(run, monkeypatch):
    fix_clock(monkeypatch, datetime(2026, 9, 1, 16, tzinfo=UTC))
    result = run("policy", "list")
    assert result.exit_code == 0, result.output
    lines = lines_of(result.stdout)
    assert sorted(lines) == ["eu-ppp-2018", "ipledge-2021", "ipledge-2023", "ipledge-2026"]
    assert lines["ipledge-2026"].split()[:7] == ["ipledge-2026", "ipledge", "version", "2026-08-08",
                                                  "effective", "2026-08-08", "shipped"]
    assert lines["eu-ppp-2018"].split()[:7] == ["eu-ppp-2018", "eu-ppp", "version", "2018-03-23",
                                                 "effective", "2018-03-23", "shipped"]
    assert "in force on 2026-09-01" in lines["ipledge-2026"]
    assert [name for name, line in lines.items() if "in force" in line] == ["ipledge-2026"]
    assert result.stderr == ""


def test_policy_list_shows_an_override_and_where_it_came_from(run, monkeypatch):
    fix_clock(monkeypatch, datetime(2026, 9, 1, 16, tzinfo=UTC))
    monkeypatch.setenv("PHARMSAFE_POLICY_EFFECTIVE", "ipledge-2026=2026-10-01")
    lines = lines_of(run("policy", "list").stdout)
    assert lines["ipledge-2026"].split()[:7] == ["ipledge-2026", "ipledge", "version", "2026-08-08",
                                                  "effective", "2026-10-01", "PHARMSAFE_POLICY_EFFECTIVE"]
    assert "in force" not in lines["ipledge-2026"]
    assert "in force on 2026-09-01" in lines["ipledge-2023"]
    assert lines["ipledge-2023"].split()[6] == "shipped"


def test_policy_list_judges_today_in_the_program_zone(run, monkeypatch):
    # 03:30 UTC on 10-01 is still 09-30 in New York: ipledge-2023 is in force, whatever the operator zone.
    fix_clock(monkeypatch, datetime(2026, 10, 1, 3, 30, tzinfo=UTC))
    monkeypatch.setenv("PHARMSAFE_POLICY_EFFECTIVE", "ipledge-2026=2026-10-01")
    monkeypatch.setenv("PHARMSAFE_TIME_ZONE", "Europe/Paris")
    lines = lines_of(run("policy", "list").stdout)
    assert "in force on 2026-09-30" in lines["ipledge-2023"]


def test_policy_list_marks_the_pin_and_the_eu_program(run, monkeypatch):
    fix_clock(monkeypatch, datetime(2026, 9, 1, 16, tzinfo=UTC))
    monkeypatch.setenv("PHARMSAFE_POLICY", "ipledge-2021")
    lines = lines_of(run("policy", "list").stdout)
    assert "pinned by PHARMSAFE_POLICY" in lines["ipledge-2021"] and "in force" in lines["ipledge-2021"]
    assert [name for name, line in lines.items() if "in force" in line or "pinned" in line] == ["ipledge-2021"]
    monkeypatch.setenv("PHARMSAFE_POLICY", "")
    monkeypatch.setenv("PHARMSAFE_PROGRAM", "eu-ppp")
    lines = lines_of(run("policy", "list").stdout)
    assert [name for name, line in lines.items() if "in force" in line] == ["eu-ppp-2018"]


def test_policy_show_prints_every_parameter(run, monkeypatch):
    import dataclasses

    from pharmsafe.gates import LabLimits, Policy

    monkeypatch.setenv("PHARMSAFE_POLICY_EFFECTIVE", "ipledge-2026=2026-10-01")
    result = run("policy", "show", "ipledge-2026")
    assert result.exit_code == 0, result.output
    pairs = dict(line.split(": ", 1) for line in result.stdout.strip().splitlines())
    expected = [f.name for f in dataclasses.fields(Policy) if f.name != "labs"]
    expected += [f"labs.{f.name}" for f in dataclasses.fields(LabLimits)]
    assert set(expected) <= set(pairs)
    assert pairs["name"] == "ipledge-2026" and pairs["version"] == "2026-08-08"
    assert pairs["effective_from"] == "2026-10-01" and pairs["effective_from_source"] == "PHARMSAFE_POLICY_EFFECTIVE"
    assert pairs["time_zone"] == "America/New_York"
    assert pairs["ncgp_counseling_once_within_days"] == "30" and pairs["missed_window_lockout_days"] == "none"
    assert pairs["home_tests_allowed"] == "true" and pairs["later_requires_clia"] == "false"
    assert pairs["labs.required_tests"] == "ALT, AST, TRIGLYCERIDES, TOTAL_CHOLESTEROL"
    assert pairs["labs.triglycerides_fail_mg_dl"] == "800"
    eu = dict(line.split(": ", 1) for line in run("policy", "show", "eu-ppp-2018").stdout.strip().splitlines())
    assert eu["contraception_rule"] == "independent_or_hormonal_with_barrier"
    assert eu["prescription_current_days"] == "7" and eu["effective_from_source"] == "shipped"


def test_policy_show_of_an_unknown_version_is_one_sentence(run):
    result = run("policy", "show", "ipledge-2099")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "ipledge-2099" in result.stderr and "ipledge-2026" in result.stderr
    assert "Traceback" not in result.output


def test_bad_policy_effective_stops_the_policy_commands(run, monkeypatch):
    monkeypatch.setenv("PHARMSAFE_POLICY_EFFECTIVE", "ipledge-2026=soon")
    result = run("policy", "list")
    assert result.exit_code == 2 and "PHARMSAFE_POLICY_EFFECTIVE" in result.stderr and result.stdout == ""


def test_policy_commands_need_no_database_and_write_nothing(tmp_path, monkeypatch):
    for k, v in TEST_SETTINGS.items():
        monkeypatch.setenv(f"PHARMSAFE_{k}", str(v))
    monkeypatch.delenv("PHARMSAFE_CONFIG", raising=False)
    monkeypatch.setenv("PHARMSAFE_DATABASE_URL", f"sqlite:///{tmp_path / 'missing' / 'nothing.db'}")
    for args in (["policy", "list"], ["policy", "show", "ipledge-2023"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
    assert list(tmp_path.iterdir()) == []


def test_policy_commands_write_no_event(run, app):
    assert run("policy", "list").exit_code == 0
    assert run("policy", "show", "ipledge-2026").exit_code == 0
    assert audit_count(app) == 0


def test_db_upgrade_records_the_policy_set_once(run, app, monkeypatch):
    assert run("db", "upgrade").exit_code == 0
    assert run("db", "upgrade").exit_code == 0
    events = policy_events(app)
    assert len(events) == 1
    assert (events[0]["actor"], events[0]["subject"]) == ("system:cli", "policy:set")
    assert [p["name"] for p in events[0]["policies"]] == ["eu-ppp-2018", "ipledge-2021", "ipledge-2023",
                                                          "ipledge-2026"]
    monkeypatch.setenv("PHARMSAFE_POLICY_EFFECTIVE", "ipledge-2026=2026-10-01")
    assert run("db", "upgrade").exit_code == 0
    assert run("db", "upgrade").exit_code == 0
    events = policy_events(app)
    assert len(events) == 2
    assert events[1]["policies"][3] == {"name": "ipledge-2026", "version": "2026-08-08",
                                        "effective_from": "2026-10-01", "source": "PHARMSAFE_POLICY_EFFECTIVE"}
    assert run("audit", "verify").exit_code == 0


@pytest.mark.parametrize("command", ["serve", "scheduler"])
def test_serve_and_scheduler_record_the_policy_set_before_they_start(run, app, monkeypatch, command):
    seen = []

    def start(*args, **kwargs):
        seen.append(len(policy_events(app)))

    monkeypatch.setattr("pharmsafe.server.serve", start)
    monkeypatch.setattr("pharmsafe.scheduler.run_scheduler", start)
    assert run(command).exit_code == 0
    assert seen == [1]
    assert run(command).exit_code == 0
    assert seen == [1, 1]
    monkeypatch.setenv("PHARMSAFE_POLICY_EFFECTIVE", "ipledge-2023=2023-10-02")
    assert run(command).exit_code == 0
    assert seen == [1, 1, 2]


def test_serve_refuses_an_unmigrated_database_before_recording(tmp_path, monkeypatch):
    for k, v in TEST_SETTINGS.items():
        monkeypatch.setenv(f"PHARMSAFE_{k}", str(v))
    monkeypatch.setenv("PHARMSAFE_DATABASE_URL", f"sqlite:///{tmp_path / 'nothing.db'}")
    monkeypatch.setattr("pharmsafe.server.serve", lambda **kwargs: pytest.fail("served"))
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 2 and "pharmsafe db upgrade" in result.output
