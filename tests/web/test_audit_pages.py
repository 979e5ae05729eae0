"""The audit page: filters, paging, downloads (audited), chain verification, and who may see it."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest
from sqlalchemy import select

from pharmsafe.models import AuditEvent
from pharmsafe.runtime import runtime_of
from tests.web.conftest import field_error, text


@pytest.fixture
def auditor(seed, signed_in):
    return signed_in(seed.user("auditor"))


@pytest.fixture
def dispensed(seed):
    """More than a page of events (two quiet prescriptions first), ending with a dispense."""
    seed.scene()
    seed.scene()
    scene = seed.scene()
    scene["dispense"] = seed.dispense(seed.evaluate(scene["rx"]), "RMA-AUD-1")
    return scene


def event_ids(resp) -> list[int]:
    return [int(i) for i in re.findall(r'data-event="(\d+)"', resp.get_data(as_text=True))]


def test_audit_page_lists_events_newest_first_with_links_and_a_verify_button(dispensed, auditor):
    resp = auditor.get("/audit/")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<title>Audit trail · PharmSafe</title>" in html
    ids = event_ids(resp)
    assert ids == sorted(ids, reverse=True) and len(ids) == 50
    for fmt, label in (("csv", "CSV"), ("ndjson", "NDJSON"), ("fhir", "FHIR")):
        assert f'href="/audit/export?format={fmt}" download>Download {label}</a>' in html
    assert ">Verify chain</button>" in html


def test_filters_by_action_and_subject(dispensed, auditor):
    resp = auditor.get("/audit/?action=dispense.recorded")
    assert re.findall(r'data-action="([a-z_.]+)"', resp.get_data(as_text=True)) == ["dispense.recorded"]
    resp = auditor.get(f"/audit/?subject=dispense:{dispensed['dispense']}")
    assert len(event_ids(resp)) == 1
    assert f'href="/audit/export?format=csv&amp;subject=dispense:{dispensed["dispense"]}"' in resp.get_data(as_text=True)


def test_date_filters_cover_whole_days_and_refuse_bad_input(dispensed, auditor):
    assert len(event_ids(auditor.get("/audit/?since=2026-11-26&until=2026-11-26"))) == 50
    assert event_ids(auditor.get("/audit/?since=2026-11-27")) == []
    bad = auditor.get("/audit/?since=yesterday&until=2026-11-01")
    assert bad.status_code == 422
    assert field_error(bad, "f-since") == "Not a valid value for this filter."
    assert 'value="yesterday"' in bad.get_data(as_text=True)
    impossible = auditor.get("/audit/?since=2026-02-30")
    assert impossible.status_code == 422 and field_error(impossible, "f-since").startswith("Use a date (2026-11-26)")
    backwards = auditor.get("/audit/?since=2026-11-20&until=2026-11-01")
    assert backwards.status_code == 422 and field_error(backwards, "f-until") == "Must be after since."


def test_pages_through_events(dispensed, auditor, count):
    first = auditor.get("/audit/")
    ids = event_ids(first)
    older = re.search(r'href="(/audit/\?before=\d+)">Older events', first.get_data(as_text=True)).group(1)
    second = auditor.get(older)
    assert event_ids(second) == list(range(ids[-1] - 1, 0, -1))[:50]
    assert "Newest events" in text(second)
    assert len(ids) + len(event_ids(second)) == count(AuditEvent)


@pytest.mark.parametrize("fmt,mimetype", [("csv", "text/csv"), ("ndjson", "application/x-ndjson"),
                                          ("fhir", "application/fhir+ndjson")])
def test_downloads_stream_an_attachment_and_are_audited(dispensed, auditor, count, fmt, mimetype):
    before = count(AuditEvent, AuditEvent.action == "audit.exported")
    resp = auditor.get(f"/audit/export?format={fmt}&action=dispense.recorded")
    assert resp.status_code == 200 and resp.mimetype == mimetype
    assert resp.headers["Content-Disposition"].startswith("attachment; filename=\"audit-events.")
    body = resp.get_data(as_text=True)
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(body)))
        assert [r["action"] for r in rows] == ["dispense.recorded"]
        assert json.loads(rows[0]["payload"])["rma_number"] == "RMA-AUD-1"
    else:
        lines = [json.loads(line) for line in body.splitlines()]
        assert len(lines) == 1 and "dispense.recorded" in json.dumps(lines[0])
    assert count(AuditEvent, AuditEvent.action == "audit.exported") == before + 1


def test_a_bad_export_format_is_refused_on_the_page(auditor, count):
    resp = auditor.get("/audit/export?format=xlsx")
    assert resp.status_code == 422 and "Choose CSV, NDJSON or FHIR." in text(resp)
    assert count(AuditEvent, AuditEvent.action == "audit.exported") == 0


def test_verify_chain_shows_the_result(dispensed, auditor, count):
    resp = auditor.get("/audit/verification")
    body = text(resp)
    assert resp.status_code == 200 and 'data-intact="true"' in resp.get_data(as_text=True)
    assert "Intact" in body and f"Events verified {count(AuditEvent)}" in body and "First broken event none" in body


def test_admin_sees_the_audit_page_and_a_pharmacist_does_not(seed, signed_in):
    assert signed_in(seed.user("admin")).get("/audit/").status_code == 200
    pharmacist = signed_in(seed.user("pharmacist", pharmacy_id=seed.pharmacy()))
    assert pharmacist.get("/audit/").status_code == 403
    assert pharmacist.get("/audit/export?format=csv").status_code == 403
    assert pharmacist.get("/audit/verification").status_code == 403


def exported_events(count_fn) -> int:
    return count_fn(AuditEvent, AuditEvent.action == "audit.exported")


def test_a_page_download_is_recorded_only_once_complete_with_its_count(app, dispensed, auditor, count):
    resp = auditor.get("/audit/export?format=ndjson&action=dispense.recorded")
    assert resp.status_code == 200 and exported_events(count) == 0  # the headers are out, the rows are not
    assert len(resp.get_data(as_text=True).splitlines()) == 1
    with runtime_of(app).session_factory() as session:
        payload = json.loads(session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.exported")).one()
                             .payload)
    assert payload == {"format": "ndjson", "action": "dispense.recorded", "events": 1, "source": "web"}


def test_a_page_download_broken_midway_ends_in_an_error_and_is_not_recorded(dispensed, auditor, count, monkeypatch):
    import pharmsafe.audit.export as export

    monkeypatch.setattr(export, "BATCH", 2)
    real = export.ndjson_line

    def failing(row):
        if row[0] == 3:
            raise RuntimeError("the database connection dropped")
        return real(row)

    monkeypatch.setattr(export, "ndjson_line", failing)
    resp = auditor.get("/audit/export?format=ndjson")
    assert resp.status_code == 200
    with pytest.raises(export.ExportFailed, match="stopped after 2 events"):
        resp.get_data()
    assert exported_events(count) == 0

