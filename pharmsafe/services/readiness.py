"""The readiness check: every gate, run read-only on a prescription, sent or not yet sent (DESIGN.md
§2 `check.performed`). No decision is recorded and no authorization issued; one `check.performed`
event keeps what the check found, which is what the page shows back."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from pharmsafe.audit import append_event
from pharmsafe.errors import NotFound
from pharmsafe.gates.results import Decision as GateDecision
from pharmsafe.models import AuditEvent, Prescription
from pharmsafe.services.context import Ctx
from pharmsafe.services.evaluation import run_gates

KIND = "readiness"


def check_readiness(ctx: Ctx, rx: Prescription, draft: dict[str, Any] | None = None) -> tuple[AuditEvent, GateDecision]:
    """Run the gates on ``rx`` (a stored prescription, or a draft_prescription with ``draft``, the
    fields it was made from) and append the check.performed event."""
    result = run_gates(ctx, rx)
    subject = f"prescription:{rx.id}" if rx.id is not None else f"patient:{rx.patient_id}"
    payload: dict[str, Any] = {"kind": KIND, "outcome": result.outcome,
                               "failing": [g.code for g in result.gates if g.status.value == "fail"],
                               "policy_version": result.policy_version,
                               "gates": [g.to_dict() for g in result.gates]}
    if draft is not None:
        payload["draft"] = draft
    event = append_event(ctx.session, action="check.performed", actor=ctx.actor, subject=subject, now=ctx.now,
                         policy=result.policy_name, payload=payload)
    return event, result


def readiness_event(ctx: Ctx, event_id: int, *, actor: str, subject: str) -> AuditEvent:
    """A readiness check ``actor`` ran on ``subject``, to show again; anything else is 404."""
    event = ctx.session.scalar(select(AuditEvent).where(AuditEvent.id == event_id,
                                                        AuditEvent.action == "check.performed",
                                                        AuditEvent.actor == actor, AuditEvent.subject == subject))
    if event is None:
        raise NotFound(f"No readiness check {event_id} of yours on this prescription.")
    return event
