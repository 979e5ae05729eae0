"""Notifications: who has been told. The scheduler finds the events below among the last LOOKBACK
of records, makes one notification per event and person (the unique key makes that hold across
workers and restarts), appends `notification.sent` for each one made, and, when SMTP is configured,
mails each once (claimed before it is sent; a claim whose worker died is taken over after
CLAIM_EXPIRES, so a crash between sending and recording may send one again, never none).

- blocked: a prescription is blocked (to its prescriber, with the reasons and the hints); told again
  only when the reasons change;
- window_closing: an authorization's deadline is within 24 hours and nothing is dispensed (to the
  pharmacy's staff and the prescriber);
- expired: an authorization expired undispensed (the same people);
- patient_locked: a positive pregnancy test locks the patient (the prescriber, and the staff of every
  pharmacy a prescription of the patient is routed to).

The e-mail says what to do and links to the page, and carries no evidence values and no names."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pharmsafe.audit import append_event
from pharmsafe.models import Authorization, Decision, Notification, Patient, PregnancyTest, Prescription, User
from pharmsafe.models.statuses import AuthorizationStatus, PrescriptionStatus
from pharmsafe.models.users import PHARMACY_STAFF
from pharmsafe.services.context import Ctx

LOOKBACK = timedelta(days=7)
CLOSING_WITHIN = timedelta(hours=24)
CLAIM_EXPIRES = timedelta(minutes=10)
MAX_MAIL_ATTEMPTS = 5
GATE_LABELS = {"pharmacy": "Pharmacy", "prescriber": "Prescriber", "patient": "Patient enrolment",
               "pregnancy_test": "Pregnancy test", "contraception": "Contraception", "comprehension": "Comprehension",
               "counseling": "Counseling", "labs": "Lab results", "prescription": "Prescription",
               "rems_authorization": "REMS authorization (RMA)"}


@dataclass(frozen=True)
class Told:
    """One event for one person, before it is stored."""
    user_id: int
    event_key: str
    kind: str
    subject: str
    title: str
    body: str
    mail_subject: str
    mail_body: str
    link: str


def _people(session: Session, *, prescriber_id: int | None = None, pharmacy_ids=()) -> list[tuple[int, str]]:
    """(user id, role) of the active users linked to the prescriber or to the pharmacies."""
    linked = []
    if prescriber_id is not None:
        linked.append(and_(User.role == "prescriber", User.prescriber_id == prescriber_id))
    if pharmacy_ids:
        linked.append(and_(User.role.in_(PHARMACY_STAFF), User.pharmacy_id.in_(list(pharmacy_ids))))
    if not linked:
        return []
    return [(r.id, r.role) for r in session.execute(select(User.id, User.role).where(User.active.is_(True),
                                                                                   or_(*linked)).order_by(User.id))]


def _rx_link(role: str, rx_id: int) -> str:
    return f"/prescriber/prescriptions/{rx_id}" if role == "prescriber" else f"/pharmacist/prescriptions/{rx_id}"


def _mail(base_url: str, what_to_do: str, link: str) -> str:
    return f"{what_to_do}\n\nOpen PharmSafe to see the details: {base_url}{link}\n"


def _blocked(session: Session, since: datetime, base_url: str) -> list[Told]:
    newest = (select(func.max(Decision.id)).join(Prescription, Prescription.id == Decision.prescription_id)
              .where(Prescription.status == PrescriptionStatus.BLOCKED, Decision.evaluated_at >= since)
              .group_by(Decision.prescription_id))
    out = []
    for decision, rx in session.execute(select(Decision, Prescription)
                                        .join(Prescription, Prescription.id == Decision.prescription_id)
                                        .where(Decision.id.in_(newest), Decision.stage == "evaluation",
                                               Decision.outcome == "blocked").order_by(Decision.id)):
        failing = [g for g in decision.gates if g.get("status") == "fail"]
        codes = ",".join(sorted(g.get("code", "") for g in failing))
        reasons = hashlib.sha256(codes.encode()).hexdigest()[:16]
        labels = ", ".join(GATE_LABELS.get(g.get("gate"), g.get("gate", "")) for g in failing) or "see the page"
        body = "\n".join(f"{GATE_LABELS.get(g.get('gate'), g.get('gate'))}: {g.get('message', '')}"
                         + (f" To unblock: {g['unblock']}" if g.get("unblock") else "") for g in failing)
        for user_id, role in _people(session, prescriber_id=rx.prescriber_id):
            link = _rx_link(role, rx.id)
            out.append(Told(user_id, f"prescription:{rx.id}:blocked:{reasons}", "blocked", f"prescription:{rx.id}",
                            f"Prescription #{rx.id} is blocked", body,
                            f"PharmSafe: prescription #{rx.id} is blocked",
                            _mail(base_url, f"Prescription #{rx.id} cannot be dispensed until this is recorded: "
                                            f"{labels}. Record what is missing; the prescription is evaluated "
                                            "again as soon as it arrives.", link), link))
    return out


def _authorizations(session: Session, now: datetime, since: datetime, base_url: str) -> list[Told]:
    out = []
    closing = (select(Authorization, Prescription).join(Prescription, Prescription.id == Authorization.prescription_id)
               .where(Authorization.status == AuthorizationStatus.ACTIVE, Authorization.dispense_by > now,
                      Authorization.dispense_by <= now + CLOSING_WITHIN))
    expired = (select(Authorization, Prescription).join(Prescription, Prescription.id == Authorization.prescription_id)
               .where(Authorization.status == AuthorizationStatus.EXPIRED, Authorization.closed_at >= since))
    for kind, stmt in (("window_closing", closing), ("expired", expired)):
        for auth, rx in session.execute(stmt.order_by(Authorization.id)):
            by = auth.dispense_by.isoformat(timespec="minutes")
            if kind == "window_closing":
                title = f"Prescription #{rx.id} must be dispensed by {by}"
                what = (f"Prescription #{rx.id} is authorized but not dispensed, and its authorization ends within "
                        "24 hours. Dispense it before then, or the prescription must be evaluated again.")
                body = (f"The authorization ends at {by} (UTC). After that it expires; a missed window may mean "
                        "a new pregnancy test and a new evaluation.")
            else:
                title = f"The authorization for prescription #{rx.id} expired undispensed"
                what = (f"The authorization for prescription #{rx.id} expired before it was dispensed. Evaluate "
                        "the prescription again if it is still to be dispensed.")
                body = f"It ended at {by} (UTC) with nothing dispensed."
            for user_id, role in _people(session, prescriber_id=rx.prescriber_id, pharmacy_ids=[rx.pharmacy_id]):
                link = _rx_link(role, rx.id)
                out.append(Told(user_id, f"authorization:{auth.id}:{kind}", kind, f"prescription:{rx.id}", title, body,
                                f"PharmSafe: {title}",
                                _mail(base_url, what, link), link))
    return out


def _locks(session: Session, since: datetime, base_url: str) -> list[Told]:
    out = []
    for test, patient in session.execute(
            select(PregnancyTest, Patient).join(Patient, Patient.id == PregnancyTest.patient_id)
            .where(PregnancyTest.result == "positive", PregnancyTest.entered_in_error_at.is_(None),
                   PregnancyTest.recorded_at >= since).order_by(PregnancyTest.id)):
        open_rx = session.execute(select(Prescription.id, Prescription.pharmacy_id).where(
            Prescription.patient_id == patient.id, Prescription.status != PrescriptionStatus.DISPENSED)
            .order_by(Prescription.id.desc())).all()
        first_rx = {pharmacy: rx_id for rx_id, pharmacy in open_rx}
        body = (f"A positive pregnancy test (test {test.id}) locks {patient.first_name} {patient.last_name}: no "
                "prescription of theirs is authorized until the prescriber records a pregnancy_excluded clearance "
                "with a note, or marks the test entered in error if it was recorded by mistake.")
        for user_id, role in _people(session, prescriber_id=patient.prescriber_id, pharmacy_ids=list(first_rx)):
            if role == "prescriber":
                link = f"/prescriber/patients/{patient.id}"
                what = (f"Patient #{patient.id} can receive no prescription until you act on a recorded result. "
                        "Open the patient's page: it says the two ways out.")
            else:
                pharmacy_id = session.scalar(select(User.pharmacy_id).where(User.id == user_id))
                link = f"/pharmacist/prescriptions/{first_rx[pharmacy_id]}"
                what = (f"A patient with a prescription routed to your pharmacy (#{first_rx[pharmacy_id]}) can "
                        "receive nothing until their prescriber acts. Do not dispense.")
            out.append(Told(user_id, f"pregnancy_test:{test.id}:patient_locked", "patient_locked",
                            f"patient:{patient.id}", f"{patient.first_name} {patient.last_name} is locked", body,
                            f"PharmSafe: patient #{patient.id} needs the prescriber", _mail(base_url, what, link), link))
    return out


def _insert(session: Session, told: Told, now: datetime, mail: bool) -> int | None:
    """The notification's id, or None when that person was told of that event already."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values: dict[str, Any] = {**told.__dict__, "created_at": now, "mail_state": "pending" if mail else None,
                              "mail_attempts": 0}
    stmt = (insert(Notification).values(**values)
            .on_conflict_do_nothing(index_elements=["user_id", "event_key"]).returning(Notification.id))
    return session.scalar(stmt)


