"""Streaming export: CSV, NDJSON, FHIR R4 AuditEvent NDJSON, in batches (constant memory)."""
from __future__ import annotations

import csv
import io
import json
from typing import Iterator

from sqlalchemy import select

from pharmsafe.audit.chain import event_to_dict
from pharmsafe.db import read_only_session
from pharmsafe.audit.query import AuditFilters, filtered_events
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


def iter_events(session, filters: AuditFilters) -> Iterator[AuditEvent]:
    after = 0
    while True:
        batch = session.scalars(filtered_events(filters).where(AuditEvent.id > after)
                                .order_by(AuditEvent.id).limit(BATCH)).all()
        if not batch:
            return
        yield from batch
        after = batch[-1].id
        session.expunge_all()


def csv_lines(events) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> str:
        value = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return value

    writer.writerow(CSV_COLUMNS)
    yield flush()
    for ev in events:
        d = event_to_dict(ev)
        writer.writerow([neutralise("" if d[c] is None else (ev.payload if c == "payload" else str(d[c])))
                         for c in CSV_COLUMNS])
        yield flush()


def fhir_audit_event(ev: AuditEvent) -> dict:
    d = event_to_dict(ev)
    person = ev.actor.startswith("user:")
    return {
        "resourceType": "AuditEvent",
        "id": str(ev.id),
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
                 "display": "RESTful Operation"},
        "subtype": [{"system": "urn:pharmsafe:audit-action", "code": ev.action}],
        "action": "R" if ev.action == "audit.exported" else "E",
        "recorded": d["occurred_at"],
        "outcome": "0",
        "agent": [{"who": {"identifier": {"system": "urn:pharmsafe:actor", "value": ev.actor}},
                   "requestor": person}],
        "source": {"observer": {"display": "PharmSafe"}},
        "entity": [{
            "what": {"identifier": {"system": "urn:pharmsafe:subject", "value": ev.subject}},
            "detail": [
                {"type": "payload", "valueString": ev.payload},
                {"type": "policy", "valueString": ev.policy or ""},
                {"type": "prev_hash", "valueString": ev.prev_hash},
                {"type": "hash", "valueString": ev.hash},
            ],
        }],
    }


def export_lines(events, fmt: str) -> Iterator[str]:
    if fmt == "csv":
        yield from csv_lines(events)
    elif fmt == "ndjson":
        for ev in events:
            yield json.dumps(event_to_dict(ev), ensure_ascii=False, separators=(",", ":")) + "\n"
    else:
        for ev in events:
            yield json.dumps(fhir_audit_event(ev), ensure_ascii=False, separators=(",", ":")) + "\n"


def export_rows(factory, filters: AuditFilters, fmt: str) -> Iterator[str]:
    """Stream from a session of its own (the request's has been committed and closed)."""
    with read_only_session(factory) as session:
        try:
            yield from export_lines(iter_events(session, filters), fmt)
        finally:
            session.rollback()
