"""The people's paths in a real browser: a prescriber registers a patient, records the evidence and
submits a prescription; a pharmacist evaluates, sees every gate pass, dispenses with an RMA number
and its do-not-dispense-after date, and a second dispense is refused; a stale pregnancy test fails
its row with the unblock hint; a positive pregnancy test locks the patient until the prescriber
records a clearance, after which the pharmacist dispenses; an auditor downloads the CSV; a
pharmacist gets 403 on the audit page; an admin lapses a license and sees the authorization
reversed. Each screen is saved as a PNG in tests/screenshots/."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil

import pytest

from tests.web.browser.conftest import ROOT, chromium_or_skip, screenshot
from tests.web.seed import PASSWORD

chromium_or_skip()
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser

DOCS_SCREENSHOT = ROOT / "docs" / "screenshots" / "pharmacist-prescription.png"
DOCS_LOCKED_SCREENSHOT = ROOT / "docs" / "screenshots" / "pharmacist-patient-locked.png"
DOCS_QUEUE_SCREENSHOT = ROOT / "docs" / "screenshots" / "pharmacist-queue.png"
DOCS_DASHBOARD_SCREENSHOT = ROOT / "docs" / "screenshots" / "manager-dashboard.png"
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
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
    rph.get_by_label("Search", exact=True).fill("okafor")
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
    docs_copy(screenshot(rph, "pharmacist-prescription"), DOCS_SCREENSHOT)
    phone = person(pharmacist, width=390, height=844)
    phone.goto(rph.url)
    screenshot(phone, "pharmacist-prescription-phone")
    phone.goto("/pharmacist/")
    screenshot(phone, "pharmacist-queue-phone")

    # A second tab holds the same form; the first tab dispenses with the RMA number.
    second = rph.context.new_page()
    second.goto(rph.url)
    rph.get_by_label("RMA number").fill("RMA-7731")
    rph.get_by_label("Do not dispense after").fill("2026-11-30")
    rph.get_by_role("button", name="Dispense").click()
    expect(rph.locator("[data-outcome]")).to_have_attribute("data-outcome", "dispensed")
    expect(rph.get_by_text("Dispensed and recorded.")).to_be_visible()
    screenshot(rph, "pharmacist-dispensed")

    # The second dispense is refused.
    second.get_by_label("RMA number").fill("RMA-7732")
    second.get_by_label("Do not dispense after").fill("2026-11-30")
    second.get_by_role("button", name="Dispense").click()
    expect(second.get_by_role("alert")).to_contain_text("has already been dispensed")
    expect(second.locator("[data-outcome]")).to_have_attribute("data-outcome", "dispensed")
    screenshot(second, "pharmacist-second-dispense-refused")

    # The prescriber sees the result on their side.
    doc.goto(rx_url)
    expect(doc.locator("[data-outcome]")).to_have_attribute("data-outcome", "dispensed")


def docs_copy(shot, target) -> None:
    """Keep a screen in docs/screenshots/: written when missing, replaced on request."""
    if os.environ.get("PHARMSAFE_UPDATE_DOCS_SCREENSHOT") == "1" or not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)


def test_a_positive_test_locks_the_patient_until_the_prescribers_clearance(live, person):
    seed = live.seed
    scene = seed.scene()
    positive = seed.pregnancy_test(scene["patient"], -47, result="positive")
    rx_url = f"/pharmacist/prescriptions/{scene['rx']}"

    # The pharmacist sees the lock at a glance, in the queue and on the prescription.
    rph = person(scene["pharmacist"])
    row = rph.locator(f'tr[data-prescription="{scene["rx"]}"]')
    expect(row).to_contain_text("Locked: positive pregnancy test 2026-10-10")
    rph.goto(rx_url)
    banner = rph.locator("section.lock")
    expect(banner.get_by_role("heading", name="Patient locked by a positive pregnancy test collected 2026-10-10"))\
        .to_be_visible()
    expect(banner).to_contain_text("Two ways out: the prescriber records a pregnancy_excluded clearance dated "
                                   "2026-10-10 or later")
    expect(banner).to_contain_text(f"or the prescriber marks test {positive} entered in error")
    rph.get_by_role("button", name="Evaluate").click()
    expect(rph.locator("[data-outcome]")).to_have_attribute("data-outcome", "blocked")
    expect(rph.locator('[data-gate="pregnancy_test"]')).to_have_attribute("data-status", "fail")
    expect(rph.locator('[data-gate="pregnancy_test"]')).to_contain_text("PREGNANCY_TEST_POSITIVE")
    expect(rph.get_by_role("button", name="Dispense")).to_have_count(0)
    shot = screenshot(rph, "pharmacist-patient-locked")
    docs_copy(shot, DOCS_LOCKED_SCREENSHOT)
    phone = person(scene["pharmacist"], width=390, height=844)
    phone.goto(rx_url)
    screenshot(phone, "pharmacist-patient-locked-phone")

    # The prescriber rules pregnancy out and records the clearance from the banner's link.
    live.clock.advance(minutes=2)
    doc = person(scene["doctor"])
    doc.goto(f"/prescriber/patients/{scene['patient']}")
    expect(doc.locator("section.lock")).to_contain_text("collected 2026-10-10")
    screenshot(doc, "prescriber-patient-locked")
    doc.get_by_role("link", name="Record a pregnancy-excluded clearance").click()
    expect(doc.get_by_label("Kind")).to_have_value("pregnancy_excluded")
    doc.get_by_role("button", name="Record an attestation").click()
    expect(doc.locator("#f-note-error")).to_contain_text("needs a note")
    screenshot(doc, "prescriber-clearance-note-missing")
    doc.get_by_label("Note").fill("Quantitative serum hCG < 5 mIU/mL on 2026-11-26; the positive was a false positive.")
    doc.get_by_role("button", name="Record an attestation").click()
    expect(doc.get_by_text("Attestation recorded.")).to_be_visible()
    expect(doc.locator("section.lock")).to_have_count(0)
    expect(doc.get_by_text("Quantitative serum hCG < 5 mIU/mL")).to_be_visible()

    # The pharmacist evaluates again and dispenses with the RMA number and its date.
    rph.goto(rx_url)
    expect(rph.locator("section.lock")).to_have_count(0)
    rph.get_by_role("button", name="Evaluate").click()
    expect(rph.locator("[data-outcome]")).to_have_attribute("data-outcome", "authorized")
    rph.get_by_label("RMA number").fill("RMA-8801")
    rph.get_by_role("button", name="Dispense").click()
    expect(rph.get_by_role("alert").first).to_contain_text("no RMA do-not-dispense-after date")
    expect(rph.get_by_label("RMA number")).to_have_value("RMA-8801")
    screenshot(rph, "pharmacist-rma-date-missing")
    rph.get_by_label("Do not dispense after").fill("2026-11-29")
    rph.get_by_role("button", name="Dispense").click()
    expect(rph.locator("[data-outcome]")).to_have_attribute("data-outcome", "dispensed")
    expect(rph.get_by_text("RMA number RMA-8801 (do not dispense after 2026-11-29)")).to_be_visible()
    screenshot(rph, "pharmacist-dispensed-after-clearance")


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


def worklist_scene(seed) -> dict:
    """One pharmacy's day: a window closing today, one tomorrow, a blocked prescription and one
    waiting for evaluation (the clock reads 2026-11-26 10:00 in New York)."""
    pharmacy, prescriber = seed.pharmacy(), seed.prescriber()
    out = {"pharmacist": seed.user("pharmacist", pharmacy_id=pharmacy), "pharmacy": pharmacy}
    for name, test_day, evaluate in (("today", -6, True), ("tomorrow", -5, True), ("blocked", -8, True),
                                     ("waiting", -2, False)):
        patient = seed.patient(prescriber)
        seed.ready_evidence(patient, test_day=test_day)
        out[name] = seed.prescription(prescriber, patient, pharmacy)
        if evaluate:
            seed.evaluate(out[name])
    return out


def bottom_in_screens(page, locator) -> float:
    """Where the element ends, in screens from the top of the page (1.0: the bottom of the first)."""
    box = locator.bounding_box()
    scrolled = page.evaluate("window.scrollY")
    return (box["y"] + scrolled + box["height"]) / page.viewport_size["height"]


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_queue_leads_with_what_needs_action_and_the_page_with_the_one_action(live, person, size):
    day = worklist_scene(live.seed)
    rph = person(day["pharmacist"], **size)
    rph.goto("/pharmacist/")
    today = rph.locator('[data-worklist="closing_today"]')
    expect(today.locator(f'[data-work-item="{day["today"]}"]')).to_contain_text("Closes today at 23:59 EST")
    expect(today).to_contain_text("Pharmacist: Dispense before 23:59 today")
    expect(rph.locator('[data-worklist="closing_soon"]')).to_contain_text(f"#{day['tomorrow']}")
    blocked = rph.locator(f'[data-worklist="blocked"] [data-work-item="{day["blocked"]}"]')
    expect(blocked).to_contain_text("Pregnancy test:")
    expect(blocked).to_contain_text("Prescriber: Record a negative confirmatory pregnancy test")
    expect(rph.locator('[data-worklist="waiting"]')).to_contain_text(f"#{day['waiting']}")
    # What closes today is on the first screen, at either size.
    assert bottom_in_screens(rph, today.locator(".work-item").first) <= 1.0
    name = "pharmacist-worklists" + ("-phone" if size is PHONE else "")
    shot = screenshot(rph, name)
    if size is DESKTOP:
        docs_copy(shot, DOCS_QUEUE_SCREENSHOT)

    # From the list to the prescription: the deadline and Dispense lead, the checklist follows.
    today.get_by_role("link", name=f"#{day['today']}").click()
    expect(rph.locator("[data-next-action]")).to_have_attribute("data-next-action", "dispense")
    dispense = rph.get_by_role("button", name="Dispense")
    expect(dispense).to_be_visible()
    assert bottom_in_screens(rph, dispense) <= (1.0 if size is DESKTOP else 2.0)
    assert bottom_in_screens(rph, dispense) < bottom_in_screens(rph, rph.locator("#gates-heading"))
    screenshot(rph, name.replace("worklists", "closing-today"))

    # A blocked one says why at the top, and Evaluate is on the first screen.
    rph.goto(f"/pharmacist/prescriptions/{day['blocked']}")
    expect(rph.locator(".outcome")).not_to_contain_text("below")
    expect(rph.get_by_role("heading", name="What is missing")).to_be_visible()
    assert bottom_in_screens(rph, rph.get_by_role("button", name="Evaluate")) <= (1.0 if size is DESKTOP else 2.0)
    screenshot(rph, name.replace("worklists", "blocked-top"))


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


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two CSS rgb()/rgba() colours."""
    def luminance(css: str) -> float:
        r, g, b = (int(float(v)) / 255 for v in re.findall(r"[\d.]+", css)[:3])
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def background_of(page, selector: str) -> str:
    """The first opaque background behind the element."""
    return page.eval_on_selector(selector, """el => {
        for (let n = el.parentElement; n; n = n.parentElement) {
            const bg = getComputedStyle(n).backgroundColor;
            if (bg && !bg.startsWith('rgba(0, 0, 0, 0)') && bg !== 'transparent') return bg;
        }
        return 'rgb(255, 255, 255)';
    }""")


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_double_click_on_dispense_dispenses_once_and_answers_with_the_first_result(live, person, size):
    scene = live.seed.scene(evaluate=True)
    rph = person(scene["pharmacist"], **size)
    rph.goto(f"/pharmacist/prescriptions/{scene['rx']}")
    # A slow link: every POST waits 700 ms before it leaves the browser.
    def slow(route):
        if route.request.method == "POST":
            rph.wait_for_timeout(700)
        route.continue_()
    rph.route("**/dispense", slow)
    rph.get_by_label("RMA number").fill(f"RMA-DBL-1-{size['width']}")
    rph.get_by_label("Do not dispense after").fill("2026-11-30")
    rph.get_by_role("button", name="Dispense").dblclick()
    expect(rph.locator("[data-outcome]")).to_have_attribute("data-outcome", "dispensed")
    expect(rph.get_by_text("Dispensed and recorded.")).to_be_visible()
    expect(rph.get_by_role("alert")).to_have_count(0)
    screenshot(rph, f"pharmacist-double-click-dispensed-{size['width']}")


