"""The people's paths in a real browser: a prescriber registers a patient, records the evidence and
submits a prescription; a pharmacist evaluates, sees every gate pass, dispenses with an RMA number,
and a second dispense is refused; a stale pregnancy test fails its row with the unblock hint; an
auditor downloads the CSV; a pharmacist gets 403 on the audit page; an admin lapses a license and
sees the authorization reversed. Each screen is saved as a PNG in tests/screenshots/."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil

import pytest

from tests.web.browser.conftest import ROOT, chromium_or_skip, screenshot

chromium_or_skip()
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser

DOCS_SCREENSHOT = ROOT / "docs" / "screenshots" / "pharmacist-prescription.png"
PASSING = {"pass", "not_applicable"}


def gate_statuses(page) -> dict[str, str]:
    rows = page.locator("[data-gate]")
    return {rows.nth(i).get_attribute("data-gate"): rows.nth(i).get_attribute("data-status")
            for i in range(rows.count())}


def record_pregnancy_test(page, collected_on: str) -> None:
    page.get_by_role("link", name="Record pregnancy test").click()
    page.get_by_label("Specimen collected on").fill(collected_on)
    page.get_by_label("Result").select_option("negative")
    page.get_by_label("Specimen", exact=True).select_option("serum")
    page.get_by_label("Setting").select_option("medical")
    page.get_by_label("CLIA number").fill("05D1234567")
    page.get_by_role("button", name="Record a pregnancy test").click()
    expect(page.get_by_text("Pregnancy test recorded.")).to_be_visible()


def record_lab(page, test: str, value: str, unit: str, collected_on: str) -> None:
    page.get_by_role("link", name="Record lab result").click()
    page.get_by_label("Test", exact=True).select_option(test)
    page.get_by_label("Value").fill(value)
    page.get_by_label("Unit").select_option(unit)
    page.get_by_label("Collected on").fill(collected_on)
    page.get_by_role("button", name="Record a lab result").click()
    expect(page.get_by_text("Lab result recorded.")).to_be_visible()


def record_attestation(page, kind: str, attested_on: str, methods: tuple[str, ...] = ()) -> None:
    page.get_by_role("link", name="Record attestation").click()
    page.get_by_label("Kind").select_option(kind)
    page.get_by_label("Attested on").fill(attested_on)
    for method in methods:
        page.get_by_label(method).check()
    page.get_by_role("button", name="Record an attestation").click()
    expect(page.get_by_text("Attestation recorded.")).to_be_visible()


def test_prescriber_submits_and_pharmacist_dispenses_once(live, person):
    seed = live.seed
    pharmacy = seed.pharmacy(name="Riverside Community Pharmacy")
    prescriber = seed.prescriber(first_name="Grace", last_name="Hopper")
    doctor = seed.user("prescriber", email="grace.hopper@clinic.example", prescriber_id=prescriber)
    pharmacist = seed.user("pharmacist", email="rph@riverside.example", pharmacy_id=pharmacy)

    # The prescriber registers a patient.
    doc = person(doctor)
    expect(doc).to_have_url(re.compile(r"/prescriber/$"))
    doc.get_by_role("link", name="New patient").click()
    doc.get_by_role("button", name="Register patient").click()
    expect(doc.locator("#f-first-name-error")).to_have_text("This field is required.")
    screenshot(doc, "prescriber-new-patient-errors")
    doc.get_by_label("First name").fill("Maya")
    doc.get_by_label("Last name").fill("Okafor")
    doc.get_by_label("Date of birth").fill("2001-04-05")
    doc.get_by_label("Can get pregnant", exact=True).check()
    doc.get_by_label("REMS patient ID").fill("IPL-2044")
    doc.get_by_label("Enrolled on").fill("2026-09-01")
    doc.get_by_role("button", name="Register patient").click()
    expect(doc.get_by_role("heading", name="Maya Okafor")).to_be_visible()

    # Tests, labs (one refused first, then corrected) and attestations.
    record_pregnancy_test(doc, "2026-10-25")
    record_pregnancy_test(doc, "2026-11-24")
    doc.get_by_role("link", name="Record lab result").click()
    doc.get_by_label("Test", exact=True).select_option("ALT")
    doc.get_by_label("Value").fill("twenty")
    doc.get_by_label("Unit").select_option("U/L")
    doc.get_by_label("Collected on").fill("2026-11-21")
    doc.get_by_role("button", name="Record a lab result").click()
    expect(doc.locator("#f-value-error")).to_have_text("Not a valid number.")
    expect(doc.get_by_label("Value")).to_have_value("twenty")
    screenshot(doc, "prescriber-lab-result-error")
    doc.get_by_label("Value").fill("25")
    doc.get_by_role("button", name="Record a lab result").click()
    expect(doc.get_by_text("Lab result recorded.")).to_be_visible()
    for test, value, unit in (("AST", "22", "U/L"), ("TRIGLYCERIDES", "150", "mg/dL"),
                              ("TOTAL_CHOLESTEROL", "4.6", "mmol/L")):
        record_lab(doc, test, value, unit, "2026-11-21")
    record_attestation(doc, "contraception", "2026-11-25", ("Intrauterine device (IUD)", "Male condom"))
    record_attestation(doc, "comprehension", "2026-11-25")
    record_attestation(doc, "counseling", "2026-11-25")
    screenshot(doc, "prescriber-patient")

    # The prescription goes to the pharmacy.
    doc.get_by_role("link", name="Submit prescription").click()
    doc.get_by_label("Pharmacy", exact=True).select_option(str(pharmacy))
    doc.get_by_label("Strength (mg)").fill("20")
    doc.get_by_label("Quantity").fill("60")
    doc.get_by_label("Days' supply").fill("30")
    doc.get_by_role("button", name="Submit prescription").click()
    expect(doc.locator("[data-outcome]")).to_have_attribute("data-outcome", "submitted")
    rx_url = doc.url
    rx_id = rx_url.rstrip("/").rsplit("/", 1)[1]

    # The pharmacist finds it in the queue and evaluates it: every gate passes.
    rph = person(pharmacist)
    expect(rph).to_have_url(re.compile(r"/pharmacist/$"))
    rph.get_by_label("Search by patient or prescriber").fill("okafor")
    rph.get_by_role("button", name="Search").click()
    screenshot(rph, "pharmacist-queue")
    rph.get_by_role("link", name=f"#{rx_id}").click()
    expect(rph.locator("[data-outcome]")).to_have_attribute("data-outcome", "submitted")
    rph.get_by_role("button", name="Evaluate").click()
    expect(rph.locator("[data-outcome]")).to_have_attribute("data-outcome", "authorized")
    statuses = gate_statuses(rph)
    assert len(statuses) == 10 and set(statuses.values()) <= PASSING, statuses
    assert statuses["pregnancy_test"] == "pass"
    expect(rph.get_by_text("Dispense by 2026-11-30 23:59:59 EST")).to_be_visible()
    shot = screenshot(rph, "pharmacist-prescription")
    if os.environ.get("PHARMSAFE_UPDATE_DOCS_SCREENSHOT") == "1" or not DOCS_SCREENSHOT.exists():
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)
    phone = person(pharmacist, width=390, height=844)
    phone.goto(rph.url)
    screenshot(phone, "pharmacist-prescription-phone")
    phone.goto("/pharmacist/")
    screenshot(phone, "pharmacist-queue-phone")

    # A second tab holds the same form; the first tab dispenses with the RMA number.
    second = rph.context.new_page()
    second.goto(rph.url)
    rph.get_by_label("RMA number").fill("RMA-7731")
    rph.get_by_role("button", name="Dispense").click()
    expect(rph.locator("[data-outcome]")).to_have_attribute("data-outcome", "dispensed")
    expect(rph.get_by_text("Dispensed and recorded.")).to_be_visible()
    screenshot(rph, "pharmacist-dispensed")

    # The second dispense is refused.
    second.get_by_label("RMA number").fill("RMA-7732")
    second.get_by_role("button", name="Dispense").click()
    expect(second.get_by_role("alert")).to_contain_text("has already been dispensed")
    expect(second.locator("[data-outcome]")).to_have_attribute("data-outcome", "dispensed")
    screenshot(second, "pharmacist-second-dispense-refused")

    # The prescriber sees the result on their side.
    doc.goto(rx_url)
    expect(doc.locator("[data-outcome]")).to_have_attribute("data-outcome", "dispensed")


def test_a_test_collected_eight_days_ago_fails_its_row_with_the_unblock_hint(live, person):
    scene = live.seed.scene(test_day=-8)
    rph = person(scene["pharmacist"])
    rph.goto(f"/pharmacist/prescriptions/{scene['rx']}")
    rph.get_by_role("button", name="Evaluate").click()
    expect(rph.locator("[data-outcome]")).to_have_attribute("data-outcome", "blocked")
    row = rph.locator('[data-gate="pregnancy_test"]')
    expect(row).to_have_attribute("data-status", "fail")
    expect(row).to_contain_text("collected 2026-11-18")
    expect(row).to_contain_text("To unblock: Record a negative confirmatory pregnancy test")
    expect(rph.get_by_role("heading", name="What is missing")).to_be_visible()
    assert [s for s in gate_statuses(rph).values() if s == "fail"] == ["fail"]
    expect(rph.get_by_role("button", name="Dispense")).to_have_count(0)
    screenshot(rph, "pharmacist-blocked")
    phone = person(scene["pharmacist"], width=390, height=844)
    phone.goto(rph.url)
    screenshot(phone, "pharmacist-blocked-phone")


def test_auditor_downloads_the_csv_and_finds_the_dispense(live, person):
    seed = live.seed
    scene = seed.scene()
    dispense_id = seed.dispense(seed.evaluate(scene["rx"]), "RMA-AUDIT-55")
    auditor = person(seed.user("auditor"))
    expect(auditor).to_have_url(re.compile(r"/audit/$"))
    screenshot(auditor, "audit")
    with auditor.expect_download() as download:
        auditor.get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename == "audit-events.csv"
    with open(download.value.path(), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    dispenses = [r for r in rows if r["action"] == "dispense.recorded" and r["subject"] == f"dispense:{dispense_id}"]
    assert len(dispenses) == 1 and json.loads(dispenses[0]["payload"])["rma_number"] == "RMA-AUDIT-55"
    auditor.get_by_role("button", name="Verify chain").click()
    expect(auditor.locator("[data-intact]")).to_have_attribute("data-intact", "true")
    screenshot(auditor, "audit-verification")


def test_a_pharmacist_gets_403_on_the_audit_page(live, person):
    rph = person(live.seed.user("pharmacist", pharmacy_id=live.seed.pharmacy()))
    response = rph.goto("/audit/")
    assert response.status == 403
    expect(rph.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(rph.get_by_role("button", name="Sign out")).to_be_visible()
    screenshot(rph, "forbidden")


def test_an_admin_lapses_a_license_and_sees_the_authorization_reversed(live, person):
    seed = live.seed
    scene = seed.scene(evaluate=True)
    admin = person(seed.user("admin"))
    expect(admin).to_have_url(re.compile(r"/admin/$"))
    admin.get_by_role("link", name="Prescribers").first.click()
    admin.locator(f'a[href="/admin/prescribers/{scene["prescriber"]}"]').click()
    admin.get_by_label("License expires on").fill("2026-11-25")
    admin.get_by_role("button", name="Save").click()
    expect(admin.get_by_role("status").filter(has_text="reversed")).to_contain_text(
        f"This change reversed 1 authorization: #{scene['auth']} (prescription #{scene['rx']}, "
        "reason: prescriber_license_lapsed).")
    screenshot(admin, "admin-license-lapsed")
    rph = person(scene["pharmacist"])
    rph.goto(f"/pharmacist/prescriptions/{scene['rx']}")
    expect(rph.locator("[data-outcome]")).to_have_attribute("data-outcome", "reversed")


def test_sign_in_with_a_wrong_password_and_sign_out(live, person):
    email = live.seed.user("auditor")
    page = person(None, width=390, height=844)
    page.goto("/audit/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Email or password is incorrect.")
    screenshot(page, "login-failed-phone")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/audit/$"))
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
