"""The pharmacist's queue leads with what needs action: closing today (with the hour), closing in
the next 48 hours, blocked with the failing gates' reasons, waiting for evaluation; each item says
what happens next and who must act. Search reaches a date of birth and a prescription number. A
prescription's page puts its status, deadline and the one action that fits above the checklist.

The fixed clock reads 2026-11-26 10:00 in New York; a confirmatory test collected `test_day` days
ago keeps a 7-day window whose last day is test_day + 6 (−6 closes today, −5 tomorrow)."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest

from pharmsafe.runtime import runtime_of
from pharmsafe.web.worklist import blocked_step, deadline_kind, end_of_day
from tests.web.conftest import text

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # 10:00 in New York


def worklist(html: str, kind: str) -> str:
    """The HTML of one worklist ('' when the queue does not show it)."""
    match = re.search(rf'<section class="worklist [^"]*" data-worklist="{kind}".*?</section>', html, flags=re.S)
    return match.group(0) if match else ""


def items(html: str, kind: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-work-item="(\d+)"', worklist(html, kind))]


def plain(fragment: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


@pytest.fixture
def pharmacy(seed):
    """A pharmacy with its pharmacist and a prescriber."""
    pharmacy = seed.pharmacy()
    return {"pharmacy": pharmacy, "prescriber": seed.prescriber(),
            "pharmacist": seed.user("pharmacist", pharmacy_id=pharmacy)}


def prescription(seed, where, *, test_day=-2, evaluate=True, **prescriber_over) -> int:
    prescriber = seed.prescriber(**prescriber_over) if prescriber_over else where["prescriber"]
    patient = seed.patient(prescriber)
    seed.ready_evidence(patient, test_day=test_day)
    rx = seed.prescription(prescriber, patient, where["pharmacy"])
    if evaluate:
        seed.evaluate(rx)
    return rx


# The deadline's list, at its boundaries.
def test_a_deadline_before_tomorrow_starts_in_the_zone_closes_today_and_one_at_midnight_does_not():
    midnight = datetime(2026, 11, 27, 0, 0, tzinfo=NY)
    assert end_of_day(NOW, NY) == midnight
    assert deadline_kind(midnight - timedelta(microseconds=1), NOW, NY) == "closing_today"
    assert deadline_kind(midnight, NOW, NY) == "closing_soon"
    assert deadline_kind(NOW - timedelta(hours=1), NOW, NY) == "closing_today"  # passed, not yet expired


def test_the_48_hours_end_exactly_48_hours_from_now():
    assert deadline_kind(NOW + timedelta(hours=48) - timedelta(seconds=1), NOW, NY) == "closing_soon"
    assert deadline_kind(NOW + timedelta(hours=48), NOW, NY) is None


def test_today_is_the_zones_today_not_utcs():
    late = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)  # 23:00 on the 26th in New York
    assert deadline_kind(datetime(2026, 11, 27, 4, 59, 59, tzinfo=NY), late, NY) == "closing_soon"
    assert deadline_kind(datetime(2026, 11, 26, 23, 59, 59, tzinfo=NY), late, NY) == "closing_today"


def test_the_blocked_step_names_who_acts_on_the_first_failing_gate():
    class Decision:
        gates = [{"gate": "prescriber", "status": "fail", "message": "Expired.", "unblock": "Renew it."},
                 {"gate": "pregnancy_test", "status": "fail", "message": "Old.", "unblock": "Record a test."},
                 {"gate": "labs", "status": "pass", "message": "Fine."}]
    actor, step, reasons = blocked_step(Decision())
    assert actor == "Administrator" and step == "Renew it (1 more below); then the pharmacist evaluates again."
    assert [(r.label, r.message) for r in reasons] == [("Prescriber", "Expired."), ("Pregnancy test", "Old.")]
    Decision.gates = [{"gate": "rems_authorization", "status": "fail", "message": "No RMA.", "unblock": "Get one."}]
    assert blocked_step(Decision())[:2] == ("Pharmacist", "Get one; then evaluate again.")


# The queue.
def test_the_queue_leads_with_closing_today_with_its_hour_then_the_next_48_hours(seed, pharmacy, signed_in):
    today = prescription(seed, pharmacy, test_day=-6)      # last day 11-26: closes today 23:59
    tomorrow = prescription(seed, pharmacy, test_day=-5)   # 11-27 23:59, 37 h away
    later = prescription(seed, pharmacy, test_day=-4)      # 11-28 23:59, 61 h away
    html = signed_in(pharmacy["pharmacist"]).get("/pharmacist/").get_data(as_text=True)

    assert items(html, "closing_today") == [today]
    assert items(html, "closing_soon") == [tomorrow]
    assert later not in items(html, "closing_today") + items(html, "closing_soon")
    closing = plain(worklist(html, "closing_today"))
    assert "Closes today at 23:59 EST" in closing and "13 h 59 min left" in closing
    assert 'class="badge due-closing_today"' in worklist(html, "closing_today")
    assert "Pharmacist : Dispense before 23:59 today" in closing
    assert "Closes 2026-11-27 23:59 EST" in plain(worklist(html, "closing_soon"))
    # The lists come before the full list, which marks the same urgency.
    assert html.index('data-worklist="closing_today"') < html.index('data-worklist="closing_soon"') \
        < html.index('id="all-heading"')
    row = re.search(rf'<tr data-prescription="{today}".*?</tr>', html, flags=re.S).group(0)
    assert "due-closing_today" in row and "Pharmacist: dispense" in row


def test_a_blocked_prescription_lists_its_reasons_and_who_must_act(seed, pharmacy, signed_in):
    stale = prescription(seed, pharmacy, test_day=-8)  # window closed yesterday
    lapsed = prescription(seed, pharmacy, rems_certified_until=seed.day(-1))
    waiting = prescription(seed, pharmacy, evaluate=False)
    html = signed_in(pharmacy["pharmacist"]).get("/pharmacist/").get_data(as_text=True)

    assert items(html, "blocked") == [lapsed, stale]
    assert items(html, "waiting") == [waiting]
    blocked = worklist(html, "blocked")
    stale_item = plain(re.search(rf'data-work-item="{stale}".*?</li>\s*</ul>\s*<p class="next-step">.*?</p>',
                                 blocked, flags=re.S).group(0))
    assert "Pregnancy test:" in stale_item and "Prescriber :" in stale_item
    assert "then the pharmacist evaluates again" in stale_item
    lapsed_item = plain(re.search(rf'data-work-item="{lapsed}".*?<p class="next-step">.*?</p>', blocked,
                                  flags=re.S).group(0))
    assert "Prescriber: The prescriber's REMS certification expired on 2026-11-25." in lapsed_item
    assert "Administrator : Renew the prescriber's REMS certification" in lapsed_item
    assert "Pharmacist : Evaluate: run every gate" in plain(worklist(html, "waiting"))


def test_the_lists_lead_only_the_unfiltered_first_page(seed, pharmacy, signed_in):
    prescription(seed, pharmacy, evaluate=False)
    rph = signed_in(pharmacy["pharmacist"])
    assert 'data-worklist="waiting"' in rph.get("/pharmacist/").get_data(as_text=True)
    for query in ("?status=submitted", "?q=Mia", "?page=2"):
        assert "data-worklist" not in rph.get(f"/pharmacist/{query}").get_data(as_text=True), query


def test_an_empty_day_says_so(pharmacy, signed_in):
    html = signed_in(pharmacy["pharmacist"]).get("/pharmacist/").get_data(as_text=True)
    assert "data-worklists-empty" in html and "data-worklist=" not in html


def test_search_by_date_of_birth_and_prescription_number(seed, pharmacy, signed_in, app):
    rx = prescription(seed, pharmacy, evaluate=False)
    other = prescription(seed, pharmacy, evaluate=False)
    from pharmsafe.models import Patient, Prescription
    with runtime_of(app).session_factory() as s:
        patient = s.get(Patient, s.get(Prescription, rx).patient_id)
        s.get(Patient, s.get(Prescription, other).patient_id).date_of_birth = patient.date_of_birth.replace(
            year=patient.date_of_birth.year - 1)
        s.commit()
    rph = signed_in(pharmacy["pharmacist"])

    def found(query):
        html = rph.get("/pharmacist/", query_string={"q": query}).get_data(as_text=True)
        return [int(n) for n in re.findall(r'<tr data-prescription="(\d+)"', html)]

    assert found(patient.date_of_birth.isoformat()) == [rx]
    assert found(f"#{rx}") == [rx] and found(f"#{other}") == [other]
    assert other in found(str(other))  # digits alone: the number, or digits in a name or REMS ID
    assert found(f"{patient.date_of_birth.isoformat()} #{other}") == []  # every word must match
    assert found("2026-02-30") == [] and found("#") == []  # no such day; a bare #
    assert rph.get("/pharmacist/", query_string={"q": "9" * 40}).status_code == 200


# The prescription's page.
def test_a_blocked_prescription_shows_its_reasons_and_evaluate_above_the_checklist(seed, pharmacy, signed_in):
    rx = prescription(seed, pharmacy, test_day=-8)
    resp = signed_in(pharmacy["pharmacist"]).get(f"/pharmacist/prescriptions/{rx}")
    html, body = resp.get_data(as_text=True), text(resp)
    assert "see what is missing below" not in body
    assert "Cannot be dispensed until what is listed here is resolved." in body
    assert 'data-next-action="evaluate"' in html
    order = [html.index(marker) for marker in ('data-outcome="blocked"', 'id="blocked-heading"',
                                               'data-action="evaluate"', 'id="gates-heading"')]
    assert order == sorted(order)


def test_an_authorized_prescription_puts_the_deadline_and_dispense_first(seed, pharmacy, signed_in):
    rx = prescription(seed, pharmacy)
    html = signed_in(pharmacy["pharmacist"]).get(f"/pharmacist/prescriptions/{rx}").get_data(as_text=True)
    assert 'data-next-action="dispense"' in html
    order = [html.index(marker) for marker in ('data-dispense-by', 'data-action="dispense"', 'id="gates-heading"',
                                               'data-action="evaluate"', 'data-action="reverse"')]
    assert order == sorted(order)
    assert html.count('data-action="evaluate"') == 1 and html.count('data-action="dispense"') == 1
