"""Small factories for gate facts. The baseline is an ipledge-2026 first dispense that passes every
gate on 2026-12-10 (the DESIGN.md §5 example: dispense_by 2026-12-12T04:59:59Z from pregnancy_test:17).
"""
from __future__ import annotations

from dataclasses import is_dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from pharmsafe.gates import (
    GATES,
    POLICIES,
    AttestationFacts,
    DispenseFacts,
    Facts,
    GateResult,
    LabResultFacts,
    PatientFacts,
    PharmacyFacts,
    PregnancyTestFacts,
    PrescriberFacts,
    PrescriptionFacts,
    RmaFacts,
)

NY = ZoneInfo("America/New_York")
UTC = UTC
IPLEDGE_2026 = POLICIES["ipledge-2026"]
IPLEDGE_2021 = POLICIES["ipledge-2021"]
IPLEDGE_2023 = POLICIES["ipledge-2023"]
EU = POLICIES["eu-ppp-2018"]

TODAY = date(2026, 12, 10)
RECORDED = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def d(text: str) -> date:
    return date.fromisoformat(text)


def plus(day: date | str, days: int) -> date:
    return (d(day) if isinstance(day, str) else day) + timedelta(days=days)


def at(day: date | str, clock: str = "12:00:00", zone: ZoneInfo = NY) -> datetime:
    """An aware instant: ``clock`` on ``day`` in ``zone`` (New York unless told)."""
    return datetime.combine(d(day) if isinstance(day, str) else day, time.fromisoformat(clock), tzinfo=zone)


NOW = at(TODAY)


def pharmacy(**kw) -> PharmacyFacts:
    base = dict(id=1, name="Main St Pharmacy", ncpdp_id="1234567", rems_registration_id="R-1",
                activated_until=d("2027-06-30"), time_zone="America/New_York")
    return PharmacyFacts(**(base | kw))


def prescriber(**kw) -> PrescriberFacts:
    base = dict(id=3, npi="1234567893", status="active", license_state="NY", license_number="L-1",
                license_expires_on=d("2027-12-31"), rems_certified_until=d("2027-06-30"))
    return PrescriberFacts(**(base | kw))


def patient(**kw) -> PatientFacts:
    base = dict(id=9, can_get_pregnant=True, rems_patient_id="P-9", enrolled_on=d("2026-10-01"))
    return PatientFacts(**(base | kw))


def hcg(id: int, day: date | str, result: str, *, setting: str = "medical", clia: str | None = "05D0000001",
                specimen: str = "serum", recorded_at: datetime = RECORDED, error: bool = False) -> PregnancyTestFacts:
    if setting == "home":
        clia, specimen = None, "urine"
    return PregnancyTestFacts(id=id, specimen_collected_on=d(day) if isinstance(day, str) else day, result=result,
                              specimen=specimen, setting=setting, clia_number=clia, recorded_at=recorded_at,
                              entered_in_error=error)


def neg(id: int, day: date | str, **kw) -> PregnancyTestFacts:
    return hcg(id, day, "negative", **kw)


def pos(id: int, day: date | str, **kw) -> PregnancyTestFacts:
    return hcg(id, day, "positive", **kw)


def lab(id: int, test: str, value: str, unit: str, day: date | str = "2026-11-20", *,
        reference_upper: str | None = None, recorded_at: datetime = RECORDED, error: bool = False) -> LabResultFacts:
    return LabResultFacts(id=id, test=test, value=value, unit=unit, collected_on=d(day) if isinstance(day, str) else day,
                          recorded_at=recorded_at, reference_upper=reference_upper, entered_in_error=error)


def normal_labs(day: date | str = "2026-11-20", first_id: int = 31) -> tuple[LabResultFacts, ...]:
    return (
        lab(first_id, "ALT", "25", "U/L", day),
        lab(first_id + 1, "AST", "30", "U/L", day),
        lab(first_id + 2, "TRIGLYCERIDES", "150", "mg/dL", day),
        lab(first_id + 3, "TOTAL_CHOLESTEROL", "180", "mg/dL", day),
    )


