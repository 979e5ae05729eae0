"""Authorizations over their life: reversal (by a pharmacist or by new evidence) and expiry."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from pharmsafe.audit import append_event
from pharmsafe.audit.chain import append_events
from pharmsafe.errors import Conflict, NotFound
from pharmsafe.models import Authorization, Decision, Prescription
from pharmsafe.models.statuses import AuthorizationStatus, PrescriptionStatus
from pharmsafe.services.context import Ctx


def is_past(dispense_by: datetime, now: datetime) -> bool:
    """dispense_by is 23:59:59 of the last day; the whole of that second still counts."""
    return now >= dispense_by + timedelta(seconds=1)


def get_authorization(ctx: Ctx, authorization_id: int, *, for_update: bool = False) -> Authorization:
    auth = ctx.session.get(Authorization, authorization_id, with_for_update=for_update or None,
                           populate_existing=for_update)
    if auth is None:
        raise NotFound(f"Authorization {authorization_id} does not exist.")
    return auth


def _close(ctx: Ctx, auth: Authorization, status: str, *, reason: str | None, action: str,
           payload: dict | None = None) -> None:
    auth.status = status
    auth.closed_at = ctx.now
    if status == AuthorizationStatus.REVERSED:
        auth.reversal_reason = reason
        auth.reversed_by = ctx.actor
    rx = ctx.session.get(Prescription, auth.prescription_id)
    rx.status = status
    append_event(ctx.session, action=action, actor=ctx.actor, subject=f"authorization:{auth.id}",
                 now=ctx.now, policy=auth.decision.policy_name,
                 payload={"prescription_id": auth.prescription_id, "reason": reason, **(payload or {})})


def reverse_authorization(ctx: Ctx, authorization_id: int, reason: str) -> Authorization:
    """A pharmacist reverses an unused authorization."""
    auth = get_authorization(ctx, authorization_id, for_update=True)
    refuse_unless_active(ctx, auth)
    _close(ctx, auth, "reversed", reason=reason, action="authorization.reversed")
    return auth


def refuse_unless_active(ctx: Ctx, auth: Authorization) -> None:
    if auth.status == AuthorizationStatus.DISPENSED:
        raise Conflict(f"Authorization {auth.id} has already been dispensed.", code="already_dispensed")
    if auth.status == AuthorizationStatus.REVERSED:
        raise Conflict(f"Authorization {auth.id} was reversed ({auth.reversal_reason}).",
                       code="authorization_reversed")
    if auth.status == AuthorizationStatus.EXPIRED or is_past(auth.dispense_by, ctx.now):
        raise Conflict(f"Authorization {auth.id} expired at {auth.dispense_by.isoformat()}; "
                       "evaluate the prescription again.", code="authorization_expired")


def reverse_active(ctx: Ctx, auths, reason: str, payload: dict | None = None) -> list[int]:
    """Reverse the given authorizations that are still active; returns their ids."""
    reversed_ids = []
    for auth in auths:
        if auth.status == AuthorizationStatus.ACTIVE:
            _close(ctx, auth, "reversed", reason=reason, action="authorization.reversed", payload=payload)
            reversed_ids.append(auth.id)
    return reversed_ids


def active_authorizations(ctx: Ctx, *criteria) -> list[Authorization]:
    stmt = (select(Authorization).join(Prescription, Prescription.id == Authorization.prescription_id)
            .where(Authorization.status == AuthorizationStatus.ACTIVE, *criteria).order_by(Authorization.id)
            .with_for_update(of=Authorization))
    return list(ctx.session.scalars(stmt).unique())


def reverse_for_patient(ctx: Ctx, patient_id: int, reason: str, payload: dict | None = None) -> list[int]:
    return reverse_active(ctx, active_authorizations(ctx, Prescription.patient_id == patient_id), reason, payload)


def reverse_citing(ctx: Ctx, patient_id: int, evidence_ref: str, reason: str) -> list[int]:
    """Reverse the patient's active authorizations whose decision cited ``evidence_ref``."""
    auths = [a for a in active_authorizations(ctx, Prescription.patient_id == patient_id)
             if evidence_ref in (a.decision.cited or [])]
    return reverse_active(ctx, auths, reason, {"evidence": evidence_ref})


def reverse_for_prescriber(ctx: Ctx, prescriber_id: int, reason: str) -> list[int]:
    return reverse_active(ctx, active_authorizations(ctx, Prescription.prescriber_id == prescriber_id), reason)


def reverse_for_pharmacy(ctx: Ctx, pharmacy_id: int, reason: str) -> list[int]:
    return reverse_active(ctx, active_authorizations(ctx, Authorization.pharmacy_id == pharmacy_id), reason)


def expire_stale_authorizations(ctx: Ctx, *, chunk_size: int = 200) -> int:
    """Expire one chunk of active authorizations past their dispense_by; returns how many it expired.

    Set-based: one SELECT of the chunk, one UPDATE of the authorizations, one of their prescriptions,
    one INSERT of their audit events. The caller commits after each chunk (so a chunk holds the write
    lock briefly) and calls again until it returns less than chunk_size (a smaller count means the
    chunk was short, or another transaction holds some of it and a later sweep will go on). Rows
    another transaction has locked are skipped and the UPDATE re-checks the status, so two sweepers
    never expire (or audit) one authorization twice."""
    cutoff = ctx.now.replace(microsecond=0)
    chunk = ctx.session.execute(
        select(Authorization.id, Authorization.prescription_id, Authorization.dispense_by, Decision.policy_name)
        .join(Decision, Decision.id == Authorization.decision_id)
        .join(Prescription, Prescription.id == Authorization.prescription_id)
        .where(Authorization.status == AuthorizationStatus.ACTIVE, Authorization.dispense_by < cutoff)
        .order_by(Authorization.dispense_by, Authorization.id).limit(chunk_size)
        # The prescriptions are locked with their authorizations, in the same statement: an
        # evaluation or dispense holding a prescription (and about to lock its authorization) is
        # skipped, not waited for, so the two never wait on each other in opposite orders.
        .with_for_update(skip_locked=True, of=[Authorization, Prescription])).all()
    if not chunk:
        return 0
    expired_ids = set(ctx.session.scalars(
        update(Authorization)
        # The status is re-checked in a form no index serves: SQLite's planner, without statistics,
        # would otherwise walk the status index over every active authorization instead of going
        # by primary key, making each chunk's UPDATE as slow as the backlog is long.
        .where(Authorization.id.in_([row.id for row in chunk]), (Authorization.status + "") == "active")
        .values(status=AuthorizationStatus.EXPIRED, closed_at=ctx.now)
        .returning(Authorization.id)
        .execution_options(synchronize_session=False)).all())
    expired = [row for row in chunk if row.id in expired_ids]
    ctx.session.execute(update(Prescription)
                        .where(Prescription.id.in_([row.prescription_id for row in expired]))
                        .values(status=PrescriptionStatus.EXPIRED).execution_options(synchronize_session=False))
    append_events(ctx.session, [
        {"action": "authorization.expired", "subject": f"authorization:{row.id}", "policy": row.policy_name,
         "payload": {"prescription_id": row.prescription_id, "reason": "dispense_by passed",
                     "dispense_by": row.dispense_by}}
        for row in sorted(expired, key=lambda r: r.id)], actor=ctx.actor, now=ctx.now)
    return len(expired)

