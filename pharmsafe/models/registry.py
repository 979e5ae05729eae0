from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmsafe.db import Base
from pharmsafe.models.types import UTCDateTime


class Pharmacy(Base):
    __tablename__ = "pharmacies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    ncpdp_id: Mapped[str] = mapped_column(String(7), unique=True)
    rems_registration_id: Mapped[str] = mapped_column(String(64))
    activated_until: Mapped[date] = mapped_column(Date)
    time_zone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Prescriber(Base):
    __tablename__ = "prescribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    npi: Mapped[str] = mapped_column(String(10), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    license_state: Mapped[str] = mapped_column(String(64))
    license_number: Mapped[str] = mapped_column(String(64))
    license_expires_on: Mapped[date] = mapped_column(Date)
    rems_certified_until: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    prescriber_id: Mapped[int] = mapped_column(ForeignKey("prescribers.id"), index=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[date] = mapped_column(Date)
    can_get_pregnant: Mapped[bool] = mapped_column(Boolean)
    rems_patient_id: Mapped[str | None] = mapped_column(String(64))
    enrolled_on: Mapped[date] = mapped_column(Date)
    home_pregnancy_tests_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    # active | deactivated; deactivating reverses the patient's active authorizations.
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Where it came in (web, api, fhir, ncpdp, system); None for records kept before sources were.
    source: Mapped[str | None] = mapped_column(String(8))

    prescriber: Mapped[Prescriber] = relationship(lazy="joined", innerjoin=True)
