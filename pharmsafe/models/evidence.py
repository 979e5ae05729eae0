from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, String
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
    value: Mapped[str] = mapped_column(String(40))
    unit: Mapped[str] = mapped_column(String(20))
    collected_on: Mapped[date] = mapped_column(Date)
    reference_upper: Mapped[str | None] = mapped_column(String(40))


class Attestation(_Evidence, Base):
    __tablename__ = "attestations"
    evidence_type = "attestation"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    attested_on: Mapped[date] = mapped_column(Date)
    methods: Mapped[list] = mapped_column(JSON, default=list)
