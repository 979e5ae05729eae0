"""Where a record came from, on the patient's and the prescription's pages (form, JSON API, FHIR,
NCPDP), and the audit page's filter by it."""
from __future__ import annotations

import json
import re

from sqlalchemy import select, update

from pharmsafe.models import AuditEvent, PregnancyTest, Prescription
from pharmsafe.runtime import runtime_of
from tests.support import World


def source_of(html: str, marker: str) -> str:
    """The data-source of the first source element after ``marker`` in the page."""
    rest = html[html.index(marker):]
    return re.search(r'data-source="([^"]*)">([^<]*)<', rest).groups()


def test_the_pages_say_where_each_record_came_in(app, client, seed, signed_in):
    world = World(app, client)
    pharmacy, rph = world.pharmacist_api()
    prescriber, doc = world.prescriber_api()
    patient = world.patient(doc)
    by_api = doc.ok("POST", f"/patients/{patient['id']}/pregnancy-tests", {
        "specimen_collected_on": world.day(-3), "result": "negative", "specimen": "serum", "setting": "medical"})
    rx = world.prescription(doc, patient, pharmacy)
    assert by_api["source"] == "api" and rx["source"] == "api"
    page = signed_in(seed.user("prescriber", prescriber_id=prescriber["id"]))
    resp = page.submit(f"/prescriber/patients/{patient['id']}/pregnancy-tests/new", {
        "specimen_collected_on": world.day(-2), "result": "negative", "specimen": "serum", "setting": "medical",
        "clia_number": ""})
    assert resp.status_code == 303
    with runtime_of(app).session_factory() as s:
        tests = s.scalars(select(PregnancyTest).order_by(PregnancyTest.id)).all()
        assert [t.source for t in tests] == ["api", "web"]
        event = s.scalars(select(AuditEvent).where(AuditEvent.subject == f"pregnancy_test:{tests[1].id}")).one()
        assert json.loads(event.payload)["source"] == "web"
        s.execute(update(PregnancyTest).where(PregnancyTest.id == tests[0].id).values(source=None))
        s.commit()
    html = page.get(f"/prescriber/patients/{patient['id']}").get_data(as_text=True)
    assert source_of(html, f'data-evidence="pregnancy_test:{tests[1].id}"') == ("web", "Form")
    assert source_of(html, f'data-evidence="pregnancy_test:{tests[0].id}"') == ("", "Not recorded")
    assert source_of(html, "Registered through") == ("api", "JSON API")
    html = page.get(f"/prescriber/prescriptions/{rx['id']}").get_data(as_text=True)
    assert source_of(html, "Came in by") == ("api", "JSON API")
    with runtime_of(app).session_factory() as s:
        s.execute(update(Prescription).values(source="fhir"))
        s.commit()
    rph_page = signed_in(seed.user("pharmacist", pharmacy_id=pharmacy["id"]))
    html = rph_page.get(f"/pharmacist/prescriptions/{rx['id']}").get_data(as_text=True)
    assert source_of(html, "Came in by") == ("fhir", "FHIR")


def test_the_audit_page_filters_by_source(app, client, seed, signed_in):
    world = World(app, client)
    _, doc = world.prescriber_api()
    world.patient(doc)
    auditor = signed_in(seed.user("auditor"))
    html = auditor.get("/audit/?source=api").get_data(as_text=True)
    rows = re.findall(r'<tr data-event="\d+" data-action="([^"]+)"', html)
    assert "registry.changed" in rows and "user.login" not in rows
    assert set(re.findall(r'data-label="Came in by"><span class="source" data-source="([^"]*)"', html)) == {"api"}
    assert auditor.get("/audit/?source=fax").status_code == 422
