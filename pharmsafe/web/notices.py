"""Messages shown on the next page after a change (Flask's flashed messages)."""
from __future__ import annotations

from flask import flash

from pharmsafe.http.unit import get_session
from pharmsafe.models import Authorization


def report_reversed(reversed_ids: list[int]) -> None:
    """Say which authorizations a change reversed (ids and reasons only: the message travels in the
    session cookie)."""
    if not reversed_ids:
        return
    session = get_session()
    parts = []
    for auth_id in reversed_ids:
        auth = session.get(Authorization, auth_id)
        parts.append(f"#{auth.id} (prescription #{auth.prescription_id}, reason: {auth.reversal_reason})")
    noun = "authorization" if len(parts) == 1 else "authorizations"
    flash(f"This change reversed {len(parts)} {noun}: {'; '.join(parts)}.", "reversed")
