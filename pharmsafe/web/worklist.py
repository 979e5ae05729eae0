"""The pharmacist's worklists: what needs action now, in the order it needs it.

- closing today: an authorization whose "dispense by" falls on today's date where the policy counts
  its days (or has passed and the scheduler has not expired it yet), red, with the hour;
- closing in the next 48 hours: the other authorizations due before now + 48 h;
- blocked: with the failing gates' short reasons and who must act on the first of them;
- waiting for evaluation: submitted, not evaluated yet, oldest first.

Each item says in words what happens next and who must act. Presentation only: the reasons and the
hints are the recorded decision's."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from pharmsafe.models import Authorization, Decision, Patient, Prescriber, Prescription
from pharmsafe.models.statuses import AuthorizationStatus, PrescriptionStatus
from pharmsafe.web import present

SOON = timedelta(hours=48)
LIST_SIZE = 50
# Who records what a failing gate needs: the registry's records are the administrator's, the RMA is
# obtained at the counter, and everything about the patient and the prescription is the prescriber's.
GATE_ACTORS = {"pharmacy": "Administrator", "prescriber": "Administrator", "rems_authorization": "Pharmacist"}
PRESCRIBER = "Prescriber"
PHARMACIST = "Pharmacist"
KINDS = ("closing_today", "closing_soon", "blocked", "waiting")
TITLES = {
    "closing_today": "Closing today",
    "closing_soon": "Closing in the next 48 hours",
    "blocked": "Blocked",
    "waiting": "Waiting for evaluation",
}


def end_of_day(now: datetime, zone: ZoneInfo) -> datetime:
    """The first instant of tomorrow in ``zone``: what "today" covers."""
    today = now.astimezone(zone).date()
    return datetime.combine(today + timedelta(days=1), time(0), zone)


def deadline_kind(dispense_by: datetime, now: datetime, zone: ZoneInfo) -> str | None:
    """closing_today (before tomorrow starts in ``zone``, passed or not), closing_soon (before
    now + 48 h), or None (later)."""
    if dispense_by < end_of_day(now, zone):
        return "closing_today"
    if dispense_by < now + SOON:
        return "closing_soon"
    return None


@dataclass(frozen=True)
class Reason:
    label: str
    message: str


@dataclass(frozen=True)
class WorkItem:
    kind: str
    rx: Prescription
    patient: Patient
    prescriber: Prescriber
    dispense_by: datetime | None
    actor: str
    next_step: str
    reasons: list[Reason] = field(default_factory=list)


def closing_step(dispense_by: datetime, now: datetime, zone: ZoneInfo) -> str:
    hour = dispense_by.astimezone(zone).strftime("%H:%M")
    if dispense_by <= now:
        return (f"The deadline passed at {hour}: the authorization can no longer be dispensed. "
                "Evaluate again; a new window may need a new pregnancy test.")
    day = "today" if dispense_by < end_of_day(now, zone) else dispense_by.astimezone(zone).strftime("%a %Y-%m-%d")
    return (f"Dispense before {hour} {day} ({present.time_left(dispense_by, now)}); after that the "
            "authorization expires and the prescription must be evaluated again.")


def blocked_step(decision: Decision | None) -> tuple[str, str, list[Reason]]:
    """(who acts, what they do, the failing gates' reasons) from the latest decision."""
    failing = present.failures(decision)
    reasons = [Reason(row.label, row.message) for row in failing]
    if not failing:
        return PHARMACIST, "Evaluate again to see what blocks it.", reasons
    first = failing[0]
    actor = GATE_ACTORS.get(first.gate, PRESCRIBER)
    then = "then the pharmacist evaluates again." if actor != PHARMACIST else "then evaluate again."
    hint = (first.unblock or first.message).rstrip(".")
    more = f" ({len(failing) - 1} more below)" if len(failing) > 1 else ""
    return actor, f"{hint}{more}; {then}", reasons


def worklists(session: Session, visible, now: datetime, zone: ZoneInfo) -> dict[str, dict]:
    """Each list's first LIST_SIZE items and its full count, for the prescriptions ``visible``
    selects (a where-clause)."""
    base = (select(Prescription, Patient, Prescriber)
            .join(Patient, Patient.id == Prescription.patient_id)
            .join(Prescriber, Prescriber.id == Prescription.prescriber_id)
            .where(visible))
    active = and_(Authorization.prescription_id == Prescription.id,
                  Authorization.status == AuthorizationStatus.ACTIVE)
    out: dict[str, dict] = {kind: {"items": [], "count": 0} for kind in KINDS}

    # Authorizations due before now + 48 h (today's end may lie beyond it, just after midnight).
    horizon = max(now + SOON, end_of_day(now, zone))
    due = (base.add_columns(Authorization.dispense_by).join(Authorization, active)
           .where(Prescription.status == PrescriptionStatus.AUTHORIZED, Authorization.dispense_by < horizon))
    for rx, patient, prescriber, dispense_by in session.execute(
            due.order_by(Authorization.dispense_by, Prescription.id)).all():
        kind = deadline_kind(dispense_by, now, zone)
        if kind is None:
            continue
        bucket = out[kind]
        bucket["count"] += 1
        if len(bucket["items"]) < LIST_SIZE:
            bucket["items"].append(WorkItem(kind, rx, patient, prescriber, dispense_by, PHARMACIST,
                                            closing_step(dispense_by, now, zone)))

    for kind, status, order in (("blocked", PrescriptionStatus.BLOCKED, Prescription.id.desc()),
                                ("waiting", PrescriptionStatus.SUBMITTED, Prescription.id)):
        stmt = base.where(Prescription.status == status)
        out[kind]["count"] = session.scalar(
            select(func.count()).select_from(Prescription).where(visible, Prescription.status == status)) or 0
        rows = session.execute(stmt.order_by(order).limit(LIST_SIZE)).all()
        latest = _latest_decisions(session, [rx.id for rx, _p, _pr in rows]) if kind == "blocked" else {}
        for rx, patient, prescriber in rows:
            if kind == "blocked":
                actor, step, reasons = blocked_step(latest.get(rx.id))
            else:
                actor, step, reasons = PHARMACIST, "Evaluate: run every gate against the current evidence.", []
            out[kind]["items"].append(WorkItem(kind, rx, patient, prescriber, None, actor, step, reasons))
    return out


def _latest_decisions(session: Session, prescription_ids: list[int]) -> dict[int, Decision]:
    if not prescription_ids:
        return {}
    newest = (select(func.max(Decision.id)).where(Decision.prescription_id.in_(prescription_ids))
              .group_by(Decision.prescription_id))
    return {d.prescription_id: d for d in session.scalars(select(Decision).where(Decision.id.in_(newest)))}
