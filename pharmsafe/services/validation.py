"""Checks that need the clock or the database, shared by the API and the web forms."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from pharmsafe.errors import ValidationFailed
from pharmsafe.services.context import Ctx

EVIDENCE_DATES = ("specimen_collected_on", "collected_on", "attested_on", "written_on", "enrolled_on",
                  "date_of_birth", "rma_do_not_dispense_after_never")


def refuse_future_dates(ctx: Ctx, data: dict[str, Any], names: Iterable[str] = EVIDENCE_DATES, *,
                        pharmacy_time_zone: str | None = None) -> None:
    """Evidence dates may not lie in the future, judged against today in the program's zone
    (``Ctx.today_for``): America/New_York under iPLEDGE; under EU PPP the zone of the pharmacy
    concerned (``pharmacy_time_zone``) or, for a record tied to no pharmacy, PHARMSAFE_TIME_ZONE."""
    today = ctx.today_for(pharmacy_time_zone)
    errors = {name: [f"May not be in the future (today is {today.isoformat()})."]
              for name in names if isinstance(data.get(name), date) and data[name] > today}
    if errors:
        raise ValidationFailed(errors)
