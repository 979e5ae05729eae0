"""The inputs of the gates, as seen at one moment. Frozen, plain, assembled by services.

Every id is the database id, used for evidence references such as ``pregnancy_test:17``.
Text values from the outside (lab values, units) are kept as typed so that a gate, not the loader,
decides whether they are usable; a gate fails closed on anything it cannot read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True)
class PharmacyFacts:
    id: int
    name: str
    ncpdp_id: str
    rems_registration_id: str | None
    activated_until: date | None
    time_zone: str


@dataclass(frozen=True)
class PrescriberFacts:
    id: int
    npi: str
    status: str  # active | suspended | inactive
    license_state: str | None
    license_number: str | None
    license_expires_on: date | None
    rems_certified_until: date | None


@dataclass(frozen=True)
class PatientFacts:
    id: int
    can_get_pregnant: bool | None  # None: unknown -> fails closed
    rems_patient_id: str | None
    enrolled_on: date | None
    home_pregnancy_tests_allowed: bool = False
    deactivated: bool = False


@dataclass(frozen=True)
class PregnancyTestFacts:
    id: int
    specimen_collected_on: date
    result: str  # negative | positive
    specimen: str  # urine | serum
    setting: str  # medical | home
    clia_number: str | None
    recorded_at: datetime
    entered_in_error: bool = False


@dataclass(frozen=True)
class LabResultFacts:
    id: int
    test: str  # ALT | AST | TRIGLYCERIDES | TOTAL_CHOLESTEROL | LDL
    value: str  # decimal text as recorded
    unit: str
    collected_on: date
    recorded_at: datetime
    reference_upper: str | None = None
    entered_in_error: bool = False


@dataclass(frozen=True)
class AttestationFacts:
    id: int
    kind: str  # contraception | comprehension | counseling | pregnancy_excluded
    attested_on: date
    recorded_at: datetime
    methods: tuple[str, ...] = ()
    entered_in_error: bool = False
    # pregnancy_excluded only: how the prescriber ruled pregnancy out (required for it to count).
    note: str | None = None


@dataclass(frozen=True)
class DispenseFacts:
    """An earlier dispense of isotretinoin to the same patient that PharmSafe has seen: one it
    recorded (``kind`` "dispense") or a pharmacist's record of one at another pharmacy ("transfer_in").
    Reversed dispenses and transfers-in entered in error are not facts at all."""
    id: int
    dispensed_on: date
    days_supply: int
    kind: str = "dispense"  # dispense | transfer_in

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class PrescriptionFacts:
    id: int
    drug: str
    ndc: str | None
    strength_mg: Decimal
    quantity: Decimal
    days_supply: int
    refills: int
    written_on: date
    first_of_course: bool | None
    pharmacy_id: int


@dataclass(frozen=True)
class RmaFacts:
    """What the pharmacist brings to a dispense."""
    number: str | None
    do_not_dispense_after: date | None = None
    already_used: bool = False


@dataclass(frozen=True)
class Facts:
    pharmacy: PharmacyFacts
    prescriber: PrescriberFacts
    patient: PatientFacts
    prescription: PrescriptionFacts
    pregnancy_tests: tuple[PregnancyTestFacts, ...] = ()
    lab_results: tuple[LabResultFacts, ...] = ()
    attestations: tuple[AttestationFacts, ...] = ()
    prior_dispenses: tuple[DispenseFacts, ...] = ()
    # None at evaluation; set at dispense (the rems_authorization gate reads it then).
    rma: RmaFacts | None = None
    stage: str = "evaluation"  # evaluation | dispense
    dispense_quantity: Decimal | None = field(default=None)
