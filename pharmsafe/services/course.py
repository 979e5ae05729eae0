"""A patient's course on one page: every test, lab, attestation, transfer-in, prescription,
decision, authorization and dispense, newest first, each with the audit events about it.

Read only. The patient's evidence is always shown; the prescriptions are those the viewer may see
(for the auditor's view of one prescription, that one alone)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmsafe.models import (
    Attestation,
    AuditEvent,
    Authorization,
    Decision,
    Dispense,
    LabResult,
    Pharmacy,
    PregnancyTest,
    Prescription,
    TransferIn,
)


@dataclass
class Entry:
    at: datetime
    kind: str  # test, lab, attestation, transfer_in, prescription, decision, authorization, dispense
    subject: str  # the audit trail's subject: "pregnancy_test:17"
    title: str
    detail: str = ""
    by: str = ""  # the actor: "user:4", "system:reevaluation"
    withdrawn: bool = False  # entered in error
    prescription_id: int | None = None
    outcome: str = ""
    events: list[tuple[int, str, str]] = field(default_factory=list)  # (id, action, actor)


def _num(value) -> str:
    return f"{Decimal(value).normalize():f}"


def _evidence(session: Session, patient_id: int) -> list[Entry]:
    out = []
    for t in session.scalars(select(PregnancyTest).where(PregnancyTest.patient_id == patient_id)):
        out.append(Entry(t.recorded_at, "test", f"pregnancy_test:{t.id}", f"Pregnancy test #{t.id}: {t.result}",
                         f"{t.specimen}, {t.setting}, collected {t.specimen_collected_on}", t.recorded_by,
                         t.entered_in_error_at is not None))
    for r in session.scalars(select(LabResult).where(LabResult.patient_id == patient_id)):
        out.append(Entry(r.recorded_at, "lab", f"lab_result:{r.id}", f"Lab result #{r.id}: {r.test} {r.value} {r.unit}",
                         f"collected {r.collected_on}", r.recorded_by, r.entered_in_error_at is not None))
    for a in session.scalars(select(Attestation).where(Attestation.patient_id == patient_id)):
        methods = f" ({', '.join(a.methods)})" if a.methods else ""
        out.append(Entry(a.recorded_at, "attestation", f"attestation:{a.id}", f"Attestation #{a.id}: {a.kind}{methods}",
                         f"attested on {a.attested_on}" + (f"; {a.note}" if a.note else ""), a.recorded_by,
                         a.entered_in_error_at is not None))
    for t, pharmacy in session.execute(select(TransferIn, Pharmacy).join(Pharmacy, Pharmacy.id == TransferIn.pharmacy_id)
                                       .where(TransferIn.patient_id == patient_id)):
        out.append(Entry(t.recorded_at, "transfer_in", f"transfer_in:{t.id}",
                         f"Transfer-in #{t.id}: dispensed {t.dispensed_on} at NCPDP {t.source_ncpdp_id}",
                         f"{t.days_supply} days, quantity {_num(t.quantity)}, recorded by {pharmacy.name}", t.recorded_by,
                         t.entered_in_error_at is not None))
    return out


def _prescriptions(session: Session, patient_id: int, visible) -> list[Entry]:
    out = []
    where = [Prescription.patient_id == patient_id]
    if visible is not None:
        where.append(visible)
    ids = []
    for rx in session.scalars(select(Prescription).where(*where)):
        ids.append(rx.id)
        out.append(Entry(rx.submitted_at, "prescription", f"prescription:{rx.id}",
                         f"Prescription #{rx.id} submitted: {rx.drug} {_num(rx.strength_mg)} mg × {_num(rx.quantity)}",
                         f"{rx.days_supply} days' supply, written {rx.written_on}; now {rx.status}", rx.submitted_by,
                         prescription_id=rx.id, outcome=rx.status))
    if not ids:
        return out
    for d in session.scalars(select(Decision).where(Decision.prescription_id.in_(ids))):
        failing = [g.get("gate", "") for g in d.gates if g.get("status") == "fail"]
        detail = ("failing: " + ", ".join(failing)) if failing else "every gate passed"
        if d.triggered_by:
            detail += f"; automatically, when {d.triggered_by} was recorded"
        out.append(Entry(d.evaluated_at, "decision", f"decision:{d.id}",
                         f"Decision #{d.id} ({'dispense check' if d.stage == 'dispense' else 'evaluation'}): {d.outcome}",
                         f"{detail}; {d.policy_name} {d.policy_version}", d.evaluated_by, prescription_id=d.prescription_id,
                         outcome=d.outcome))
    for a in session.scalars(select(Authorization).where(Authorization.prescription_id.in_(ids))):
        closed = ""
        if a.closed_at is not None:
            closed = f"; {a.status} {a.closed_at.isoformat(timespec='minutes')}"
            if a.reversal_reason:
                closed += f" ({a.reversal_reason})"
        out.append(Entry(a.issued_at, "authorization", f"authorization:{a.id}",
                         f"Authorization #{a.id} issued: dispense by {a.dispense_by.isoformat(timespec='minutes')}",
                         f"now {a.status}{closed}", a.reversed_by or "", prescription_id=a.prescription_id,
                         outcome=a.status))
    for d in session.scalars(select(Dispense).where(Dispense.prescription_id.in_(ids))):
        rma = f", RMA {d.rma_number}" if d.rma_number else ""
        undone = (f"; reversed {d.reversed_at.isoformat(timespec='minutes')} by {d.reversed_by}: {d.reversal_reason}"
                  if d.reversed_at is not None else "")
        out.append(Entry(d.dispensed_at, "dispense", f"dispense:{d.id}",
                         f"Dispense #{d.id}: quantity {_num(d.quantity)}, {d.days_supply} days{rma}",
                         f"authorization #{d.authorization_id}{undone}", d.dispensed_by, d.reversed_at is not None,
                         prescription_id=d.prescription_id))
    return out


def course(session: Session, patient_id: int, *, visible=None) -> list[Entry]:
    """``visible``: a where-clause on Prescription keeping the prescriptions to show (one, for the
    auditor's view of a prescription; those routed to the pharmacy, for its staff)."""
    entries = _evidence(session, patient_id) + _prescriptions(session, patient_id, visible)
    subjects = {e.subject: e for e in entries}
    subjects_list = list(subjects) + [f"patient:{patient_id}"]
    for chunk in (subjects_list[i:i + 500] for i in range(0, len(subjects_list), 500)):
        for event_id, action, actor, subject in session.execute(
                select(AuditEvent.id, AuditEvent.action, AuditEvent.actor, AuditEvent.subject)
                .where(AuditEvent.subject.in_(chunk)).order_by(AuditEvent.id)):
            if subject in subjects:
                subjects[subject].events.append((event_id, action, actor))
    # Newest first; records of one instant in the order they were made (a decision before its authorization).
    order = {"test": 0, "lab": 0, "attestation": 0, "transfer_in": 0, "prescription": 1, "decision": 2,
             "authorization": 3, "dispense": 4}
    return sorted(entries, key=lambda e: (e.at, order[e.kind], e.subject), reverse=True)


def actor_names(session: Session, actors) -> dict[str, str]:
    """People's names beside their ids: "user:4" -> "rph@example.org (pharmacist)"."""
    from pharmsafe.models import User

    ids = {int(a.split(":", 1)[1]) for a in actors if a.startswith("user:") and a.split(":", 1)[1].isdigit()}
    if not ids:
        return {}
    return {f"user:{u.id}": f"{u.email} ({u.role})" for u in session.scalars(select(User).where(User.id.in_(ids)))}
