"""A patient's course on one page, newest first, each record with its audit events: for the
prescriber (their patient), the pharmacist (with the prescriptions routed to their pharmacy) and the
auditor (one prescription, people's names beside their ids, linked to the trail)."""
from __future__ import annotations

import re

from tests.web.conftest import text


def entries(resp) -> list[str]:
    return re.findall(r'data-course="([a-z_]+:\d+)"', resp.get_data(as_text=True))


def test_the_prescriber_sees_the_whole_course_newest_first_with_audit_events(seed, signed_in, clock):
    scene = seed.scene(test_day=-8)
    assert seed.evaluate(scene["rx"]) is None  # blocked
    clock.advance(minutes=1)
    new_test = seed.pregnancy_test(scene["patient"], 0)  # re-evaluates: authorized
    doc = signed_in(scene["doctor"])
    resp = doc.get(f"/prescriber/patients/{scene['patient']}/course")
    assert resp.status_code == 200
    shown = entries(resp)
    # The newest first: the re-evaluation's authorization and decision after the test that ran it.
    assert shown[:3] == ["authorization:1", "decision:2", f"pregnancy_test:{new_test}"], shown
    assert f"prescription:{scene['rx']}" in shown and "decision:1" in shown
    kinds = {s.split(":")[0] for s in shown}
    assert kinds == {"authorization", "decision", "pregnancy_test", "lab_result", "attestation", "prescription"}
    body = text(resp)
    assert "automatically, when pregnancy_test:" in body and "By system:reevaluation" in body
    assert re.search(r"#\d+ evidence\.recorded", body) and re.search(r"#\d+ decision\.recorded", body)


def test_the_pharmacist_sees_only_prescriptions_routed_to_their_pharmacy(seed, signed_in):
    scene = seed.scene(evaluate=True)
    elsewhere = seed.prescription(scene["prescriber"], scene["patient"], seed.pharmacy())
    rph = signed_in(scene["pharmacist"])
    shown = entries(rph.get(f"/pharmacist/prescriptions/{scene['rx']}/course"))
    assert f"prescription:{scene['rx']}" in shown and f"prescription:{elsewhere}" not in shown
    assert any(s.startswith("pregnancy_test:") for s in shown)
    other = signed_in(seed.user("pharmacist", pharmacy_id=seed.pharmacy()))
    assert other.get(f"/pharmacist/prescriptions/{scene['rx']}/course").status_code == 403


def test_the_auditor_sees_one_prescription_with_names_beside_ids_and_links_to_the_trail(seed, signed_in):
    scene = seed.scene()
    other = seed.prescription(scene["prescriber"], scene["patient"], scene["pharmacy"])
    rph = signed_in(scene["pharmacist"])
    rph.submit(f"/pharmacist/prescriptions/{scene['rx']}/evaluate", page=f"/pharmacist/prescriptions/{scene['rx']}")
    auditor = signed_in(seed.user("auditor"))
    resp = auditor.get(f"/audit/prescriptions/{scene['rx']}")
    html, shown = resp.get_data(as_text=True), entries(resp)
    assert resp.status_code == 200 and f"prescription:{other}" not in shown and "decision:1" in shown
    assert f"{scene['pharmacist']} (pharmacist)" in text(resp)
    assert 'href="/audit/?subject=decision:1"' in html
    assert auditor.get("/audit/prescriptions/99999").status_code == 404
    assert signed_in(scene["doctor"]).get(f"/audit/prescriptions/{scene['rx']}").status_code == 403
