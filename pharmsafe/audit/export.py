"""Streaming export: CSV, NDJSON, FHIR R4 AuditEvent NDJSON, in batches (constant memory).

Lines are written from the stored text directly: the payload is already canonical JSON, so an NDJSON
line is byte for byte json.dumps(event_to_dict(event)) without parsing and re-encoding it."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from json.encoder import encode_basestring as _quote

from sqlalchemy import String, type_coerce

from pharmsafe.audit.anchor import Anchoring
from pharmsafe.audit.anchor_writer import anchor_quietly
from pharmsafe.audit.chain import append_event, instant_text
from pharmsafe.audit.query import AuditFilters, filtered_events
from pharmsafe.clock import Clock
from pharmsafe.db import read_only_session
from pharmsafe.models import AuditEvent

EXPORT_FORMATS = {
    "csv": ("text/csv", "csv"),
    "ndjson": ("application/x-ndjson", "ndjson"),
    "fhir": ("application/fhir+ndjson", "fhir.ndjson"),
}
CSV_COLUMNS = ("id", "occurred_at", "action", "actor", "subject", "policy", "payload", "prev_hash", "hash")
BATCH = 2000
log = logging.getLogger("pharmsafe.audit")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def export_payload(fmt: str, filters: dict, source: str) -> dict:
    """The audit.exported payload: the format, the filters given (a `source` filter as
    `filter_source`, the payload's own `source` being where the export was asked for) and the source."""
    named = {("filter_source" if k == "source" else k): v for k, v in filters.items() if k != "format"}
    return {"format": fmt, **named, "source": source}


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
    """One RFC 4180 cell, neutralised (spreadsheets run a cell that begins with = + - @ tab or CR
    as a formula; a leading ' stops it); written by hand because the csv module is the slowest step
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


# FHIR AuditEvent.outcome: 0 success, 4 minor failure (the request was refused).
FHIR_SUCCESS, FHIR_REFUSED = "0", "4"
_REFUSED_DISPENSE = ('"outcome":"blocked"', '"stage":"dispense"')


def fhir_outcome(action: str, payload: str) -> str:
    """4 for a failed sign-in and for a refused dispense's decision, 0 otherwise (INTEROP.md §4.4).
    The payload is canonical JSON (sorted keys, no spaces), so a decision's stage and outcome are read
    from its text without parsing it."""
    if action == "user.login_failed":
        return FHIR_REFUSED
    if action == "decision.recorded" and all(part in payload for part in _REFUSED_DISPENSE):
        return FHIR_REFUSED
    return FHIR_SUCCESS


def fhir_line(row: tuple) -> str:
    """One FHIR R4 AuditEvent (valid R4B): the action as subtype, the actor as agent, the subject as
    entity, with the payload, policy and both hashes as entity details; a detail with no value (an
    event without a policy) is left out, since FHIR allows no empty string."""
    id_, occurred_at, action, actor, subject, policy, payload, prev_hash, hash_ = row
    requestor = "true" if actor.startswith("user:") else "false"
    verb = "R" if action == "audit.exported" else "E"
    details = [("payload", payload), ("policy", policy), ("prev_hash", prev_hash), ("hash", hash_)]
    detail = ",".join(f'{{"type":"{name}","valueString":{_quote(value)}}}' for name, value in details if value)
    return (
        f'{{"resourceType":"AuditEvent","id":"{id_}",'
        '"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest",'
        '"display":"RESTful Operation"},'
        f'"subtype":[{{"system":"urn:pharmsafe:audit-action","code":{_quote(action)}}}],'
        f'"action":"{verb}","recorded":{_quote(occurred_at)},"outcome":"{fhir_outcome(action, payload)}",'
        f'"agent":[{{"who":{{"identifier":{{"system":"urn:pharmsafe:actor","value":{_quote(actor)}}}}},'
        f'"requestor":{requestor}}}],'
        '"source":{"observer":{"display":"PharmSafe"}},'
        f'"entity":[{{"what":{{"identifier":{{"system":"urn:pharmsafe:subject","value":{_quote(subject)}}}}},'
        f'"detail":[{detail}]}}]}}\n')


def export_chunks(batches: Iterable[list[tuple]], fmt: str) -> Iterator[str]:
    if fmt == "csv":
        yield from csv_chunks(batches)
        return
    line = ndjson_line if fmt == "ndjson" else fhir_line
    for batch in batches:
        yield "".join(map(line, batch))


class ExportFailed(RuntimeError):
    """An export stopped before its end. Raised from inside the stream, so that a server aborts the
    response (the client sees a broken transfer, never a short file that looks whole)."""

    def __init__(self, events: int, cause: BaseException):
        super().__init__(f"the audit export stopped after {events} events ({type(cause).__name__})")
        self.events = events


def export_rows(factory, filters: AuditFilters, fmt: str, *, on_complete: Callable[[int], None] | None = None,
                anchoring: Anchoring | None = None, clock: Clock | None = None) -> Iterator[str]:
    """Start an export and return its chunks.

    What can fail before the first byte fails here, in the caller: the export's query is tried at
    once (its first row, on a read-only session of its own that is closed again), so an unreachable
    or unreadable database raises before any response is begun. The stream itself opens its own
    read-only session when it is first read (the request's has been committed and closed by then),
    and a failure while streaming raises ExportFailed from inside the iterator. Once the last chunk
    is out, ``on_complete(events)`` runs (an error there also breaks the stream), then the chain is
    anchored when ``anchoring`` and ``clock`` are given."""
    with read_only_session(factory) as session:
        try:
            session.execute(filtered_events(filters).with_only_columns(AuditEvent.id).limit(1)).first()
        finally:
            session.rollback()
    return _stream(factory, filters, fmt, on_complete, anchoring, clock)


class _Record:
    """What an export records once complete. Kept apart from AuditExport so that the stream (which
    calls ``completed``) and the export hold no reference cycle: an abandoned stream is then closed
    the moment it is dropped, never later by the garbage collector in the middle of other work."""

    def __init__(self, runtime, actor: str, payload: dict):
        self.runtime, self.actor, self.payload = runtime, actor, dict(payload)
        self.events: int | None = None
        self.on_completion = False

    def completed(self, events: int) -> None:
        self.events = events
        if self.on_completion:
            self.write()

    def write(self) -> None:
        if self.events is None:
            raise RuntimeError("an export is recorded only once it completed")
        with self.runtime.unit_of_work(self.actor) as ctx:
            append_event(ctx.session, action="audit.exported", actor=ctx.actor, subject="audit:export",
                         now=ctx.now, payload={**self.payload, "events": self.events})


class AuditExport:
    """The audit-export use case, the same for the API, the pages and the command line: recorded
    (``audit.exported``, with the number of events) only once complete, then anchored.

    ``runtime`` is the app's Runtime (its session factory, unit of work, clock and anchoring).
    Constructing it opens the export (what can fail before the first byte raises here); ``stream()``
    yields the chunks, and records and anchors after the last; ``rows()`` only yields them, for a
    caller that hands the result over first (the command line renames its file into place) and then
    calls ``record()`` and ``anchor()``."""

    def __init__(self, runtime, filters: AuditFilters, fmt: str, *, actor: str, payload: dict):
        self.runtime = runtime
        self._record = _Record(runtime, actor, payload)
        self._chunks = export_rows(runtime.session_factory, filters, fmt, on_complete=self._record.completed)

    @property
    def events(self) -> int | None:
        """How many events the export held, once it completed."""
        return self._record.events

    def stream(self) -> Iterator[str]:
        self._record.on_completion = True
        return _then(self._chunks, self.anchor)

    def rows(self) -> Iterator[str]:
        self._record.on_completion = False
        return self._chunks

    def record(self) -> None:
        """Append ``audit.exported`` in a transaction of its own (the request's has long been
        committed); only for an export that completed."""
        self._record.write()

    def anchor(self) -> None:
        runtime = self.runtime
        anchor_quietly(runtime.anchoring, runtime.session_factory, runtime.now(), why="an export")


def _then(chunks: Iterator[str], after: Callable[[], None]) -> Iterator[str]:
    yield from chunks
    after()


def _stream(factory, filters, fmt, on_complete, anchoring, clock) -> Iterator[str]:
    counted = [0]

    def counting(batches):
        # A batch counts once the consumer comes back for the next one: its chunk is out.
        for batch in batches:
            yield batch
            counted[0] += len(batch)

    try:
        with read_only_session(factory) as session:
            rows = iter_batches(session, filters)
            try:
                yield from export_chunks(counting(rows), fmt)
            finally:
                # A stream stopped midway (a failure, a client gone) closes its cursor now, while its
                # session is open, not whenever the garbage collector reaches it in other work.
                rows.close()
                session.rollback()
        if on_complete is not None:
            on_complete(counted[0])
    except GeneratorExit:  # the consumer stopped reading: not completed, nothing recorded
        raise
    except Exception as exc:
        log.error("audit export failed after %s events: %s", counted[0], type(exc).__name__)
        raise ExportFailed(counted[0], exc) from exc
    if anchoring is not None and clock is not None:
        anchor_quietly(anchoring, factory, clock.now(), why="an export")
