"""Anchors: the chain's head signed with an Ed25519 key and kept outside the database, so that whoever
holds the database's own credentials can neither re-hash the chain nor cut it up to an anchor unseen;
and exports that are recorded (and anchored) only once they completed."""
from __future__ import annotations

import base64
import json
import os
import stat
import threading
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select, text

from pharmsafe import create_app
from pharmsafe.audit import append_event
from pharmsafe.audit.anchor import (
    AnchorFileError,
    AnchorRefused,
    generate_keypair,
    key_id_of,
    load_private_key,
    read_anchors,
)
from pharmsafe.audit.anchor_writer import write_anchor
from pharmsafe.audit.chain import compute_hash, instant_text
from pharmsafe.audit.verify import record_checkpoint, verify_chain
from pharmsafe.cli import main
from pharmsafe.config import ConfigError, load_settings
from pharmsafe.models import AuditEvent
from pharmsafe.runtime import runtime_of
from tests.conftest import TEST_SETTINGS
from tests.support import World

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return generate_keypair(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def anchor_file(tmp_path):
    return tmp_path / "anchors" / "audit-anchors.jsonl"


@pytest.fixture
def app(settings, clock, keys, anchor_file):
    """The app with anchoring on (the conftest app has it off)."""
    anchor_file.parent.mkdir()
    app = create_app(dict(settings, AUDIT_SIGNING_KEY_FILE=str(keys[0]), AUDIT_ANCHOR_FILE=str(anchor_file)),
                     clock=clock)
    yield app
    runtime_of(app).engine.dispose()


@pytest.fixture
def plain_app(settings, clock):
    app = create_app(settings, clock=clock)
    yield app
    runtime_of(app).engine.dispose()


@pytest.fixture
def anchoring(app):
    return runtime_of(app).anchoring


@pytest.fixture
def factory(app):
    return runtime_of(app).session_factory


def add_events(factory, n: int, start: int = 0) -> None:
    with factory() as s:
        for i in range(start, start + n):
            append_event(s, action="evidence.recorded", actor="user:1", subject=f"pregnancy_test:{i + 1}",
                         now=T0 + timedelta(seconds=i), payload={"n": i})
        s.commit()


def anchor(anchoring, factory, **kw):
    return write_anchor(anchoring, factory, T0 + timedelta(hours=1), **kw)


def verify(factory, anchoring, **kw):
    with factory() as s:
        return verify_chain(s, anchoring, **kw)


def beneath_the_guards(conn) -> None:
    """Write as someone holding the database's own credentials would: past the triggers."""
    if conn.dialect.name == "sqlite":
        for name in ("audit_events_no_update", "audit_events_no_delete", "audit_events_no_replace",
                     "audit_checkpoints_no_update", "audit_checkpoints_no_delete", "audit_checkpoints_no_replace"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
    else:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")


def tamper(app, *statements: str, params=None) -> None:
    with runtime_of(app).engine.begin() as conn:
        beneath_the_guards(conn)
        for statement in statements:
            conn.execute(text(statement), params or {})


def rewrite_and_rehash(app, event_id: int, payload: str) -> None:
    """Change one event's payload and re-hash it and every event after it, so that the chain is
    consistent again: what plain SHA-256 cannot detect."""
    engine = runtime_of(app).engine
    with engine.begin() as conn:
        beneath_the_guards(conn)
        rows = conn.execute(text("SELECT id, occurred_at, action, actor, subject, policy, payload, prev_hash, hash "
                                 "FROM audit_events WHERE id >= :id ORDER BY id"), {"id": event_id}).all()
        prev = rows[0].prev_hash
        for row in rows:
            new_payload = payload if row.id == event_id else row.payload
            new_hash = compute_hash(id=row.id, occurred_at=instant_text(row.occurred_at), action=row.action,
                                    actor=row.actor, subject=row.subject, policy=row.policy, payload=new_payload,
                                    prev_hash=prev)
            conn.execute(text("UPDATE audit_events SET payload = :p, prev_hash = :prev, hash = :h WHERE id = :id"),
                         {"p": new_payload, "prev": prev, "h": new_hash, "id": row.id})
            prev = new_hash


# --- keys and settings ---------------------------------------------------------------------------

def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path):
    out = tmp_path / "keys"
    result = CliRunner().invoke(main, ["audit", "keygen", "--out", str(out)])
    assert result.exit_code == 0, result.output
    private, public = out / "audit-signing-key.pem", out / "audit-signing-key.pub.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    key = load_private_key(private)
    loaded_public = serialization.load_pem_public_key(public.read_bytes())
    assert key_id_of(key.public_key()) == key_id_of(loaded_public)
    assert key_id_of(loaded_public) in result.output
    before = private.read_bytes()
    again = CliRunner().invoke(main, ["audit", "keygen", "--out", str(out)])
    assert again.exit_code == 2 and "already exists" in again.output and "Traceback" not in again.output
    assert private.read_bytes() == before


def test_keygen_ignores_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        private, public = generate_keypair(tmp_path / "k")
    finally:
        os.umask(old)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and stat.S_IMODE(public.stat().st_mode) == 0o644


@pytest.mark.parametrize("case,needle", [
    ("key without file", "PHARMSAFE_AUDIT_ANCHOR_FILE"),
    ("file without key", "PHARMSAFE_AUDIT_SIGNING_KEY_FILE"),
    ("missing key", "PHARMSAFE_AUDIT_SIGNING_KEY_FILE"),
    ("not a key", "PHARMSAFE_AUDIT_SIGNING_KEY_FILE"),
    ("public key as private", "PHARMSAFE_AUDIT_SIGNING_KEY_FILE"),
    ("other verify key", "PHARMSAFE_AUDIT_VERIFY_KEY_FILE"),
    ("no folder", "PHARMSAFE_AUDIT_ANCHOR_FILE"),
    ("interval", "PHARMSAFE_AUDIT_ANCHOR_INTERVAL_SECONDS"),
])
def test_bad_anchor_settings_stop_start_up(tmp_path, keys, case, needle):
    other = generate_keypair(tmp_path / "other")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key\n")
    file = str(tmp_path / "anchors.jsonl")
    env = {
        "key without file": {"AUDIT_SIGNING_KEY_FILE": str(keys[0])},
        "file without key": {"AUDIT_ANCHOR_FILE": file},
        "missing key": {"AUDIT_SIGNING_KEY_FILE": str(tmp_path / "nope.pem"), "AUDIT_ANCHOR_FILE": file},
        "not a key": {"AUDIT_SIGNING_KEY_FILE": str(junk), "AUDIT_ANCHOR_FILE": file},
        "public key as private": {"AUDIT_SIGNING_KEY_FILE": str(keys[1]), "AUDIT_ANCHOR_FILE": file},
        "other verify key": {"AUDIT_SIGNING_KEY_FILE": str(keys[0]), "AUDIT_VERIFY_KEY_FILE": str(other[1]),
                             "AUDIT_ANCHOR_FILE": file},
        "no folder": {"AUDIT_SIGNING_KEY_FILE": str(keys[0]), "AUDIT_ANCHOR_FILE": str(tmp_path / "no" / "a.jsonl")},
        "interval": {"AUDIT_SIGNING_KEY_FILE": str(keys[0]), "AUDIT_ANCHOR_FILE": file,
                     "AUDIT_ANCHOR_INTERVAL_SECONDS": "0"},
    }[case]
    environ = {"PHARMSAFE_ENV": "testing", **{f"PHARMSAFE_{k}": v for k, v in env.items()}}
    with pytest.raises(ConfigError, match=needle):
        load_settings(environ=environ)


def test_anchor_settings_default_off_and_interval_60():
    settings = load_settings(environ={"PHARMSAFE_ENV": "testing"})
    assert settings["AUDIT_SIGNING_KEY_FILE"] == "" and settings["AUDIT_ANCHOR_FILE"] == ""
    assert settings["AUDIT_ANCHOR_INTERVAL_SECONDS"] == 60


# --- the anchor line -----------------------------------------------------------------------------

def test_an_anchor_line_is_signed_json_checkable_with_the_public_key_alone(app, anchoring, factory, keys,
                                                                          anchor_file):
    add_events(factory, 3)
    written = anchor(anchoring, factory, number_lines=True)
    lines = anchor_file.read_text().splitlines()
    assert len(lines) == 1 and written.line == 1
    data = json.loads(lines[0])
    assert set(data) == {"v", "count", "head_event_id", "head_hash", "anchored_at", "key_id", "signature"}
    with factory() as s:
        head = s.get(AuditEvent, 3).hash
    assert data["count"] == 3 and data["head_event_id"] == 3 and data["head_hash"] == head
    assert data["anchored_at"] == "2026-11-26T13:00:00Z"
    # Checked here with nothing but the public key file and the documented serialization.
    public = serialization.load_pem_public_key(keys[1].read_bytes())
    body = {k: v for k, v in data.items() if k != "signature"}
    message = b"pharmsafe audit anchor v1\n" + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    public.verify(base64.b64decode(data["signature"]), message)
    assert data["key_id"] == key_id_of(public)


def test_an_unchanged_head_is_anchored_again_only_when_asked(anchoring, factory, anchor_file):
    assert anchor(anchoring, factory) is None  # an empty trail: nothing to vouch for
    add_events(factory, 2)
    assert anchor(anchoring, factory, only_if_changed=True).count == 2
    assert anchor(anchoring, factory, only_if_changed=True) is None
    assert anchor(anchoring, factory).count == 2
    assert len(anchor_file.read_text().splitlines()) == 2


# --- what the anchor catches -----------------------------------------------------------------------

def test_a_rehashed_chain_fails_naming_the_first_event_after_the_last_agreeing_anchor(app, anchoring, factory):
    add_events(factory, 2)
    anchor(anchoring, factory)
    add_events(factory, 4, start=2)
    anchor(anchoring, factory)
    add_events(factory, 1, start=6)
    assert verify(factory, anchoring).intact
    rewrite_and_rehash(app, 3, '{"n":99}')
    # The hash chain alone is consistent again: this is the rewrite plain SHA-256 cannot see.
    assert verify(factory, None).intact
    result = verify(factory, anchoring)
    assert not result.intact and result.first_broken == 3
    assert "anchor line 2" in result.reason
    since = verify(factory, anchoring, since_anchor=True)
    assert not since.intact and since.first_broken == 6


def test_a_tail_cut_up_to_the_anchor_is_detected(app, anchoring, factory):
    add_events(factory, 6)
    anchor(anchoring, factory)
    tamper(app, "DELETE FROM audit_events WHERE id >= 5")
    for kw in ({}, {"since_anchor": True}):
        result = verify(factory, anchoring, **kw)
        assert not result.intact and result.first_broken == 5, kw
        assert "were cut" in result.reason


def test_a_replaced_checkpoint_does_not_hide_a_cut(app, anchoring, factory):
    add_events(factory, 4)
    with factory() as s:
        record_checkpoint(s, actor="system:test", now=T0)  # event 5 records it
        s.commit()
    add_events(factory, 2, start=5)
    anchor(anchoring, factory)
    with factory() as s:
        head4 = s.get(AuditEvent, 4).hash
    # Cut events 5-7 and put back a checkpoint that agrees with the shorter chain.
    tamper(app, "DELETE FROM audit_events WHERE id >= 5", "DELETE FROM audit_checkpoints",
           "INSERT INTO audit_checkpoints (id, created_at, event_count, head_event_id, head_hash) "
           "VALUES (1, '2026-11-26 12:00:00', 4, 4, :h)", params={"h": head4})
    assert verify(factory, None).intact  # checkpoints alone are fooled
    result = verify(factory, anchoring)
    assert not result.intact and result.first_broken == 5


def test_a_forged_anchor_line_is_tampering(app, anchoring, factory, anchor_file, tmp_path):
    add_events(factory, 3)
    anchor(anchoring, factory)
    add_events(factory, 2, start=3)
    anchor(anchoring, factory)
    good = anchor_file.read_text()
    first, second = good.splitlines()
    # A line whose numbers were changed after signing.
    forged = json.loads(first)
    forged["count"] = forged["head_event_id"] = 2
    anchor_file.write_text(json.dumps(forged, sort_keys=True, separators=(",", ":")) + "\n" + second + "\n")
    result = verify(factory, anchoring)
    assert not result.intact and "line 1" in result.reason and "signature" in result.reason
    # A line signed with another key.
    other = load_private_key(generate_keypair(tmp_path / "other")[0])
    from pharmsafe.audit.anchor import sign_line
    foreign = sign_line(other, count=5, head_event_id=5, head_hash=json.loads(second)["head_hash"], anchored_at=T0)
    anchor_file.write_text(good + foreign)
    result = verify(factory, anchoring, since_anchor=True)
    assert not result.intact and "line 3" in result.reason and "key" in result.reason
    # A torn last line, and a tampered file is never extended.
    anchor_file.write_text(good + second[:40])
    assert not verify(factory, anchoring).intact
    with pytest.raises(AnchorFileError):
        anchor(anchoring, factory)
    anchor_file.write_text(good)
    assert verify(factory, anchoring).intact


def test_a_broken_chain_is_never_signed(app, anchoring, factory, anchor_file):
    add_events(factory, 4)
    anchor(anchoring, factory)
    add_events(factory, 2, start=4)
    tamper(app, "UPDATE audit_events SET payload = '{\"n\": 7}' WHERE id = 5")
    with pytest.raises(AnchorRefused):
        anchor(anchoring, factory)
    assert len(anchor_file.read_text().splitlines()) == 1


def test_since_anchor_walks_only_what_follows_the_anchor(app, anchoring, factory):
    add_events(factory, 5)
    anchor(anchoring, factory)
    add_events(factory, 3, start=5)
    # An edit before the anchor, without re-hashing: the full walk sees it, the quick one does not
    # look there (the anchored event itself is recomputed, and it still holds).
    tamper(app, "UPDATE audit_events SET payload = '{\"n\": 42}' WHERE id = 2")
    assert verify(factory, anchoring).first_broken == 2
    quick = verify(factory, anchoring, since_anchor=True)
    assert quick.intact and quick.events == 8 and quick.after_anchor == 3 and quick.anchor.head_event_id == 5
    tamper(app, "UPDATE audit_events SET payload = '{\"n\": 43}' WHERE id = 7")
    quick = verify(factory, anchoring, since_anchor=True)
    assert not quick.intact and quick.first_broken == 7
    tamper(app, "UPDATE audit_events SET payload = '{\"n\": 44}' WHERE id = 5")
    assert verify(factory, anchoring, since_anchor=True).first_broken == 5


def test_verification_reports_the_anchor_and_what_follows_it(anchoring, factory, anchor_file):
    add_events(factory, 3)
    result = verify(factory, anchoring)
    assert result.to_dict()["anchor"] is None and result.to_dict()["after_anchor"] == 3
    anchor(anchoring, factory)
    add_events(factory, 2, start=3)
    body = verify(factory, anchoring).to_dict()
    assert set(body) == {"intact", "events", "head", "first_broken", "anchor", "after_anchor"}
    assert body["after_anchor"] == 2 and body["events"] == 5
    assert body["anchor"] == {"line": 1, "count": 3, "head_event_id": 3, "head_hash": body["anchor"]["head_hash"],
                              "anchored_at": "2026-11-26T13:00:00Z", "key_id": anchoring.key_id}
    assert verify(factory, None).to_dict()["anchor"] is None


def test_anchors_written_at_once_stay_in_order(anchoring, factory, anchor_file):
    add_events(factory, 1)

    def work(i):
        for j in range(4):
            add_events(factory, 1, start=100 + i * 10 + j)
            anchor(anchoring, factory)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    anchors = read_anchors(anchoring)
    assert len(anchors) == 12
    assert [a.count for a in anchors] == sorted(a.count for a in anchors) and anchors[-1].count == 13
    assert verify(factory, anchoring).intact


# --- the command line --------------------------------------------------------------------------------

@pytest.fixture
def run(db_url, monkeypatch, keys, anchor_file, app):
    env = {f"PHARMSAFE_{k}": str(v) for k, v in TEST_SETTINGS.items()}
    env.update(PHARMSAFE_DATABASE_URL=db_url, PHARMSAFE_AUDIT_SIGNING_KEY_FILE=str(keys[0]),
               PHARMSAFE_AUDIT_ANCHOR_FILE=str(anchor_file))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PHARMSAFE_CONFIG", raising=False)
    return lambda *args: CliRunner().invoke(main, list(args))


def test_cli_anchor_then_verify_reports_it(run, factory, app):
    assert run("audit", "anchor").output.strip() == "Nothing to anchor: the audit trail is empty."
    add_events(factory, 3)
    result = run("audit", "anchor")
    assert result.exit_code == 0 and result.output.startswith("Anchor line 1 of ") and "3 events" in result.output
    add_events(factory, 1, start=3)
    result = run("audit", "verify")
    assert result.exit_code == 0
    assert result.output.splitlines()[0].startswith("intact: 4 events")
    assert "anchor: line 1 of" in result.output and "1 events after it" in result.output
    quick = run("audit", "verify", "--since-anchor")
    assert quick.exit_code == 0 and "walked from the anchor on" in quick.output
    rewrite_and_rehash(app, 2, '{"n":5}')
    broken = run("audit", "verify")
    assert broken.exit_code == 1 and broken.output.startswith("BROKEN at event 1:")
    refused = run("audit", "anchor")
    assert refused.exit_code == 1 and "does not verify" in refused.output


def test_cli_without_anchoring_says_so(db_url, monkeypatch):
    for k, v in TEST_SETTINGS.items():
        monkeypatch.setenv(f"PHARMSAFE_{k}", str(v))
    monkeypatch.setenv("PHARMSAFE_DATABASE_URL", db_url)
    monkeypatch.delenv("PHARMSAFE_CONFIG", raising=False)
    result = CliRunner().invoke(main, ["audit", "anchor"])
    assert result.exit_code == 2 and "PHARMSAFE_AUDIT_SIGNING_KEY_FILE" in result.output
    result = CliRunner().invoke(main, ["audit", "verify", "--since-anchor"])
    assert result.exit_code == 2 and "--since-anchor" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["audit", "verify"])
    assert result.exit_code == 0 and "anchor: off" in result.output