def att(id: int, kind: str, day: date | str, methods: tuple[str, ...] = (), *,
        recorded_at: datetime = RECORDED, error: bool = False) -> AttestationFacts:
    return AttestationFacts(id=id, kind=kind, attested_on=d(day) if isinstance(day, str) else day,
                            recorded_at=recorded_at, methods=tuple(methods), entered_in_error=error)


def clearance(id: int, day: date | str, note: str | None = "Quantitative serum hCG < 1 mIU/mL", *,
              recorded_at: datetime = datetime(2026, 12, 9, 15, 0, tzinfo=UTC), error: bool = False) -> AttestationFacts:
    """The prescriber's pregnancy_excluded attestation (recorded after the builders' tests by default)."""
    return AttestationFacts(id=id, kind="pregnancy_excluded", attested_on=d(day) if isinstance(day, str) else day,
                            recorded_at=recorded_at, entered_in_error=error, note=note)


def transfer_in(id: int, day: date | str, days: int = 30) -> DispenseFacts:
    """An earlier dispense at another pharmacy, recorded by a pharmacist."""
    return DispenseFacts(id=id, dispensed_on=d(day) if isinstance(day, str) else day, days_supply=days,
                         kind="transfer_in")


def all_attestations(day: date | str = "2026-12-01", first_id: int = 51) -> tuple[AttestationFacts, ...]:
    return (
        att(first_id, "contraception", day, ("iud", "male_condom")),
        att(first_id + 1, "comprehension", day),
        att(first_id + 2, "counseling", day),
    )


def dispense(id: int, day: date | str, days: int = 30) -> DispenseFacts:
    return DispenseFacts(id=id, dispensed_on=d(day) if isinstance(day, str) else day, days_supply=days)


def prescription(**kw) -> PrescriptionFacts:
    base = dict(id=5, drug="Isotretinoin", ndc="0591-2434-15", strength_mg=Decimal("20"), quantity=Decimal("30"),
                days_supply=30, refills=0, written_on=d("2026-12-05"), first_of_course=None, pharmacy_id=1)
    return PrescriptionFacts(**(base | kw))


def rma(number: str | None = "RMA-1", **kw) -> RmaFacts:
    return RmaFacts(number=number, **kw)


BASE = Facts(
    pharmacy=pharmacy(),
    prescriber=prescriber(),
    patient=patient(),
    prescription=prescription(),
    pregnancy_tests=(neg(12, "2026-11-10"), neg(17, "2026-12-05")),
    lab_results=normal_labs(),
    attestations=all_attestations(),
)


def make_facts(base: Facts = BASE, **overrides) -> Facts:
    """The baseline with overrides; a dict for a nested record is merged into it
    (``make_facts(patient={"can_get_pregnant": False})``)."""
    changes = {}
    for name, value in overrides.items():
        current = getattr(base, name)
        if isinstance(value, dict) and is_dataclass(current):
            value = replace(current, **value)
        changes[name] = value
    return replace(base, **changes)


def continuing(facts: Facts, today: date | str = TODAY) -> Facts:
    """The same facts, as a later dispense of a course (a 30-day dispense 30 days before today)."""
    return replace(facts, prior_dispenses=(dispense(80, plus(today, -30)),))


def eu_facts(**overrides) -> Facts:
    """An EU PPP dispense in Paris that passes on 2026-12-10: written 12-08, test 12-06."""
    base = make_facts(
        pharmacy={"time_zone": "Europe/Paris", "activated_until": None, "rems_registration_id": None},
        prescriber={"npi": "0000000000", "rems_certified_until": None},
        patient={"rems_patient_id": None},
        prescription={"written_on": d("2026-12-08")},
        pregnancy_tests=(neg(17, "2026-12-06", clia=None),),
        attestations=(att(51, "contraception", "2026-12-01", ("iud",)), att(52, "comprehension", "2026-12-01"),
                      att(53, "counseling", "2026-12-01")),
    )
    return make_facts(base, **overrides)


PARIS = ZoneInfo("Europe/Paris")


def run(name: str, facts: Facts, policy=IPLEDGE_2026, now: datetime = NOW) -> GateResult:
    """One gate, called directly so that an exception surfaces instead of becoming GATE_ERROR."""
    return GATES[name](facts, policy=policy, now=now)


def codes(result: GateResult) -> list[str]:
    return [f.code for f in result.findings]


