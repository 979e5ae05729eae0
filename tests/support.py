"""Builders for API tests: a world with an admin, a pharmacy, a prescriber and their users,
made through the API itself (so every test also exercises the real request path)."""
from __future__ import annotations

import itertools
from datetime import timedelta

from pharmsafe.runtime import runtime_of
from pharmsafe.services.users import create_user

_npi_seq = itertools.count(1)


def npi_with_check_digit(first9: str) -> str:
    digits = "80840" + first9
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return first9 + str((10 - total % 10) % 10)


class Api:
    def __init__(self, client, token: str | None = None):
        self.client, self.token = client, token

    def as_(self, token: str | None) -> Api:
        return Api(self.client, token)

    def call(self, method: str, path: str, json=None, headers=None, **kwargs):
        h = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        h.update(headers or {})
        return self.client.open(f"/api/v1{path}", method=method, json=json, headers=h, **kwargs)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.call("POST", path, json=json, **kw)

    def patch(self, path, json=None, **kw):
        return self.call("PATCH", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def ok(self, method, path, json=None, status=None, **kw):
        resp = self.call(method, path, json=json, **kw)
        expected = status or (201 if method == "POST" else 200)
        assert resp.status_code == expected, (resp.status_code, resp.get_json())
        return resp.get_json()


def admin_token(app) -> str:
    with runtime_of(app).unit_of_work("system:test") as ctx:
        _, token = create_user(ctx, email=f"admin{next(_npi_seq)}@example.com", role="admin", issue_token=True)
    return token


class World:
    """Today is the clock's date in New York (2026-11-26 with the default clock)."""

    def __init__(self, app, client):
        self.app = app
        self.today = runtime_of(app).clock.now().astimezone(
            __import__("zoneinfo").ZoneInfo("America/New_York")).date()
        self.admin = Api(client, admin_token(app))
        self.anon = Api(client)
        self.client = client

    def day(self, offset: int) -> str:
        return (self.today + timedelta(days=offset)).isoformat()

    def pharmacy(self, **over) -> dict:
        n = next(_npi_seq)
        body = {"name": f"Pharmacy {n}", "ncpdp_id": f"{1000000 + n}", "rems_registration_id": f"RR-{n}",
                "activated_until": "2027-12-31", "time_zone": "America/New_York", **over}
        return self.admin.ok("POST", "/pharmacies", body)

    def prescriber(self, **over) -> dict:
        n = next(_npi_seq)
        body = {"npi": npi_with_check_digit(f"1{n:08d}"), "first_name": "Ada", "last_name": f"Lovelace{n}",
                "license_state": "NY", "license_number": f"L{n}", "license_expires_on": "2027-12-31",
                "rems_certified_until": "2027-12-31", "status": "active", **over}
        return self.admin.ok("POST", "/prescribers", body)

    def user(self, role: str, **links) -> tuple[dict, Api]:
        n = next(_npi_seq)
        body = {"email": f"{role}{n}@example.com", "role": role, "issue_token": True, **links}
        created = self.admin.ok("POST", "/users", body)
        return created, Api(self.client, created["api_token"])

    def prescriber_api(self, prescriber: dict | None = None) -> tuple[dict, Api]:
        prescriber = prescriber or self.prescriber()
        return prescriber, self.user("prescriber", prescriber_id=prescriber["id"])[1]

    def pharmacist_api(self, pharmacy: dict | None = None) -> tuple[dict, Api]:
        pharmacy = pharmacy or self.pharmacy()
        return pharmacy, self.user("pharmacist", pharmacy_id=pharmacy["id"])[1]

    def patient(self, doc: Api, **over) -> dict:
        n = next(_npi_seq)
        body = {"first_name": "Pat", "last_name": f"Ient{n}", "date_of_birth": "2001-04-05",
                "can_get_pregnant": True, "rems_patient_id": f"P{n}", "enrolled_on": self.day(-60), **over}
        return doc.ok("POST", "/patients", body)

    def ready_evidence(self, doc: Api, patient: dict, *, test_day: int = -2, lab_day: int = -6,
                       attest_day: int = -2, triglycerides: str = "150") -> dict:
        """Everything a first dispense needs, current today."""
        pid = patient["id"]
        ids = {}
        if patient["can_get_pregnant"]:
            ids["screening"] = doc.ok("POST", f"/patients/{pid}/pregnancy-tests", {
                "specimen_collected_on": self.day(test_day - 30), "result": "negative", "specimen": "serum",
                "setting": "medical", "clia_number": "05D1234567"})["id"]
            ids["confirmatory"] = doc.ok("POST", f"/patients/{pid}/pregnancy-tests", {
                "specimen_collected_on": self.day(test_day), "result": "negative", "specimen": "serum",
                "setting": "medical", "clia_number": "05D1234567"})["id"]
            doc.ok("POST", f"/patients/{pid}/attestations", {"kind": "contraception", "attested_on": self.day(attest_day),
                                                             "methods": ["iud", "male_condom"]})
            doc.ok("POST", f"/patients/{pid}/attestations", {"kind": "comprehension", "attested_on": self.day(attest_day)})
        doc.ok("POST", f"/patients/{pid}/attestations", {"kind": "counseling", "attested_on": self.day(attest_day)})
        for test, value, unit in (("ALT", "25", "U/L"), ("AST", "22", "U/L"), ("TRIGLYCERIDES", triglycerides, "mg/dL"),
                                  ("TOTAL_CHOLESTEROL", "180", "mg/dL")):
            doc.ok("POST", f"/patients/{pid}/lab-results", {"test": test, "value": value, "unit": unit,
                                                            "collected_on": self.day(lab_day)})
        return ids

    def prescription(self, doc: Api, patient: dict, pharmacy: dict, **over) -> dict:
        body = {"patient_id": patient["id"], "pharmacy_id": pharmacy["id"], "drug": "isotretinoin",
                "ndc": "0591-2434-15", "strength_mg": 20, "quantity": 60, "days_supply": 30, "refills": 0,
                "written_on": self.day(-1), **over}
        return doc.ok("POST", "/prescriptions", body)

    def authorized(self, *, can_get_pregnant: bool = True):
        """A prescription with an active authorization: (pharmacist api, prescriber api, patient, rx, decision)."""
        pharmacy, rph = self.pharmacist_api()
        _, doc = self.prescriber_api()
        patient = self.patient(doc, can_get_pregnant=can_get_pregnant)
        self.ready_evidence(doc, patient)
        rx = self.prescription(doc, patient, pharmacy)
        decision = rph.ok("POST", f"/prescriptions/{rx['id']}/evaluations")
        assert decision["outcome"] == "authorized", decision["gates"]
        return rph, doc, patient, rx, decision
