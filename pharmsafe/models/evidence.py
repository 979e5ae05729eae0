from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Date, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from pharmsafe.db import Base
from pharmsafe.models.types import UTCDateTime


class _Evidence:
    """Columns every piece of evidence has: who recorded it, and whether it was withdrawn."""

    id: Mapped[int] = mapped_column(primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(40))
    entered_in_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    entered_in_error_reason: Mapped[str | None] = mapped_column(String(500))
    # Where it came in (web, api, fhir, ncpdp, system); None for records kept before sources were.
    source: Mapped[str | None] = mapped_column(String(8))

    @property
    def entered_in_error(self) -> bool:
        return self.entered_in_error_at is not None


class PregnancyTest(_Evidence, Base):
    __tablename__ = "pregnancy_tests"
    evidence_type = "pregnancy_test"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    specimen_collected_on: Mapped[date] = mapped_column(Date)
    result: Mapped[str] = mapped_column(String(16))
    specimen: Mapped[str] = mapped_column(String(16))
    setting: Mapped[str] = mapped_column(String(16))
    clia_number: Mapped[str | None] = mapped_column(String(10))


class LabResult(_Evidence, Base):
    __tablename__ = "lab_results"
    evidence_type = "lab_result"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    test: Mapped[str] = mapped_column(String(32))
    loinc: Mapped[str | None] = mapped_column(String(16))
    # Plain notation of up to 20 significant digits at exponents down to -20 takes up to 41 characters.
    value: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(20))
    collected_on: Mapped[date] = mapped_column(Date)
    reference_upper: Mapped[str | None] = mapped_column(String(64))


class Attestation(_Evidence, Base):
    __tablename__ = "attestations"
    evidence_type = "attestation"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    attested_on: Mapped[date] = mapped_column(Date)
    methods: Mapped[list] = mapped_column(JSON, default=list)
    # pregnancy_excluded only: how the prescriber ruled pregnancy out.
    note: Mapped[str | None] = mapped_column(String(500))


class TransferIn(_Evidence, Base):
    """A pharmacist's record of the patient's earlier dispense at another pharmacy (rulebook §2): it
    counts wherever the rules look at earlier dispenses."""

    __tablename__ = "transfers_in"
    evidence_type = "transfer_in"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    # The pharmacy that recorded it (its pharmacists may withdraw it).
    pharmacy_id: Mapped[int] = mapped_column(ForeignKey("pharmacies.id"))
    dispensed_on: Mapped[date] = mapped_column(Date)
    days_supply: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[Decimal] = mapped_column(Numeric(10, 3))
    source_ncpdp_id: Mapped[str] = mapped_column(String(7))
    # Normalised like a dispense's; a number is used once across dispenses and transfers-in.
    rma_number: Mapped[str | None] = mapped_column(String(64), unique=True)
