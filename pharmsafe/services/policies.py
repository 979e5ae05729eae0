"""The policy versions in force, and the `policy.loaded` audit event that records them (DESIGN §2)."""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from pharmsafe.audit import append_event
from pharmsafe.audit.chain import lock_chain
from pharmsafe.models import AuditEvent
from pharmsafe.services.context import Ctx, ProgramConfig

ACTION = "policy.loaded"
SUBJECT = "policy:set"


def policy_set(config: ProgramConfig) -> list[dict[str, str]]:
    """The versions and dates in force, by name: each with its version, effective date and where
    that date came from ("shipped" or "PHARMSAFE_POLICY_EFFECTIVE")."""
    return [{"name": name, "version": policy.version, "effective_from": policy.effective_from.isoformat(),
             "source": config.effective_sources[name]}
            for name, policy in sorted(config.policies.items())]


def latest_policy_set(ctx: Ctx) -> list[dict[str, Any]] | None:
    """The set recorded by the latest `policy.loaded` event, or None when there is none."""
    payload = ctx.session.scalars(select(AuditEvent.payload).where(AuditEvent.action == ACTION)
                                  .order_by(AuditEvent.id.desc()).limit(1)).first()
    if payload is None:
        return None
    return json.loads(payload).get("policies")


def record_policy_set(ctx: Ctx) -> AuditEvent | None:
    """Append a `policy.loaded` event when the set of versions and dates in force differs from the
    one the latest such event recorded; return it, or None when nothing changed. Flushes, never
    commits. The chain is locked before the comparison, so that two processes starting together
    write the event once."""
    lock_chain(ctx.session)
    current = policy_set(ctx.config)
    if latest_policy_set(ctx) == current:
        return None
    return append_event(ctx.session, action=ACTION, actor=ctx.actor, subject=SUBJECT, now=ctx.now,
                        payload={"policies": current, "source": "system"})
