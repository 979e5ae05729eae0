"""The audit API: filters, cursor paging, streamed exports, verification."""
from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from sqlalchemy import select

from pharmsafe.audit.export import csv_cell
from pharmsafe.models import PregnancyTest, Prescription
from pharmsafe.runtime import runtime_of
from pharmsafe.services.evidence import record_pregnancy_test
from tests.support import World


@pytest.fixture
def world(app, client):
    return World(app, client)


@pytest.fixture
def dispensed(world):
    rph, doc, patient, rx, decision = world.authorized()
    dispense = rph.ok("POST", f"/authorizations/{decision['authorization']['id']}/dispense",
                      {"quantity": 60, "rma_number": "=HYPERLINK(1)", "rma_do_not_dispense_after": "2027-12-31"})
    _, auditor = world.user("auditor")
    return auditor, dispense, decision


def test_csv_export_is_an_attachment_with_the_dispense(dispensed):
    auditor, dispense, _ = dispensed
    resp = auditor.get("/audit-events/export?format=csv")
    assert resp.status_code == 200
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    dispenses = [r for r in rows if r["action"] == "dispense.recorded"]
    assert len(dispenses) == 1 and dispenses[0]["subject"] == f"dispense:{dispense['id']}"
    assert json.loads(dispenses[0]["payload"])["rma_number"] == "=HYPERLINK(1)"


@pytest.mark.parametrize("cell,expected", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "\"'\rx\""),
    ("ok", "ok"), ("", ""), ("=a,b", "\"'=a,b\""),
])
def test_csv_cells_are_neutralised(cell, expected):
    assert csv_cell(cell) == expected


def test_ndjson_and_fhir_exports(dispensed):
    auditor, dispense, _ = dispensed
    nd = auditor.get("/audit-events/export?format=ndjson&action=dispense.recorded")
    events = [json.loads(line) for line in nd.get_data(as_text=True).splitlines()]
    assert [e["subject"] for e in events] == [f"dispense:{dispense['id']}"]
    assert set(events[0]) == {"id", "occurred_at", "action", "actor", "subject", "policy", "payload", "prev_hash", "hash"}
    fhir = auditor.get("/audit-events/export?format=fhir&action=dispense.recorded")
    resources = [json.loads(line) for line in fhir.get_data(as_text=True).splitlines()]
    assert resources[0]["resourceType"] == "AuditEvent"
    assert resources[0]["entity"][0]["what"]["identifier"]["value"] == f"dispense:{dispense['id']}"
    for required in ("type", "recorded", "agent", "source"):
        assert required in resources[0]


def test_export_is_itself_audited(dispensed):
    auditor, *_ = dispensed
    auditor.get("/audit-events/export?format=csv").get_data()  # recorded once the download completed
    page = auditor.ok("GET", "/audit-events?action=audit.exported")
    assert len(page["items"]) == 1 and page["items"][0]["payload"]["format"] == "csv"


def test_filters_and_cursor(dispensed):
    auditor, _, decision = dispensed
    auth_id = decision["authorization"]["id"]
    page = auditor.ok("GET", f"/audit-events?subject=authorization:{auth_id}")
    assert [e["action"] for e in page["items"]] == ["authorization.issued"]
    seen, url = [], "/audit-events"
    while url:
        page = auditor.ok("GET", url)
        seen.extend(e["id"] for e in page["items"])
        url = f"/audit-events?cursor={page['next']}" if page["next"] else None
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen))
    assert auditor.ok("GET", "/audit-events?since=2026-11-27")["items"] == []
    assert auditor.ok("GET", "/audit-events?until=2026-11-25")["items"] == []
    assert len(auditor.ok("GET", "/audit-events?since=2026-11-26&until=2026-11-26")["items"]) > 0
    assert auditor.get("/audit-events?since=yesterday").status_code == 422
    assert auditor.get("/audit-events?cursor=garbage").status_code == 422


def test_only_auditors_and_admins_read_the_trail(world, dispensed):
    _, rph = world.pharmacist_api()
    for path in ("/audit-events", "/audit-events/export?format=csv", "/audit-events/verification"):
        assert rph.get(path).status_code == 403
        assert world.anon.get(path).status_code == 401
        assert world.admin.get(path).status_code == 200


def test_lists_page_fifty_at_a_time_newest_first(world):
    created = [world.pharmacy()["id"] for _ in range(53)]
    first = world.admin.ok("GET", "/pharmacies")
    assert len(first["items"]) == 50 and first["next"]
    second = world.admin.ok("GET", f"/pharmacies?cursor={first['next']}")
    assert second["next"] is None
    ids = [p["id"] for p in first["items"] + second["items"]]
    assert ids == sorted(created, reverse=True)


