"""GET /fhir/R4/MedicationDispense?… (INTEROP.md §2, §4.3): dispenses and refused dispense attempts
the caller may see, newest first, 50 a page, as a searchset Bundle with a `next` link.

Parameters: `patient:identifier` (a REMS or PharmSafe patient id), `prescription:identifier`,
`status` (completed, declined) and `_cursor` (the next link's); an unknown or repeated one is 422.
An identifier that names nothing the caller may see matches nothing."""
from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from pharmsafe.audit.chain import format_instant
from pharmsafe.fhir.dispense import completed_dispense, declined_dispense
from pharmsafe.fhir.inbound import FhirInvalid
from pharmsafe.fhir.refs import systems
from pharmsafe.models import Decision, Dispense, Patient, Pharmacy, Prescription, User
from pharmsafe.services.access import visible_prescriptions

PAGE_SIZE = 50
PARAMETERS = ("patient:identifier", "prescription:identifier", "status", "_cursor")
STATUSES = ("completed", "declined")
# Within one instant a dispense sorts before a refused attempt, then by id, newest first.
RANK = {"dispense": 1, "decision": 0}


def _invalid(name: str, message: str, issue: str = "value") -> FhirInvalid:
    return FhirInvalid({name: [message]}, {name: issue}, "The search parameters cannot be used.")


def parse(args, base_url: str) -> dict[str, Any]:
    problems: dict[str, str] = {}
    for name in args:
        if name not in PARAMETERS:
            problems[name] = f"Unknown search parameter; use {', '.join(PARAMETERS[:3])}."
        elif len(args.getlist(name)) > 1:
            problems[name] = "Give this parameter once."
    if problems:
        raise FhirInvalid({k: [v] for k, v in problems.items()}, {k: "value" for k in problems},
                          "The search parameters cannot be used.")
    own = systems(base_url)
    query: dict[str, Any] = {}
    for name, allowed in (("patient:identifier", (own["rems"], own["patient"])),
                          ("prescription:identifier", (own["prescription"],))):
        if name in args:
            system, bar, value = args[name].partition("|")
            if not bar or system not in allowed or not 1 <= len(value) <= 64:
                raise _invalid(name, f"Give system|value, the system one of {', '.join(allowed)}.")
            query[name] = (system, value)
    if "status" in args:
        if args["status"] not in STATUSES:
            raise _invalid("status", "A MedicationDispense here is completed or declined.", "code-invalid")
        query["status"] = args["status"]
    if "_cursor" in args:
        query["_cursor"] = _read_cursor(args["_cursor"])
    return query


def _cursor(instant: datetime, kind: str, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{format_instant(instant)}~{kind}~{row_id}".encode()).decode().rstrip("=")


def _read_cursor(text: str) -> tuple[datetime, str, int]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        instant, kind, row_id = raw.split("~")
        when = datetime.fromisoformat(instant.replace("Z", "+00:00"))
        if kind not in RANK or when.tzinfo is None:
            raise ValueError
        return when, kind, int(row_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _invalid("_cursor", "Not a cursor this server gave: follow the next link as it is.") from None


def _before(column_time, column_id, kind: str, cursor: tuple[datetime, str, int] | None):
    if cursor is None:
        return True
    when, cursor_kind, cursor_id = cursor
    if RANK[kind] < RANK[cursor_kind]:
        return column_time <= when
    if RANK[kind] > RANK[cursor_kind]:
        return column_time < when
    return or_(column_time < when, and_(column_time == when, column_id < cursor_id))


def _id_or_none(value: str) -> int:
    """A record id in ASCII digits; anything else (a superscript two is a digit to str.isdigit)
    matches nothing."""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else -1


def search(session: Session, user: User, query: dict[str, Any], base_url: str, self_url: str) -> dict[str, Any]:
    own = systems(base_url)
    rx_filter = [visible_prescriptions(user)] if user.role != "admin" else []
    if "patient:identifier" in query:
        system, value = query["patient:identifier"]
        if system == own["rems"]:
            rx_filter.append(Prescription.patient_id.in_(select(Patient.id).where(Patient.rems_patient_id == value)))
        else:
            rx_filter.append(Prescription.patient_id == _id_or_none(value))
    if "prescription:identifier" in query:
        value = query["prescription:identifier"][1]
        rx_filter.append(Prescription.id == _id_or_none(value))
    visible = select(Prescription.id).where(*rx_filter)
    cursor = query.get("_cursor")
    found: list[tuple[datetime, str, int, Any]] = []
    if query.get("status") in (None, "completed"):
        in_effect = [Dispense.reversed_at.is_(None)] if query.get("status") == "completed" else []
        for d in session.scalars(select(Dispense).where(
                Dispense.prescription_id.in_(visible), *in_effect,
                _before(Dispense.dispensed_at, Dispense.id, "dispense", cursor))
                .order_by(Dispense.dispensed_at.desc(), Dispense.id.desc()).limit(PAGE_SIZE + 1)):
            found.append((d.dispensed_at, "dispense", d.id, d))
    if query.get("status") in (None, "declined"):
        for d in session.scalars(select(Decision).where(
                Decision.prescription_id.in_(visible), Decision.stage == "dispense", Decision.outcome == "blocked",
                _before(Decision.evaluated_at, Decision.id, "decision", cursor))
                .order_by(Decision.evaluated_at.desc(), Decision.id.desc()).limit(PAGE_SIZE + 1)):
            found.append((d.evaluated_at, "decision", d.id, d))
    found.sort(key=lambda f: (f[0], RANK[f[1]], f[2]), reverse=True)
    page, more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
    entries = [_entry(session, base_url, kind, row) for _, kind, _, row in page]
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset",
                              "link": [{"relation": "self", "url": self_url}]}
    if more:
        last = page[-1]
        params = {k: "|".join(v) if isinstance(v, tuple) else v for k, v in query.items() if k != "_cursor"}
        params["_cursor"] = _cursor(last[0], last[1], last[2])
        bundle["link"].append({"relation": "next",
                               "url": f"{base_url}/fhir/R4/MedicationDispense?{urlencode(params)}"})
    if entries:
        bundle["entry"] = entries
    return bundle


def _entry(session: Session, base_url: str, kind: str, row) -> dict[str, Any]:
    rx = session.get(Prescription, row.prescription_id)
    patient = session.get(Patient, rx.patient_id)
    if kind == "dispense":
        resource = completed_dispense(base_url, row, rx, patient, session.get(Pharmacy, row.pharmacy_id),
                                      session.get(Decision, row.decision_id))
    else:
        resource = declined_dispense(base_url, row, rx, patient, session.get(Pharmacy, rx.pharmacy_id))
    return {"fullUrl": f"{base_url}/fhir/R4/MedicationDispense/{resource['id']}", "resource": resource,
            "search": {"mode": "match"}}
