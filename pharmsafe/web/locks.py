"""Whether a patient is locked by a positive pregnancy test, for the pages' banners.

The rule is the gates' own (``pharmsafe.gates.pregnancy_evidence.Lock``): a positive test that is
not entered in error locks the patient until the prescriber's ``pregnancy_excluded`` clearance. This
module only reads the patients' tests and attestations as of now and hands them to it, so that a page
shows the lock as soon as a positive is recorded and drops it as soon as it is cleared or withdrawn,
without waiting for the next evaluation."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmsafe.gates import AttestationFacts, PregnancyTestFacts
from pharmsafe.gates.pregnancy_evidence import Lock
from pharmsafe.models import Attestation, PregnancyTest

_TESTS = PregnancyTest.__table__.c
_ATTESTATIONS = Attestation.__table__.c


@dataclass(frozen=True)
class _Evidence:
    """The part of the gates' facts that the lock reads."""
    pregnancy_tests: tuple[PregnancyTestFacts, ...]
    attestations: tuple[AttestationFacts, ...]


@dataclass(frozen=True)
class LockedBy:
    """One uncleared positive test, with the gates' own words for it."""
    test_id: int
    collected_on: date
    message: str
    unblock: str


@dataclass(frozen=True)
class PatientLock:
    """The uncleared positives of one patient, newest first (never empty)."""
    tests: tuple[LockedBy, ...]

    @property
    def latest(self) -> LockedBy:
        return self.tests[0]

    @property
    def others(self) -> tuple[LockedBy, ...]:
        return self.tests[1:]


def patient_locks(session: Session, patient_ids: Iterable[int], today: date) -> dict[int, PatientLock]:
    """The locked patients among ``patient_ids`` (two queries, whatever their number)."""
    ids = sorted(set(patient_ids))
    if not ids:
        return {}
    tests: dict[int, list[PregnancyTestFacts]] = {}
    for t in session.execute(select(_TESTS.id, _TESTS.patient_id, _TESTS.specimen_collected_on, _TESTS.result,
                                    _TESTS.specimen, _TESTS.setting, _TESTS.clia_number, _TESTS.recorded_at,
                                    _TESTS.entered_in_error_at)
                             .where(_TESTS.patient_id.in_(ids)).order_by(_TESTS.id)):
        tests.setdefault(t.patient_id, []).append(PregnancyTestFacts(
            id=t.id, specimen_collected_on=t.specimen_collected_on, result=t.result, specimen=t.specimen,
            setting=t.setting, clia_number=t.clia_number, recorded_at=t.recorded_at,
            entered_in_error=t.entered_in_error_at is not None))
    if not tests:
        return {}
    attestations: dict[int, list[AttestationFacts]] = {}
    for a in session.execute(select(_ATTESTATIONS.id, _ATTESTATIONS.patient_id, _ATTESTATIONS.kind,
                                    _ATTESTATIONS.attested_on, _ATTESTATIONS.recorded_at, _ATTESTATIONS.note,
                                    _ATTESTATIONS.entered_in_error_at)
                             .where(_ATTESTATIONS.patient_id.in_(list(tests))).order_by(_ATTESTATIONS.id)):
        attestations.setdefault(a.patient_id, []).append(AttestationFacts(
            id=a.id, kind=a.kind, attested_on=a.attested_on, recorded_at=a.recorded_at, note=a.note,
            entered_in_error=a.entered_in_error_at is not None))
    locks: dict[int, PatientLock] = {}
    for patient_id, patient_tests in tests.items():
        lock = Lock.of(_Evidence(pregnancy_tests=tuple(patient_tests),
                                 attestations=tuple(attestations.get(patient_id, ()))), today)
        if lock.locked:
            findings = lock.findings(today)
            locks[patient_id] = PatientLock(tests=tuple(
                LockedBy(test_id=test.id, collected_on=test.specimen_collected_on, message=finding.message,
                         unblock=finding.unblock or "")
                for test, finding in zip(lock.uncleared, findings, strict=True)))
    return locks


def patient_lock(session: Session, patient_id: int, today: date) -> PatientLock | None:
    return patient_locks(session, [patient_id], today).get(patient_id)
