"""Assemble the gates' facts from the database: one query for the pharmacy, the prescriber and the
patient, and one per kind of evidence.

The statements are built once, at import, and read plain rows through the Core: on the decision
path, building a statement and loading ORM instances cost more than the queries themselves."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import bindparam, literal, select, true
from sqlalchemy.orm import Session

from pharmsafe.gates import facts as f
from pharmsafe.models import (
    Attestation,
    Dispense,
    LabResult,
    Patient,
    Pharmacy,
    PregnancyTest,
    Prescriber,
    Prescription,
    TransferIn,
)
from pharmsafe.models.statuses import PatientStatus

_PHARMACY, _PRESCRIBER, _PATIENT = Pharmacy.__table__.c, Prescriber.__table__.c, Patient.__table__.c
# Three rows, each by its primary key, read in one round trip (hence the joins on true).
_PARTIES = (
    select(_PHARMACY.id.label("pharmacy_id"), _PHARMACY.name, _PHARMACY.ncpdp_id,
           _PHARMACY.rems_registration_id, _PHARMACY.activated_until, _PHARMACY.time_zone,
           _PRESCRIBER.id.label("prescriber_id"), _PRESCRIBER.npi, _PRESCRIBER.status,
           _PRESCRIBER.license_state, _PRESCRIBER.license_number, _PRESCRIBER.license_expires_on,
           _PRESCRIBER.rems_certified_until,
           _PATIENT.id.label("patient_id"), _PATIENT.can_get_pregnant, _PATIENT.rems_patient_id,
           _PATIENT.enrolled_on, _PATIENT.home_pregnancy_tests_allowed, _PATIENT.status.label("patient_status"))
    .select_from(Pharmacy.__table__.join(Prescriber.__table__, true()).join(Patient.__table__, true()))
    .where(_PHARMACY.id == bindparam("pharmacy_id"), _PRESCRIBER.id == bindparam("prescriber_id"),
           _PATIENT.id == bindparam("patient_id"))
)


def _evidence(model, *names: str):
    table = model.__table__.c
    return (select(table.id, *(table[name] for name in names), table.entered_in_error_at)
            .where(table.patient_id == bindparam("patient_id")).order_by(table.id))


_TESTS = _evidence(PregnancyTest, "specimen_collected_on", "result", "specimen", "setting", "clia_number",
                   "recorded_at")
_LABS = _evidence(LabResult, "test", "value", "unit", "collected_on", "recorded_at", "reference_upper")
_ATTESTATIONS = _evidence(Attestation, "kind", "attested_on", "recorded_at", "methods", "note")
_DISPENSE, _TRANSFER = Dispense.__table__.c, TransferIn.__table__.c
# Every dispense PharmSafe has seen: its own (other than this prescription's, and not those reversed
# as entered by mistake) and the transfers-in pharmacists recorded, not those entered in error.
_DISPENSES = (select(_DISPENSE.id, _DISPENSE.dispensed_on, _DISPENSE.days_supply, literal("dispense").label("kind"))
              .where(_DISPENSE.patient_id == bindparam("patient_id"),
                     _DISPENSE.prescription_id != bindparam("prescription_id"), _DISPENSE.reversed_at.is_(None))
              .union_all(select(_TRANSFER.id, _TRANSFER.dispensed_on, _TRANSFER.days_supply,
                                literal("transfer_in").label("kind"))
                         .where(_TRANSFER.patient_id == bindparam("patient_id"),
                                _TRANSFER.entered_in_error_at.is_(None))))


# A draft (the readiness check before sending) has no id yet: "other than this prescription" is then
# every prescription. Comparing with NULL would match none and drop every dispense.
_NO_ID = -1


def prescription_facts(rx: Prescription) -> f.PrescriptionFacts:
    return f.PrescriptionFacts(id=rx.id, drug=rx.drug, ndc=rx.ndc, strength_mg=Decimal(rx.strength_mg),
                               quantity=Decimal(rx.quantity), days_supply=rx.days_supply,
                               refills=rx.refills, written_on=rx.written_on,
                               first_of_course=rx.first_of_course, pharmacy_id=rx.pharmacy_id)


def load_facts(session: Session, rx: Prescription, *, stage: str = "evaluation",
               rma: f.RmaFacts | None = None, dispense_quantity: Decimal | None = None) -> f.Facts:
    # Plain Core statements do not autoflush: evidence added in this session must be read too.
    session.flush()
    parties = session.execute(_PARTIES, {"pharmacy_id": rx.pharmacy_id, "prescriber_id": rx.prescriber_id,
                                         "patient_id": rx.patient_id}).one()
    by_patient = {"patient_id": rx.patient_id}
    return f.Facts(
        pharmacy=f.PharmacyFacts(id=parties.pharmacy_id, name=parties.name, ncpdp_id=parties.ncpdp_id,
                                 rems_registration_id=parties.rems_registration_id,
                                 activated_until=parties.activated_until, time_zone=parties.time_zone),
        prescriber=f.PrescriberFacts(id=parties.prescriber_id, npi=parties.npi, status=parties.status,
                                     license_state=parties.license_state,
                                     license_number=parties.license_number,
                                     license_expires_on=parties.license_expires_on,
                                     rems_certified_until=parties.rems_certified_until),
        patient=f.PatientFacts(id=parties.patient_id, can_get_pregnant=parties.can_get_pregnant,
                               rems_patient_id=parties.rems_patient_id, enrolled_on=parties.enrolled_on,
                               home_pregnancy_tests_allowed=bool(parties.home_pregnancy_tests_allowed),
                               deactivated=parties.patient_status != PatientStatus.ACTIVE),
        prescription=prescription_facts(rx),
        pregnancy_tests=tuple(
            f.PregnancyTestFacts(id=t.id, specimen_collected_on=t.specimen_collected_on, result=t.result,
                                 specimen=t.specimen, setting=t.setting, clia_number=t.clia_number,
                                 recorded_at=t.recorded_at, entered_in_error=t.entered_in_error_at is not None)
            for t in session.execute(_TESTS, by_patient)),
        lab_results=tuple(
            f.LabResultFacts(id=r.id, test=r.test, value=r.value, unit=r.unit, collected_on=r.collected_on,
                             recorded_at=r.recorded_at, reference_upper=r.reference_upper,
                             entered_in_error=r.entered_in_error_at is not None)
            for r in session.execute(_LABS, by_patient)),
        attestations=tuple(
            f.AttestationFacts(id=a.id, kind=a.kind, attested_on=a.attested_on, recorded_at=a.recorded_at,
                               methods=tuple(a.methods or ()), entered_in_error=a.entered_in_error_at is not None,
                               note=a.note)
            for a in session.execute(_ATTESTATIONS, by_patient)),
        prior_dispenses=tuple(
            f.DispenseFacts(id=d.id, dispensed_on=d.dispensed_on, days_supply=d.days_supply, kind=d.kind)
            for d in session.execute(_DISPENSES, {**by_patient, "prescription_id": _NO_ID if rx.id is None else rx.id})),
        rma=rma,
        stage=stage,
        dispense_quantity=dispense_quantity,
    )
