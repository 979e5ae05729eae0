from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmsafe.db import Base
from pharmsafe.models.types import UTCDateTime


class Prescription(Base):
    __tablename__ = "prescriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    prescriber_id: Mapped[int] = mapped_column(ForeignKey("prescribers.id"), index=True)
    pharmacy_id: Mapped[int] = mapped_column(ForeignKey("pharmacies.id"), index=True)
    drug: Mapped[str] = mapped_column(String(100))
    ndc: Mapped[str | None] = mapped_column(String(14))
    strength_mg: Mapped[Decimal] = mapped_column(Numeric(10, 3))
    quantity: Mapped[Decimal] = mapped_column(Numeric(10, 3))
    days_supply: Mapped[int] = mapped_column(Integer)
    refills: Mapped[int] = mapped_column(Integer)
    written_on: Mapped[date] = mapped_column(Date)
    first_of_course: Mapped[bool | None] = mapped_column(Boolean)
    # Derived from the latest decision/authorization; kept for the queue's filter.
    status: Mapped[str] = mapped_column(String(16), index=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_by: Mapped[str] = mapped_column(String(40))
    # Where it came in (web, api, fhir, ncpdp, system); None for records kept before sources were.
    source: Mapped[str | None] = mapped_column(String(8))


class Decision(Base):
    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    prescription_id: Mapped[int] = mapped_column(ForeignKey("prescriptions.id"), index=True)
    stage: Mapped[str] = mapped_column(String(16))  # evaluation | dispense
    outcome: Mapped[str] = mapped_column(String(16))
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    evaluated_by: Mapped[str] = mapped_column(String(40))
    policy_name: Mapped[str] = mapped_column(String(32))
    policy_version: Mapped[str] = mapped_column(String(32))
    # The effective date of the version in force as configured then (an operator may move it).
    policy_effective_from: Mapped[date | None] = mapped_column(Date)
    dispense_by: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dispense_by_source: Mapped[dict | None] = mapped_column(JSON)
    gates: Mapped[list] = mapped_column(JSON)
    # Evidence references ("pregnancy_test:17") the gates relied on, for reversal on entered-in-error.
    cited: Mapped[list] = mapped_column(JSON)
    # An automatic re-evaluation's trigger: the evidence whose arrival ran it ("pregnancy_test:17").
    triggered_by: Mapped[str | None] = mapped_column(String(64))
    # The failing gates' codes, comma-separated in the gates' order (NULL when none failed): what the
    # manager's dashboard counts, without parsing every decision's gates.
    failing_codes: Mapped[str | None] = mapped_column(Text)

    authorization: Mapped[Authorization | None] = relationship(
        primaryjoin="Authorization.decision_id == Decision.id", uselist=False, viewonly=True)


class Authorization(Base):
    __tablename__ = "authorizations"
    __table_args__ = (
        # One active authorization per prescription, enforced by the database itself.
        Index("uq_authorizations_one_active", "prescription_id", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
        Index("ix_authorizations_status_dispense_by", "status", "dispense_by"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prescription_id: Mapped[int] = mapped_column(ForeignKey("prescriptions.id"), index=True)
    # Indexed: every decision shown with its authorization looks it up by decision.
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"), index=True)
    pharmacy_id: Mapped[int] = mapped_column(ForeignKey("pharmacies.id"))
    status: Mapped[str] = mapped_column(String(16))
    dispense_by: Mapped[datetime] = mapped_column(UTCDateTime())
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reversal_reason: Mapped[str | None] = mapped_column(String(500))
    reversed_by: Mapped[str | None] = mapped_column(String(40))
    # Prepared for the pharmacist (a technician's or a pharmacist's): the RMA obtained from the REMS,
    # filled into the Dispense form; the dispense checks it again like anything typed there.
    prepared_rma_number: Mapped[str | None] = mapped_column(String(64))
    prepared_rma_do_not_dispense_after: Mapped[date | None] = mapped_column(Date)
    prepared_by: Mapped[str | None] = mapped_column(String(40))
    prepared_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    decision: Mapped[Decision] = relationship(lazy="joined", innerjoin=True, foreign_keys=[decision_id])
    prescription: Mapped[Prescription] = relationship()
    dispense: Mapped[Dispense | None] = relationship(
        primaryjoin="Dispense.authorization_id == Authorization.id", uselist=False, viewonly=True)


class Dispense(Base):
    __tablename__ = "dispenses"
    __table_args__ = (
        # One dispense in effect per prescription; a reversed one (entered by mistake) no longer counts.
        Index("uq_dispenses_one_in_effect", "prescription_id", unique=True,
              sqlite_where=text("reversed_at IS NULL"), postgresql_where=text("reversed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    authorization_id: Mapped[int] = mapped_column(ForeignKey("authorizations.id"), unique=True)
    prescription_id: Mapped[int] = mapped_column(ForeignKey("prescriptions.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    pharmacy_id: Mapped[int] = mapped_column(ForeignKey("pharmacies.id"))
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"))
    quantity: Mapped[Decimal] = mapped_column(Numeric(10, 3))
    days_supply: Mapped[int] = mapped_column(Integer)
    dispensed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    dispensed_on: Mapped[date] = mapped_column(Date)
    dispensed_by: Mapped[str] = mapped_column(String(40))
    rma_number: Mapped[str | None] = mapped_column(String(64), unique=True)
    rma_do_not_dispense_after: Mapped[date | None] = mapped_column(Date)
    acknowledged_warnings: Mapped[list] = mapped_column(JSON)
    # A dispense entered by mistake, reversed on the day it was recorded (DESIGN.md §2).
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reversed_by: Mapped[str | None] = mapped_column(String(40))
    reversal_reason: Mapped[str | None] = mapped_column(String(500))
    # Under an RMA: the pharmacist noted that they reversed it with the REMS (NULL before that was asked).
    rma_reversal_noted: Mapped[bool | None] = mapped_column(Boolean)
