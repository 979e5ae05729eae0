from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pharmsafe.db import Base
from pharmsafe.models.types import UTCDateTime


class ExternalIdentifier(Base):
    """A record that came in with a sender's identifier (FHIR `identifier`, NCPDP
    `PrescriberOrderNumber`), under its natural key (INTEROP.md §6): Observations and
    QuestionnaireResponses per patient, MedicationRequests and NewRx orders per prescriber.

    The same key with the same mapped content is a replay of ``record``; other content is a
    duplicate, unless it amends (then ``record`` moves to the new record and the old is retracted)."""

    __tablename__ = "external_identifiers"
    __table_args__ = (UniqueConstraint("scope", "resource_type", "system", "value",
                                       name="uq_external_identifiers_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(32))  # "patient:7" or "prescriber:3"
    resource_type: Mapped[str] = mapped_column(String(32))  # Observation, QuestionnaireResponse, MedicationRequest
    system: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(64))
    record: Mapped[str] = mapped_column(String(64), index=True)  # "pregnancy_test:17", "prescription:9"
    # SHA-256 of the canonical JSON of what the record was mapped from.
    content_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(8))  # fhir | ncpdp
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
