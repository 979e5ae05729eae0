"""Reads that the API and the pages both show: a prescription's decisions, its latest
authorization, and the latest decision of many prescriptions at once."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmsafe.models import Authorization, Decision


def decisions_of(session: Session, prescription_id: int) -> list[Decision]:
    """Every decision on the prescription, newest first."""
    return list(session.scalars(select(Decision).where(Decision.prescription_id == prescription_id)
                                .order_by(Decision.id.desc())))


def latest_authorization(session: Session, prescription_id: int) -> Authorization | None:
    return session.scalars(select(Authorization).where(Authorization.prescription_id == prescription_id)
                           .order_by(Authorization.id.desc()).limit(1)).first()


def authorization_of(session: Session, decision_id: int) -> Authorization | None:
    """The authorization a decision issued, if any, even after a later one superseded it."""
    return session.scalar(select(Authorization).where(Authorization.decision_id == decision_id))


def latest_decisions(session: Session, prescription_ids: list[int]) -> dict[int, Decision]:
    """The newest decision of each prescription that has one, in one query."""
    latest: dict[int, Decision] = {}
    if prescription_ids:
        for decision in session.scalars(select(Decision).where(Decision.prescription_id.in_(prescription_ids))
                                        .order_by(Decision.id.desc())):
            latest.setdefault(decision.prescription_id, decision)
    return latest
