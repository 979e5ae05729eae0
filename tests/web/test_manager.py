"""The manager's dashboard: each chart an <svg> with its numbers in a <table> (also with no data yet)
and a CSV download; a manager sees their pharmacy's alone, an admin every pharmacy's or one; a date
range filters it, and a bad one is refused with a sentence."""
from __future__ import annotations

import csv
import io
import re

import pytest

from tests.web.conftest import text

CHARTS = ["decisions", "reasons", "dispense_time", "expired", "closing"]


@pytest.fixture
def day(seed, clock):
    """One pharmacy's day: two evaluations blocked by an 8-day-old test, one authorized and dispensed
    an hour and a half after submission, one authorized and closing today; another pharmacy's blocked one."""
    pharmacy = seed.pharmacy()
    prescriber = seed.prescriber()
    out = {"pharmacy": pharmacy, "manager": seed.user("manager", pharmacy_id=pharmacy)}
    for _ in range(2):
        patient = seed.patient(prescriber)
        seed.ready_evidence(patient, test_day=-8)
        assert seed.evaluate(seed.prescription(prescriber, patient, pharmacy)) is None
    patient = seed.patient(prescriber)
    seed.ready_evidence(patient)
    rx = seed.prescription(prescriber, patient, pharmacy)
    clock.advance(minutes=90)
    seed.dispense(seed.evaluate(rx), "RMA-DASH-1")
    patient = seed.patient(prescriber)
    seed.ready_evidence(patient, test_day=-6)
    seed.evaluate(seed.prescription(prescriber, patient, pharmacy))
    elsewhere = seed.pharmacy()
    patient = seed.patient(prescriber)
    seed.ready_evidence(patient, test_day=-8)
    seed.evaluate(seed.prescription(prescriber, patient, elsewhere))
    return out


def table(html: str, chart: str) -> dict[str, list[str]]:
    section = re.search(rf'data-dashboard="{chart}".*?</section>', html, flags=re.S).group(0)
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th>(.*?)</tr>", section, flags=re.S)
    return {label: [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", cells)]
            for label, cells in rows}


def test_every_chart_is_an_svg_with_its_table_even_with_no_data(seed, signed_in):
    manager = signed_in(seed.user("manager", pharmacy_id=seed.pharmacy()))
    resp = manager.get("/manager/")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    for chart in CHARTS:
        section = re.search(rf'data-dashboard="{chart}".*?</section>', html, flags=re.S).group(0)
        assert "<svg" in section and "<table" in section, chart


def test_a_manager_sees_their_pharmacys_numbers(day, signed_in):
    html = signed_in(day["manager"]).get("/manager/").get_data(as_text=True)
    decisions = table(html, "decisions")
    assert decisions["2026-11-26"] == ["2", "2"]  # authorized, blocked: the other pharmacy's is not counted
    assert table(html, "reasons") == {"PREGNANCY_TEST_OUTSIDE_WINDOW": ["2"]}
    assert table(html, "dispense_time") == {"median": ["1.5 h"], "90th percentile": ["1.5 h"]}
    assert table(html, "closing")["2026-11-26"] == ["1"]
    assert sum(int(v[0]) for v in table(html, "expired").values()) == 0


def test_each_chart_downloads_as_csv(day, signed_in):
    resp = signed_in(day["manager"]).get("/manager/?chart=decisions&format=csv&since=2026-11-20&until=2026-11-26")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    assert rows[0] == ["row", "authorized", "blocked"] and rows[-1] == ["2026-11-26", "2", "2"] and len(rows) == 8


def test_a_bad_range_is_refused_with_a_sentence(day, signed_in):
    manager = signed_in(day["manager"])
    for query, sentence in (("since=2026-13-01", "From must be a date written YYYY-MM-DD"),
                            ("since=2026-11-27&until=2026-11-26", "From must not be after To."),
                            ("since=2026-01-01&until=2026-11-26", "at most 92 days")):
        resp = manager.get(f"/manager/?{query}")
        assert resp.status_code == 400 and sentence in text(resp), query


def test_an_admin_sees_every_pharmacy_or_one_and_others_are_refused(day, seed, signed_in):
    admin = signed_in(seed.user("admin"))
    every = table(admin.get("/manager/").get_data(as_text=True), "decisions")["2026-11-26"]
    one = table(admin.get(f"/manager/?pharmacy={day['pharmacy']}").get_data(as_text=True), "decisions")["2026-11-26"]
    assert every == ["2", "3"] and one == ["2", "2"]
    for role in ("pharmacist", "prescriber", "auditor"):
        links = {"pharmacist": {"pharmacy_id": day["pharmacy"]}, "prescriber": {"prescriber_id": seed.prescriber()},
                 "auditor": {}}[role]
        assert signed_in(seed.user(role, **links)).get("/manager/").status_code == 403, role


def test_the_median_and_90th_percentile_interpolate_between_dispenses(seed, signed_in, clock):
    """Dispensed 1, 2 and 10 hours after submission: the median is 2 h and the 90th percentile lies
    between the last two (2 + 0.8 x 8 = 8.4 h), the same on both engines; an admin's every-pharmacy
    view counts a second pharmacy's 4 h dispense with them (median 3 h, 90th 4 + 0.7 x 6 = 8.2 h)."""
    pharmacy, elsewhere = seed.pharmacy(), seed.pharmacy()
    prescriber = seed.prescriber()
    waiting = []
    for where in (pharmacy, pharmacy, pharmacy, elsewhere):
        patient = seed.patient(prescriber)
        seed.ready_evidence(patient)
        waiting.append(seed.prescription(prescriber, patient, where))
    elapsed = 0
    for n, (rx, hours) in enumerate(sorted(zip(waiting, (1, 2, 10, 4), strict=True), key=lambda p: p[1])):
        clock.advance(hours=hours - elapsed)  # each dispensed `hours` after all four were submitted
        elapsed = hours
        seed.dispense(seed.evaluate(rx), f"RMA-P90-{n}")
    manager = signed_in(seed.user("manager", pharmacy_id=pharmacy))
    assert table(manager.get("/manager/").get_data(as_text=True), "dispense_time") == {
        "median": ["2 h"], "90th percentile": ["8.4 h"]}
    admin = signed_in(seed.user("admin"))
    assert table(admin.get("/manager/").get_data(as_text=True), "dispense_time") == {
        "median": ["3 h"], "90th percentile": ["8.2 h"]}
