"""Checks that need the clock or the database, shared by the API and the web forms."""
from __future__ import annotations

from datetime import date
from typing import Any, Iterable

from pharmsafe.services.context import Ctx
from pharmsafe.services.errors import ValidationFailed

EVIDENCE_DATES = ("specimen_collected_on", "collected_on", "attested_on", "written_on", "enrolled_on",
                  "date_of_birth", "rma_do_not_dispense_after_never")


def refuse_future_dates(ctx: Ctx, data: dict[str, Any], names: Iterable[str] = EVIDENCE_DATES) -> None:
    """Evidence dates may not lie in the future, judged against today in PHARMSAFE_TIME_ZONE."""
    today = ctx.today
    errors = {name: [f"May not be in the future (today is {today.isoformat()})."]
              for name in names if isinstance(data.get(name), date) and data[name] > today}
    if errors:
        raise ValidationFailed(errors)


def require(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise ValidationFailed({field: [message]})
