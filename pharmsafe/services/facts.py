"""Assemble the gates' facts from the database: one query per kind of evidence."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmsafe.gates import facts as f
from pharmsafe.models import (Attestation, Dispense, LabResult, Patient, Pharmacy, PregnancyTest,
                              Prescriber, Prescription)


def pharmacy_facts(p: Pharmacy) -> f.PharmacyFacts:
    return f.PharmacyFacts(id=p.id, name=p.name, ncpdp_id=p.ncpdp_id,
                           rems_registration_id=p.rems_registration_id,
                           activated_until=p.activated_until, time_zone=p.time_zone)


def prescriber_facts(p: Prescriber) -> f.PrescriberFacts:
    return f.PrescriberFacts(id=p.id, npi=p.npi, status=p.status, license_state=p.license_state,
                             license_number=p.license_number, license_expires_on=p.license_expires_on,
                             rems_certified_until=p.rems_certified_until)


def patient_facts(p: Patient) -> f.PatientFacts:
    return f.PatientFacts(id=p.id, can_get_pregnant=p.can_get_pregnant, rems_patient_id=p.rems_patient_id,
                          enrolled_on=p.enrolled_on,
                          home_pregnancy_tests_allowed=bool(p.home_pregnancy_tests_allowed))


def prescription_facts(rx: Prescription) -> f.PrescriptionFacts:
    return f.PrescriptionFacts(id=rx.id, drug=rx.drug, ndc=rx.ndc, strength_mg=Decimal(rx.strength_mg),
                               quantity=Decimal(rx.quantity), days_supply=rx.days_supply,
                               refills=rx.refills, written_on=rx.written_on,
                               first_of_course=rx.first_of_course, pharmacy_id=rx.pharmacy_id)


def load_facts(session: Session, rx: Prescription, *, stage: str = "evaluation",
               rma: f.RmaFacts | None = None, dispense_quantity: Decimal | None = None) -> f.Facts:
    patient = session.get(Patient, rx.patient_id)
    tests = session.scalars(select(PregnancyTest).where(PregnancyTest.patient_id == patient.id)
                            .order_by(PregnancyTest.id)).all()
    labs = session.scalars(select(LabResult).where(LabResult.patient_id == patient.id)
                           .order_by(LabResult.id)).all()
    attestations = session.scalars(select(Attestation).where(Attestation.patient_id == patient.id)
                                   .order_by(Attestation.id)).all()
    dispenses = session.scalars(select(Dispense).where(Dispense.patient_id == patient.id,
                                                       Dispense.prescription_id != rx.id)
                                .order_by(Dispense.id)).all()
    return f.Facts(
        pharmacy=pharmacy_facts(session.get(Pharmacy, rx.pharmacy_id)),
        prescriber=prescriber_facts(session.get(Prescriber, rx.prescriber_id)),
        patient=patient_facts(patient),
        prescription=prescription_facts(rx),
        pregnancy_tests=tuple(
            f.PregnancyTestFacts(id=t.id, specimen_collected_on=t.specimen_collected_on, result=t.result,
                                 specimen=t.specimen, setting=t.setting, clia_number=t.clia_number,
                                 recorded_at=t.recorded_at, entered_in_error=t.entered_in_error)
            for t in tests),
        lab_results=tuple(
            f.LabResultFacts(id=r.id, test=r.test, value=r.value, unit=r.unit, collected_on=r.collected_on,
                             recorded_at=r.recorded_at, reference_upper=r.reference_upper,
                             entered_in_error=r.entered_in_error)
            for r in labs),
        attestations=tuple(
            f.AttestationFacts(id=a.id, kind=a.kind, attested_on=a.attested_on, recorded_at=a.recorded_at,
                               methods=tuple(a.methods or ()), entered_in_error=a.entered_in_error)
            for a in attestations),
        prior_dispenses=tuple(
            f.DispenseFacts(id=d.id, dispensed_on=d.dispensed_on, days_supply=d.days_supply)
            for d in dispenses),
        rma=rma,
        stage=stage,
        dispense_quantity=dispense_quantity,
    )
