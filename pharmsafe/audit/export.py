"""Streaming export: CSV, NDJSON, FHIR R4 AuditEvent NDJSON, in batches (constant memory).

Lines are written from the stored text directly: the payload is already canonical JSON, so an NDJSON
line is byte for byte json.dumps(event_to_dict(event)) without parsing and re-encoding it."""
from __future__ import annotations

from json.encoder import encode_basestring as _quote
from typing import Iterable, Iterator

from sqlalchemy import String, type_coerce

from pharmsafe.audit.chain import instant_text
from pharmsafe.audit.query import AuditFilters, filtered_events
from pharmsafe.db import read_only_session
from pharmsafe.models import AuditEvent

EXPORT_FORMATS = {
    "csv": ("text/csv", "csv"),
    "ndjson": ("application/x-ndjson", "ndjson"),
    "fhir": ("application/fhir+ndjson", "fhir.ndjson"),
}
CSV_COLUMNS = ("id", "occurred_at", "action", "actor", "subject", "policy", "payload", "prev_hash", "hash")
BATCH = 2000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """Spreadsheets run a cell that begins with = + - @ tab or CR as a formula; a leading ' stops it."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def iter_batches(session, filters: AuditFilters) -> Iterator[list[tuple]]:
    """Rows in id order from one streamed query (a server-side cursor on PostgreSQL), a batch at a
    time, as plain tuples in CSV_COLUMNS order with occurred_at already as ISO text."""
    t = AuditEvent.__table__.c
    stmt = filtered_events(filters).with_only_columns(
        t.id, type_coerce(t.occurred_at, String), t.action, t.actor, t.subject, t.policy, t.payload,
        t.prev_hash, t.hash).order_by(AuditEvent.id)
    result = session.execute(stmt, execution_options={"yield_per": BATCH})
    try:
        for partition in result.partitions():
            yield [(r[0], instant_text(r[1]), *r[2:]) for r in partition]
    finally:
        result.close()


def csv_cell(value: str | None) -> str:
    """One RFC 4180 cell, neutralised; written by hand because the csv module is the slowest step
    of an export (the payload, JSON, always needs quoting)."""
    if not value:
        return ""
    if value.startswith(FORMULA_PREFIXES):
        value = "'" + value
    if '"' in value or "," in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_chunks(batches: Iterable[list[tuple]]) -> Iterator[str]:
    yield ",".join(CSV_COLUMNS) + "\r\n"
    for batch in batches:
        yield "".join(f"{row[0]},{','.join(map(csv_cell, row[1:]))}\r\n" for row in batch)


def ndjson_line(row: tuple) -> str:
    id_, occurred_at, action, actor, subject, policy, payload, prev_hash, hash_ = row
    return (f'{{"id":{id_},"occurred_at":{_quote(occurred_at)},"action":{_quote(action)},'
            f'"actor":{_quote(actor)},"subject":{_quote(subject)},'
            f'"policy":{"null" if policy is None else _quote(policy)},"payload":{payload},'
            f'"prev_hash":{_quote(prev_hash)},"hash":{_quote(hash_)}}}\n')


def fhir_line(row: tuple) -> str:
    """One FHIR R4 AuditEvent: the action as subtype, the actor as agent, the subject as entity,
    with the payload, policy and both hashes as entity details."""
    id_, occurred_at, action, actor, subject, policy, payload, prev_hash, hash_ = row
    requestor = "true" if actor.startswith("user:") else "false"
    verb = "R" if action == "audit.exported" else "E"
    return (
        f'{{"resourceType":"AuditEvent","id":"{id_}",'
        '"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest",'
        '"display":"RESTful Operation"},'
        f'"subtype":[{{"system":"urn:pharmsafe:audit-action","code":{_quote(action)}}}],'
        f'"action":"{verb}","recorded":{_quote(occurred_at)},"outcome":"0",'
        f'"agent":[{{"who":{{"identifier":{{"system":"urn:pharmsafe:actor","value":{_quote(actor)}}}}},'
        f'"requestor":{requestor}}}],'
        '"source":{"observer":{"display":"PharmSafe"}},'
        f'"entity":[{{"what":{{"identifier":{{"system":"urn:pharmsafe:subject","value":{_quote(subject)}}}}},'
        f'"detail":[{{"type":"payload","valueString":{_quote(payload)}}},'
        f'{{"type":"policy","valueString":{_quote(policy or "")}}},'
        f'{{"type":"prev_hash","valueString":{_quote(prev_hash)}}},'
        f'{{"type":"hash","valueString":{_quote(hash_)}}}]}}]}}\n')


def export_chunks(batches: Iterable[list[tuple]], fmt: str) -> Iterator[str]:
    if fmt == "csv":
        yield from csv_chunks(batches)
        return
    line = ndjson_line if fmt == "ndjson" else fhir_line
    for batch in batches:
        yield "".join(map(line, batch))


def export_rows(factory, filters: AuditFilters, fmt: str) -> Iterator[str]:
    """Stream from a read-only session of its own (the request's has been committed and closed)."""
    with read_only_session(factory) as session:
        try:
            yield from export_chunks(iter_batches(session, filters), fmt)
        finally:
            session.rollback()