def test_a_cli_export_is_recorded_and_anchored_once_complete(run, factory, anchor_file, tmp_path):
    add_events(factory, 3)
    out = tmp_path / "out.ndjson"
    assert run("audit", "export", "--format", "ndjson", "-o", str(out)).exit_code == 0
    assert len(out.read_text().splitlines()) == 3
    with factory() as s:
        exported = s.scalars(select(AuditEvent).where(AuditEvent.action == "audit.exported")).one()
    assert json.loads(exported.payload)["events"] == 3
    last = json.loads(anchor_file.read_text().splitlines()[-1])
    assert last["head_event_id"] == exported.id == 4


def test_a_cli_export_that_fails_midway_leaves_no_file_and_no_record(run, factory, tmp_path, monkeypatch):
    import pharmsafe.audit.export as export

    add_events(factory, 5)
    monkeypatch.setattr(export, "BATCH", 2)
    real = export.ndjson_line

    def failing(row):
        if row[0] == 4:
            raise RuntimeError("disk read error")
        return real(row)

    monkeypatch.setattr(export, "ndjson_line", failing)
    out = tmp_path / "out.ndjson"
    result = run("audit", "export", "--format", "ndjson", "-o", str(out))
    assert result.exit_code == 1 and "stopped after 2 events" in result.output and "not recorded" in result.output
    assert not out.exists() and list(tmp_path.glob("*partial*")) == []
    with factory() as s:
        assert s.scalar(select(func.count()).where(AuditEvent.action == "audit.exported")) == 0


