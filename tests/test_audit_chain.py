"""The hash chain detects edits, deletions, reordering, forged rows and truncation, on every engine."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from pharmsafe.audit import AuditImmutableError, append_event
from pharmsafe.audit.chain import BATCH_KEY, audit_batch, compute_hash
from pharmsafe.audit.verify import record_checkpoint, verify_chain
from pharmsafe.models import AuditEvent
from pharmsafe.runtime import runtime_of

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def chain(session):
    for i in range(6):
        append_event(session, action="evidence.recorded", actor="user:1", subject=f"pregnancy_test:{i + 1}",
                     now=T0 + timedelta(seconds=i), payload={"n": i})
    session.commit()
    return session


def tamper(session, *statements: str) -> None:
    """Write beneath the guards, as someone with direct database access would."""
    session.rollback()
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_update")
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_delete")
    else:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
    for statement in statements:
        conn.execute(text(statement))
    session.commit()


def test_intact_chain_verifies(chain):
    result = verify_chain(chain)
    assert result.intact and result.events == 6 and result.first_broken is None
    assert result.head == chain.get(AuditEvent, 6).hash


def test_edited_payload_is_detected(chain):
    tamper(chain, "UPDATE audit_events SET payload = '{\"n\": 99}' WHERE id = 3")
    result = verify_chain(chain)
    assert not result.intact and result.first_broken == 3


def test_deleted_middle_row_is_detected(chain):
    tamper(chain, "DELETE FROM audit_events WHERE id = 4")
    result = verify_chain(chain)
    assert not result.intact and result.first_broken == 4


def test_reordered_rows_are_detected(chain):
    # Swap the contents of events 2 and 3 (ids stay in place).
    tamper(chain,
           "UPDATE audit_events SET id = 1002 WHERE id = 2",
           "UPDATE audit_events SET id = 2 WHERE id = 3",
           "UPDATE audit_events SET id = 3 WHERE id = 1002")
    result = verify_chain(chain)
    assert not result.intact and result.first_broken == 2


def test_forged_row_is_detected(chain):
    prev = chain.get(AuditEvent, 6).hash
    tamper(chain, "INSERT INTO audit_events (id, occurred_at, action, actor, subject, policy, payload, prev_hash, hash) "
                  f"VALUES (7, '2026-11-26 12:00:10', 'dispense.recorded', 'user:1', 'dispense:1', NULL, '{{}}', "
                  f"'{prev}', '{'ab' * 32}')")
    result = verify_chain(chain)
    assert not result.intact and result.first_broken == 7


def test_forged_row_inserted_by_renumbering_is_detected(chain):
    tamper(chain, *[f"UPDATE audit_events SET id = {i + 100} WHERE id = {i}" for i in range(6, 3, -1)],
           *[f"UPDATE audit_events SET id = {i + 1} WHERE id = {i + 100}" for i in range(6, 3, -1)])
    prev = chain.execute(text("SELECT hash FROM audit_events WHERE id = 3")).scalar()
    forged = compute_hash(id=4, occurred_at=T0, action="dispense.recorded", actor="user:1", subject="dispense:9",
                          policy=None, payload="{}", prev_hash=prev)
    tamper(chain, "INSERT INTO audit_events (id, occurred_at, action, actor, subject, policy, payload, prev_hash, hash) "
                  f"VALUES (4, '2026-11-26 12:00:00', 'dispense.recorded', 'user:1', 'dispense:9', NULL, '{{}}', "
                  f"'{prev}', '{forged}')")
    result = verify_chain(chain)
    assert not result.intact and result.first_broken == 5


def test_truncation_after_a_checkpoint_is_detected(chain):
    record_checkpoint(chain, actor="system:cli", now=T0 + timedelta(minutes=1))
    append_event(chain, action="user.login", actor="user:1", subject="user:1", now=T0 + timedelta(minutes=2))
    chain.commit()
    assert verify_chain(chain).intact
    tamper(chain, "DELETE FROM audit_events WHERE id >= 6")
    result = verify_chain(chain)
    assert not result.intact and result.first_broken == 6


def test_orm_refuses_update_and_delete(chain):
    event = chain.get(AuditEvent, 2)
    event.action = "forged"
    with pytest.raises(AuditImmutableError):
        chain.flush()
    chain.rollback()
    chain.delete(chain.get(AuditEvent, 2))
    with pytest.raises(AuditImmutableError):
        chain.flush()
    chain.rollback()
    from sqlalchemy import delete, update
    with pytest.raises(AuditImmutableError):
        chain.execute(update(AuditEvent).values(action="x"))
    with pytest.raises(AuditImmutableError):
        chain.execute(delete(AuditEvent))


def test_orm_refuses_to_change_or_remove_a_checkpoint(chain):
    from sqlalchemy import delete, update

    from pharmsafe.models import AuditCheckpoint

    checkpoint = record_checkpoint(chain, actor="system:cli", now=T0)
    chain.commit()
    checkpoint.event_count = 1
    with pytest.raises(AuditImmutableError, match="checkpoint"):
        chain.flush()
    chain.rollback()
    chain.delete(chain.get(AuditCheckpoint, checkpoint.id))
    with pytest.raises(AuditImmutableError, match="checkpoint"):
        chain.flush()
    chain.rollback()
    with pytest.raises(AuditImmutableError):
        chain.execute(update(AuditCheckpoint).values(event_count=0))
    with pytest.raises(AuditImmutableError):
        chain.execute(delete(AuditCheckpoint))
    chain.rollback()
    assert verify_chain(chain).intact


@pytest.mark.parametrize("values", [
    dict(id=1, action="a", actor="user:1", subject="s:1", policy=None, payload="{}", prev_hash="0" * 64),
    dict(id=99, action='quo"te\\back', actor="system:cli", subject="ünï:ç", policy="ipledge-2026",
         payload='{"name":"Zoë \\"Z\\"","n":[1,2]}', prev_hash="f" * 64),
    dict(id=7, action="tab\tnew\nline", actor="\u2028", subject="\x01", policy="", payload="[]", prev_hash="a" * 64),
])
@pytest.mark.parametrize("instant", [T0, T0.replace(microsecond=123456)])
def test_hash_is_sha256_of_the_canonical_json(values, instant):
    import hashlib

    from pharmsafe.audit.chain import canonical_json, format_instant

    expected = hashlib.sha256(canonical_json(dict(values, occurred_at=format_instant(instant))).encode()).hexdigest()
    assert compute_hash(occurred_at=instant, **values) == expected


@pytest.mark.parametrize("raw,text_", [
    ("2026-11-26 12:00:00.000000", "2026-11-26T12:00:00Z"),
    ("2026-11-26 12:00:00.000120", "2026-11-26T12:00:00.000120Z"),
    (datetime(2026, 11, 26, 7, 0, tzinfo=timezone(timedelta(hours=-5))), "2026-11-26T12:00:00Z"),
])
def test_instant_text_reads_both_engines(raw, text_):
    from pharmsafe.audit.chain import instant_text

    assert instant_text(raw) == text_


def test_ndjson_line_equals_json_of_the_event(app, chain):
    import json

    from sqlalchemy import select

    from pharmsafe.audit import event_to_dict
    from pharmsafe.audit.export import export_rows
    from pharmsafe.audit.query import AuditFilters

    factory = runtime_of(app).session_factory
    lines = "".join(export_rows(factory, AuditFilters(), "ndjson")).splitlines()
    events = chain.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert lines == [json.dumps(event_to_dict(e), ensure_ascii=False, separators=(",", ":")) for e in events]


def _events(session) -> list[tuple]:
    return [tuple(r) for r in session.execute(text(
        "SELECT id, occurred_at, action, actor, subject, policy, payload, prev_hash, hash FROM audit_events "
        "ORDER BY id"))]


def test_a_batch_chains_exactly_as_events_appended_one_by_one(chain):
    items = [dict(action="decision.recorded", actor="user:2", subject="decision:1", now=T0, policy="ipledge-2026",
                  payload={"outcome": "authorized"}),
             dict(action="authorization.reversed", actor="user:2", subject="authorization:1",
                  now=T0 + timedelta(seconds=1), payload={"reason": "superseded"}),
             dict(action="authorization.issued", actor="system:x", subject="authorization:2", now=T0, payload=None)]
    with audit_batch(chain):
        assert [append_event(chain, **item) for item in items] == [None, None, None]
        # Held back: nothing written, no chain head read, until the block ends.
        assert chain.execute(text("SELECT count(*) FROM audit_events")).scalar() == 6
    chain.commit()
    batched = _events(chain)[6:]
    chain.rollback()
    conn = chain.connection()
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_delete")
    else:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
    conn.execute(text("DELETE FROM audit_events WHERE id > 6"))
    for item in items:
        append_event(chain, **item)
    chain.commit()
    assert _events(chain)[6:] == batched and [row[0] for row in batched] == [7, 8, 9]
    assert verify_chain(chain).intact


def test_a_batch_left_by_an_exception_writes_nothing(chain):
    with pytest.raises(RuntimeError):
        with audit_batch(chain):
            append_event(chain, action="x.y", actor="user:1", subject="s:1", now=T0)
            raise RuntimeError("refused")
    assert BATCH_KEY not in chain.info
    chain.commit()
    assert chain.execute(text("SELECT count(*) FROM audit_events")).scalar() == 6