def test_the_server_answers_a_resent_dispense_form_with_the_first_result(live, person):
    """Without the page's script (a second tab, a resend): the same person, the same RMA, soon after."""
    scene = live.seed.scene(evaluate=True)
    rph = person(scene["pharmacist"])
    rph.goto(f"/pharmacist/prescriptions/{scene['rx']}")
    second = rph.context.new_page()
    second.goto(rph.url)
    for page in (rph, second):
        page.get_by_label("RMA number").fill("RMA-DBL-2")
        page.get_by_label("Do not dispense after").fill("2026-11-30")
    rph.get_by_role("button", name="Dispense").click()
    expect(rph.locator("[data-outcome]")).to_have_attribute("data-outcome", "dispensed")
    second.get_by_role("button", name="Dispense").click()
    expect(second.get_by_text("Dispensed and recorded.")).to_be_visible()
    expect(second.get_by_role("alert")).to_have_count(0)


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_focus_moves_to_what_to_fix_and_the_ring_is_visible(live, person, size):
    scene = live.seed.scene(evaluate=True)
    rph = person(scene["pharmacist"], **size)
    rph.goto(f"/pharmacist/prescriptions/{scene['rx']}")
    rph.get_by_role("button", name="Dispense").click()  # no RMA: refused
    alert = rph.get_by_role("alert")
    expect(alert).to_be_focused()
    expect(alert).to_be_in_viewport()
    screenshot(rph, f"pharmacist-refused-focus-{size['width']}")
    # The focus ring against what it sits on: a field on the page, a button in the dark top bar.
    for selector in ("#f-rma-number", ".topbar button"):
        rph.focus(selector)
        style = rph.eval_on_selector(selector, "el => [getComputedStyle(el).outlineStyle, getComputedStyle(el).outlineColor, getComputedStyle(el).outlineWidth]")
        assert style[0] == "solid" and float(style[2].rstrip("px")) >= 2, style
        assert contrast(style[1], background_of(rph, selector)) >= 3.0, (selector, style)


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_managers_dashboard_draws_each_chart_with_its_numbers(live, person, size):
    seed = live.seed
    day = worklist_scene(seed)
    manager = seed.user("manager", pharmacy_id=day["pharmacy"])
    page = person(manager, **size)
    expect(page).to_have_url(re.compile(r"/manager/$"))
    charts = page.locator("[data-dashboard]")
    expect(charts).to_have_count(5)
    for i in range(5):
        expect(charts.nth(i).locator("svg")).to_be_visible()
        expect(charts.nth(i).locator("table")).to_have_count(1)
    expect(page.locator('[data-dashboard="decisions"] rect').first).to_be_attached()
    # The SVG fits the screen: no sideways scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= size["width"] + 1
    shot = screenshot(page, "manager-dashboard" + ("-phone" if size is PHONE else ""))
    if size is DESKTOP:
        docs_copy(shot, DOCS_DASHBOARD_SCREENSHOT)


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_form_sent_after_the_session_timed_out_comes_back_filled_in(live, person, size):
    scene = live.seed.scene(evaluate=True)
    rph = person(scene["pharmacist"], **size)
    page = f"/pharmacist/prescriptions/{scene['rx']}"
    rph.goto(page)
    rph.get_by_label("RMA number").fill("RMA-TIMED-OUT")
    rph.get_by_label("Do not dispense after").fill("2026-11-30")
    live.clock.advance(minutes=31)
    try:
        rph.get_by_role("button", name="Dispense").click()
        expect(rph).to_have_url(re.compile(r"/login\?next="))
        rph.get_by_label("Email").fill(scene["pharmacist"])
        rph.get_by_label("Password").fill(PASSWORD)
        rph.get_by_role("button", name="Sign in").click()
        expect(rph).to_have_url(re.compile(rf"{page}$"))
        expect(rph.get_by_text("what you typed is back (passwords never are)")).to_be_visible()
        expect(rph.get_by_label("RMA number")).to_have_value("RMA-TIMED-OUT")
        expect(rph.locator("[data-outcome]")).to_have_attribute("data-outcome", "authorized")
        screenshot(rph, f"pharmacist-form-kept-{size['width']}")
    finally:
        live.clock.advance(minutes=-31)


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_reload_after_a_refused_form_shows_the_page_and_sends_nothing_again(live, person, size):
    from sqlalchemy import func, select

    from pharmsafe.models import Decision
    from pharmsafe.runtime import runtime_of

    def decisions():
        with runtime_of(live.app).session_factory() as s:
            return s.scalar(select(func.count()).select_from(Decision))

    scene = live.seed.scene(evaluate=True)
    rph = person(scene["pharmacist"], **size)
    page = f"/pharmacist/prescriptions/{scene['rx']}"
    rph.goto(page)
    rph.get_by_role("button", name="Dispense").click()  # no RMA: refused, and the refusal recorded
    expect(rph.get_by_role("alert")).to_be_visible()
    expect(rph).to_have_url(re.compile(rf"{page}$"))  # the page's own address, not the form's
    before = decisions()
    rph.reload()
    expect(rph.locator("[data-outcome]")).to_have_attribute("data-outcome", "authorized")
    expect(rph.get_by_role("alert")).to_have_count(0)
    assert decisions() == before  # nothing sent again
    rph.go_back()
    expect(rph).to_have_url(re.compile(rf"{page}$"))
    assert decisions() == before