# --- the API ----------------------------------------------------------------------------------------

@pytest.fixture
def auditor(app):
    world = World(app, app.test_client())
    return world.user("auditor")[1]


def exported_count(factory) -> int:
    with factory() as s:
        return s.scalar(select(func.count()).where(AuditEvent.action == "audit.exported"))


def test_an_export_broken_midway_surfaces_and_is_not_recorded(auditor, factory, monkeypatch):
    import pharmsafe.audit.export as export

    add_events(factory, 6)
    monkeypatch.setattr(export, "BATCH", 2)
    real = export.ndjson_line

    def failing(row):
        if row[0] == 5:
            raise RuntimeError("the database connection dropped")
        return real(row)

    monkeypatch.setattr(export, "ndjson_line", failing)
    resp = auditor.get("/audit-events/export?format=ndjson")
    assert resp.status_code == 200  # the headers are out before the rows
    # The stream ends in an error (a server aborts the chunked response), never in a short file.
    with pytest.raises(export.ExportFailed, match="stopped after 4 events"):
        resp.get_data()
    assert exported_count(factory) == 0


def test_a_completed_api_export_is_recorded_and_anchored(auditor, factory, anchor_file):
    add_events(factory, 3)
    before = exported_count(factory)
    resp = auditor.get("/audit-events/export?format=csv&action=evidence.recorded")
    assert resp.status_code == 200 and exported_count(factory) == before  # nothing yet: not read
    assert len(resp.get_data(as_text=True).splitlines()) == 4  # header and three rows
    with factory() as s:
        exported = s.scalars(select(AuditEvent).where(AuditEvent.action == "audit.exported")).one()
        head = s.scalar(select(func.max(AuditEvent.id)))
    payload = json.loads(exported.payload)
    assert payload["events"] == 3 and payload["format"] == "csv" and payload["action"] == "evidence.recorded"
    assert json.loads(anchor_file.read_text().splitlines()[-1])["head_event_id"] == head == exported.id


