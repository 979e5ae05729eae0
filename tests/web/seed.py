"""Data for the page tests, made with the services directly (fast, and independent of the pages
under test). Every login gets the same password."""
from __future__ import annotations

import functools
import itertools
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from pharmsafe.runtime import runtime_of
from pharmsafe.services import evidence, registry
from pharmsafe.services.dispensing import dispense_authorization
from pharmsafe.services.evaluation import evaluate_prescription
from pharmsafe.services.passwords import FAST
from pharmsafe.services.prescriptions import submit_prescription
from pharmsafe.services.transfers import record_transfer_in
from pharmsafe.services.users import create_user, hash_password
from tests.support import npi_with_check_digit

PASSWORD = "correct horse battery staple"
_seq = itertools.count(500)


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD, FAST)


class Seed:
    def __init__(self, app):
        self.app = app
        self.ext = runtime_of(app)

    @property
    def today(self):
        return self.ext.clock.now().astimezone(ZoneInfo("America/New_York")).date()

    def day(self, offset: int):
        return self.today + timedelta(days=offset)

    def run(self, action):
        with self.ext.unit_of_work("system:test") as ctx:
            return action(ctx)

    def pharmacy(self, **over) -> int:
        n = next(_seq)
        data = {"name": f"Harbor Pharmacy {n}", "ncpdp_id": f"{2000000 + n}", "rems_registration_id": f"RPH-{n}",
                "activated_until": self.day(400), "time_zone": "America/New_York", **over}
        return self.run(lambda ctx: registry.create_pharmacy(ctx, data).id)

    def prescriber(self, **over) -> int:
        n = next(_seq)
        data = {"npi": npi_with_check_digit(f"1{n:08d}"), "first_name": "Grace", "last_name": f"Hopper{n}",
                "license_state": "NY", "license_number": f"NY-{n}", "license_expires_on": self.day(400),
                "rems_certified_until": self.day(400), "status": "active", **over}
        return self.run(lambda ctx: registry.create_prescriber(ctx, data).id)

    def user(self, role: str, *, email: str | None = None, **links) -> str:
        email = email or f"{role}{next(_seq)}@example.test"

        def create(ctx):
            user, _ = create_user(ctx, email=email, role=role, **links)
            # One argon2 hash for every test login: hashing is deliberately slow.
            user.password_hash = _password_hash()

        self.run(create)
        return email

    def patient(self, prescriber_id: int, **over) -> int:
        n = next(_seq)
        data = {"prescriber_id": prescriber_id, "first_name": "Mia", "last_name": f"Park{n}",
                "date_of_birth": self.day(-9000), "can_get_pregnant": True, "rems_patient_id": f"IPL-{n}",
                "enrolled_on": self.day(-60), "home_pregnancy_tests_allowed": False, **over}
        return self.run(lambda ctx: registry.create_patient(ctx, data).id)

    def ready_evidence(self, patient_id: int, *, can_get_pregnant: bool = True, test_day: int = -2,
                       triglycerides: str = "150") -> None:
        """Everything a first dispense needs, current today (the confirmatory test ``test_day`` days away)."""
        def record(ctx):
            if can_get_pregnant:
                for offset in (test_day - 30, test_day):
                    evidence.record_pregnancy_test(ctx, patient_id, {
                        "specimen_collected_on": self.day(offset), "result": "negative", "specimen": "serum",
                        "setting": "medical", "clia_number": "05D1234567"})
                evidence.record_attestation(ctx, patient_id, {"kind": "contraception", "attested_on": self.day(-1),
                                                              "methods": ["iud", "male_condom"]})
                evidence.record_attestation(ctx, patient_id, {"kind": "comprehension", "attested_on": self.day(-1)})
            evidence.record_attestation(ctx, patient_id, {"kind": "counseling", "attested_on": self.day(-1)})
            for test, value, unit in (("ALT", "25", "U/L"), ("AST", "22", "U/L"),
                                      ("TRIGLYCERIDES", triglycerides, "mg/dL"), ("TOTAL_CHOLESTEROL", "180", "mg/dL")):
                evidence.record_lab_result(ctx, patient_id, {"test": test, "value": value, "unit": unit,
                                                             "collected_on": self.day(-5), "reference_upper": None})
        self.run(record)

    def pregnancy_test(self, patient_id: int, offset: int, result: str = "negative") -> int:
        """A serum test in a medical setting, collected ``offset`` days from today."""
        return self.run(lambda ctx: evidence.record_pregnancy_test(ctx, patient_id, {
            "specimen_collected_on": self.day(offset), "result": result, "specimen": "serum", "setting": "medical",
            "clia_number": "05D1234567"}).id)

    def clearance(self, patient_id: int, note: str = "Quantitative serum hCG below 5 mIU/mL", offset: int = 0) -> int:
        """The prescriber's pregnancy_excluded attestation (it counts for positives recorded before it:
        move the clock on first when the positive was recorded at the same instant)."""
        return self.run(lambda ctx: evidence.record_attestation(ctx, patient_id, {
            "kind": "pregnancy_excluded", "attested_on": self.day(offset), "note": note}).id)

    def transfer_in(self, patient_id: int, pharmacy_id: int, *, offset: int = -6, days_supply: int = 30,
                    source_ncpdp_id: str = "7654321", rma_number: str | None = None) -> int:
        n = next(_seq)
        data = {"dispensed_on": self.day(offset), "days_supply": days_supply, "quantity": Decimal("60"),
                "source_ncpdp_id": source_ncpdp_id, "rma_number": rma_number or f"RMA-T{n}"}
        return self.run(lambda ctx: record_transfer_in(ctx, patient_id, pharmacy_id, data).id)

    def prescription(self, prescriber_id: int, patient_id: int, pharmacy_id: int, **over) -> int:
        data = {"patient_id": patient_id, "pharmacy_id": pharmacy_id, "drug": "isotretinoin", "ndc": "0591-2434-15",
                "strength_mg": Decimal("20"), "quantity": Decimal("60"), "days_supply": 30, "refills": 0,
                "written_on": self.day(-1), "first_of_course": None, **over}
        return self.run(lambda ctx: submit_prescription(ctx, prescriber_id, data).id)

    def evaluate(self, prescription_id: int) -> int | None:
        """Evaluate; returns the new authorization's id (None when blocked)."""
        def act(ctx):
            _decision, auth = evaluate_prescription(ctx, prescription_id)
            return auth.id if auth else None
        return self.run(act)

    def dispense(self, authorization_id: int, rma_number: str, *, rma_do_not_dispense_after=None) -> int:
        """Dispense with the RMA number and its do-not-dispense-after date (default: today)."""
        until = rma_do_not_dispense_after or self.today
        return self.run(lambda ctx: dispense_authorization(ctx, authorization_id, quantity=Decimal("60"),
                                                           rma_number=rma_number,
                                                           rma_do_not_dispense_after=until).id)

    def scene(self, *, can_get_pregnant: bool = True, test_day: int = -2, triglycerides: str = "150",
              evaluate: bool = False) -> dict:
        """A pharmacy with a pharmacist, a prescriber with a login, a patient with evidence and a
        prescription routed to the pharmacy."""
        pharmacy = self.pharmacy()
        prescriber = self.prescriber()
        patient = self.patient(prescriber, can_get_pregnant=can_get_pregnant)
        self.ready_evidence(patient, can_get_pregnant=can_get_pregnant, test_day=test_day,
                            triglycerides=triglycerides)
        rx = self.prescription(prescriber, patient, pharmacy)
        out = {"pharmacy": pharmacy, "prescriber": prescriber, "patient": patient, "rx": rx,
               "pharmacist": self.user("pharmacist", pharmacy_id=pharmacy),
               "doctor": self.user("prescriber", prescriber_id=prescriber)}
        if evaluate:
            out["auth"] = self.evaluate(rx)
        return out