@pytest.mark.parametrize("value,read_back", [
    ('{"a":"b, c"}', '{"a":"b, c"}'), ("plain", "plain"), ("=SUM(A1)", "'=SUM(A1)"), ("line\nbreak", "line\nbreak"),
    ('quote " inside', 'quote " inside'), ("-1", "'-1"), ("", ""),
])
def test_csv_cells_read_back_with_the_csv_module(value, read_back):
    line = f"1,{csv_cell(value)},end\r\n"
    assert next(csv.reader(io.StringIO(line))) == ["1", read_back, "end"]


def _strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def test_every_fhir_line_validates_as_r4b_and_says_its_outcome(world, app):
    """INTEROP.md §4.4: no empty string anywhere, and `outcome` 4 for a failed sign-in and for a
    refused dispense's decision, 0 otherwise (every line said 0 before, and `policy` was "" for
    events without one)."""
    from fhir.resources.R4B.auditevent import AuditEvent

    from pharmsafe.runtime import runtime_of
    from pharmsafe.services import signin

    rph, _, _, _, decision = world.authorized()
    refused = rph.post(f"/authorizations/{decision['authorization']['id']}/dispense",
                       json={"quantity": 60, "rma_number": "", "rma_do_not_dispense_after": "2027-12-31"})
    assert refused.status_code == 409
    runtime = runtime_of(app)
    with runtime.session_factory() as session:
        with pytest.raises(signin.SignInRefused):
            signin.sign_in(runtime.ctx(session, "anonymous"), "nobody@example.com", "wrong", "10.0.0.9")
        session.commit()  # the refusal's record, as the sign-in page commits it
    _, auditor = world.user("auditor")
    events = {e["id"]: e for e in map(json.loads, auditor.get("/audit-events/export?format=ndjson")
                                      .get_data(as_text=True).splitlines())}
    lines = auditor.get("/audit-events/export?format=fhir").get_data(as_text=True).splitlines()
    assert len(lines) == len(events) + 1 > 10  # and the ndjson export's own audit.exported
    outcomes = {}
    for line in lines:
        resource = json.loads(line)
        event = events.get(int(resource["id"]))
        if event is None:
            continue
        AuditEvent.model_validate(resource)  # raises on anything R4B refuses
        assert "" not in set(_strings(resource)), event["action"]
        outcomes[(event["action"], event["payload"].get("stage"), event["payload"].get("outcome"))] = \
            resource["outcome"]
    assert outcomes[("user.login_failed", None, None)] == "4"
    assert outcomes[("decision.recorded", "dispense", "blocked")] == "4"
    assert outcomes[("decision.recorded", "evaluation", "authorized")] == "0"
    assert outcomes[("user.created", None, None)] == "0"


def test_every_write_says_where_it_came_in_and_the_trail_filters_by_it(world, app, dispensed):
    """DESIGN.md §2: every write's payload carries `source`; GET /audit-events?source= keeps the
    events whose payload says so; the records keep it too."""
    auditor, dispense, decision = dispensed
    with runtime_of(app).unit_of_work("system:test") as c:  # a CLI-like write, by no request
        record_pregnancy_test(c, c.session.get(Prescription, decision["prescription_id"]).patient_id,
                              {"specimen_collected_on": date(2026, 11, 20), "result": "negative",
                               "specimen": "serum", "setting": "medical", "clia_number": "12D3456789"})
    api_events = auditor.ok("GET", "/audit-events?source=api")["items"]
    assert api_events and {e["payload"]["source"] for e in api_events} == {"api"}
    assert {"dispense.recorded", "evidence.recorded", "prescription.submitted"} <= {e["action"] for e in api_events}
    system_events = auditor.ok("GET", "/audit-events?source=system&action=evidence.recorded")["items"]
    assert len(system_events) == 1 and system_events[0]["payload"]["source"] == "system"
    assert auditor.ok("GET", "/audit-events?source=fhir")["items"] == []
    refused = auditor.get("/audit-events?source=fax")
    assert refused.status_code == 422 and "source" in refused.get_json()["error"]["fields"]
    with runtime_of(app).session_factory() as s:
        assert {t.source for t in s.scalars(select(PregnancyTest))} == {"api", "system"}
        assert {rx.source for rx in s.scalars(select(Prescription))} == {"api"}


def test_an_export_keeps_its_source_filter_apart_from_its_own_source(dispensed):
    auditor, *_ = dispensed
    auditor.get("/audit-events/export?format=csv&source=api").get_data()
    [event] = auditor.ok("GET", "/audit-events?action=audit.exported")["items"]
    assert event["payload"]["source"] == "api" and event["payload"]["filter_source"] == "api"