@pytest.mark.parametrize("query", ["format=xlsx", "since=yesterday", "until=2026-13-01", "format=csv&format=csv"])
def test_a_bad_export_request_fails_before_the_first_byte(auditor, factory, query):
    resp = auditor.get(f"/audit-events/export?{query}")
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "validation_error"
    assert exported_count(factory) == 0


def test_an_unreadable_trail_fails_the_export_before_the_first_byte(app, auditor, factory):
    add_events(factory, 2)
    tamper(app, "ALTER TABLE audit_events RENAME TO audit_events_moved")
    try:
        resp = auditor.get("/audit-events/export?format=ndjson")
        assert resp.status_code >= 500 and set(resp.get_json()) == {"error"}
        assert "Content-Disposition" not in resp.headers
    finally:
        tamper(app, "ALTER TABLE audit_events_moved RENAME TO audit_events")
    assert exported_count(factory) == 0


def test_the_verification_endpoint_reports_the_anchor(app, auditor, anchoring, factory):
    add_events(factory, 4)
    anchored = anchor(anchoring, factory)  # also the auditor's own events, written first
    add_events(factory, 1, start=4)
    body = auditor.ok("GET", "/audit-events/verification")
    assert body["intact"] is True and body["after_anchor"] == 1 and body["anchor"]["head_event_id"] == anchored.count
    assert body["events"] == anchored.count + 1 and body["first_broken"] is None and len(body["head"]) == 64
    rewrite_and_rehash(app, 1, '{"n":-1}')
    body = auditor.ok("GET", "/audit-events/verification")
    assert body["intact"] is False and body["first_broken"] == 1