def notify(ctx: Ctx, *, base_url: str, mail: bool) -> int:
    """Make the notifications of every event not told yet; how many were made."""
    session = ctx.session
    since = ctx.now - LOOKBACK
    found = _blocked(session, since, base_url) + _authorizations(session, ctx.now, since, base_url) + \
        _locks(session, since, base_url)
    made = 0
    for told in found:
        notification_id = _insert(session, told, ctx.now, mail)
        if notification_id is None:
            continue
        made += 1
        append_event(session, action="notification.sent", actor=ctx.actor, subject=f"notification:{notification_id}",
                     now=ctx.now, payload={"user_id": told.user_id, "kind": told.kind, "event": told.event_key,
                                           "about": told.subject, "by_mail": mail})
    return made


def claim_mail(session: Session, now: datetime, limit: int = 50) -> list[int]:
    """Notifications to mail, each claimed by this worker (one UPDATE each: a row another worker
    claimed meanwhile is skipped)."""
    due = or_(Notification.mail_state == "pending",
              and_(Notification.mail_state == "sending", Notification.mail_claimed_at < now - CLAIM_EXPIRES))
    claimed = []
    for notification_id in session.scalars(select(Notification.id).where(due).order_by(Notification.id).limit(limit)):
        done = session.execute(update(Notification).where(Notification.id == notification_id, due)
                               .values(mail_state="sending", mail_claimed_at=now,
                                       mail_attempts=Notification.mail_attempts + 1))
        if done.rowcount == 1:
            claimed.append(notification_id)
    return claimed


def mail_settled(session: Session, notification_id: int, now: datetime, *, sent: bool) -> None:
    row = session.get(Notification, notification_id)
    if sent:
        row.mail_state, row.mailed_at = "sent", now
    else:  # tried again next run, up to MAX_MAIL_ATTEMPTS
        row.mail_state = "failed" if row.mail_attempts >= MAX_MAIL_ATTEMPTS else "pending"


def unread_count(session: Session, user_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0