def test_the_verification_endpoint_without_anchoring(plain_app):
    world = World(plain_app, plain_app.test_client())
    body = world.user("auditor")[1].ok("GET", "/audit-events/verification")
    assert body["anchor"] is None and body["after_anchor"] == body["events"] and body["intact"] is True


def test_a_stream_that_fails_midway_closes_its_cursor_at_once(factory, monkeypatch, caplog):
    """A stream that stopped midway once left its cursor to the garbage collector, which closed it
    later, in the middle of other work, on a session long gone ("Cannot operate on a closed
    database"); on CPython 3.11 that can even break a compile() running at the time."""
    import gc
    import logging

    import pharmsafe.audit.export as export
    from pharmsafe.audit.query import AuditFilters

    add_events(factory, 6)
    monkeypatch.setattr(export, "BATCH", 2)
    real = export.ndjson_line

    def failing(row):
        if row[0] == 4:
            raise RuntimeError("disk read error")
        return real(row)

    monkeypatch.setattr(export, "ndjson_line", failing)
    caught = []
    with pytest.raises(export.ExportFailed) as failed:
        for chunk in export.export_rows(factory, AuditFilters(), "ndjson"):
            caught.append(chunk)
    assert len(caught) == 1 and failed.value.events == 2
    factory.kw["bind"].dispose()  # as an app's teardown does: the connections are closed
    with caplog.at_level(logging.ERROR, logger="sqlalchemy.pool"):
        del failed  # its traceback kept the stream's frames: now they are garbage
        gc.collect()
    assert [r for r in caplog.records if "closing cursor" in r.getMessage()] == []
