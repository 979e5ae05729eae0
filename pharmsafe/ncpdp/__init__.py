"""NCPDP SCRIPT NewRx in, at POST /ncpdp/script (INTEROP.md §7): the service behind POST
/api/v1/prescriptions, answered with a Status (010, HTTP 200) or an Error (900; 602 when the
database is busy). A refusal writes nothing; every failure under /ncpdp/ is an Error message."""
from __future__ import annotations

import uuid
from xml.etree.ElementTree import Element, SubElement, tostring

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import select

from pharmsafe.audit.chain import format_instant
from pharmsafe.errors import Forbidden, UnsupportedMedia, ValidationFailed
from pharmsafe.gates.npi import is_valid_npi
from pharmsafe.http.bodies import flatten_messages
from pharmsafe.http.idempotency import idempotent
from pharmsafe.http.respond import render_errors_under
from pharmsafe.http.tokens import ctx, current_user, roles
from pharmsafe.models import Patient, Pharmacy, Prescriber
from pharmsafe.ncpdp.newrx import Message, NewRx, message_of, parse, read
from pharmsafe.runtime import current_runtime
from pharmsafe.services.context import Ctx
from pharmsafe.services.interop import content_hash, find_external, keep_external, replay_or_refuse
from pharmsafe.services.prescriptions import submit_prescription

XML_MEDIA = ("application/xml", "text/xml")
ORDER_NUMBER = "ncpdp:PrescriberOrderNumber"
# The JSON API's field names, as the message names them.
ELEMENTS = {"written_on": "WrittenDate", "days_supply": "DaysSupply", "quantity": "Quantity",
            "strength_mg": "StrengthValue", "refills": "NumberOfRefills", "patient_id": "REMSPatientID",
            "pharmacy_id": "NCPDPID", "drug": "DrugDescription", "ndc": "ProductCode"}

ncpdp_bp = Blueprint("ncpdp", __name__, url_prefix="/ncpdp")


def _now_text() -> str:
    return format_instant(current_runtime().clock.now().replace(microsecond=0))


def answer(message: Message, kind: str, code: str, description: str, status: int) -> Response:
    """A Message with the request's version attributes, its Header's To and From swapped, a new
    MessageID relating to the request's, and one Status or Error."""
    # The request's namespace as the default one: names stay unprefixed, as senders write them.
    root = Element("Message", {**({"xmlns": message.namespace} if message.namespace else {}), **message.versions})
    header = SubElement(root, "Header")
    for name, value, attributes in (("To", message.sender, message.sender_attributes),
                                    ("From", message.to, message.to_attributes),
                                    ("MessageID", uuid.uuid4().hex, {}),
                                    ("RelatesToMessageID", message.message_id, {}), ("SentTime", _now_text(), {})):
        if value:
            SubElement(header, name, attributes).text = value
    outcome = SubElement(SubElement(root, "Body"), kind)
    SubElement(outcome, "Code").text = code
    SubElement(outcome, "Description").text = description
    body = tostring(root, encoding="utf-8", xml_declaration=True)
    return current_app.response_class(body, status=status, mimetype="application/xml")


def _request_message() -> Message:
    """The request's header for an Error, as far as the body can be read safely."""
    try:
        return message_of(parse(request.get_data(cache=True)))
    except Exception:  # anything unreadable is answered with an empty header
        return Message()


def _error(status, code, message, fields=None, details=None):
    problems = [text for texts in (fields or {}).values() for text in texts] if fields else []
    description = f"{code}: " + ("; ".join(p.rstrip(".") for p in problems) if problems else message)
    return answer(_request_message(), "Error", "602" if status == 503 else "900", description, status), status


def _identify(c: Ctx, prescriber: Prescriber, newrx: NewRx) -> tuple[Patient | None, Pharmacy | None]:
    """The patient, prescriber and pharmacy the message names: another prescriber's NPI or patient
    is 403; an unknown or unusable one is a problem of the message."""
    problems = newrx.problems
    forbidden = None
    if newrx.npi is not None:
        if not is_valid_npi(newrx.npi):
            problems.append(f"NPI {newrx.npi} is not valid (10 digits with a correct check digit).")
        elif c.session.scalar(select(Prescriber).where(Prescriber.npi == newrx.npi)) is None:
            problems.append(f"NPI {newrx.npi} names no registered prescriber.")
        elif newrx.npi != prescriber.npi:
            forbidden = "The NPI is another prescriber's: send NewRx messages with that prescriber's token."
    patient = None
    if newrx.rems_patient_id is not None:
        found = c.session.scalars(select(Patient).where(Patient.rems_patient_id == newrx.rems_patient_id)).all()
        own = [p for p in found if p.prescriber_id == prescriber.id]
        if not found:
            problems.append(f"REMSPatientID {newrx.rems_patient_id} names no registered patient: register the "
                            "patient first (a NewRx never creates one).")
        elif not own:
            forbidden = forbidden or "The patient is another prescriber's."
        elif len(own) > 1:
            problems.append(f"REMSPatientID {newrx.rems_patient_id} names {len(own)} of your patients; none is "
                            "picked.")
        else:
            patient = own[0]
            if newrx.date_of_birth is not None and newrx.date_of_birth != patient.date_of_birth:
                problems.append("DateOfBirth differs from the registered patient's.")
    pharmacy = None
    if newrx.ncpdp_id is not None:
        pharmacy = c.session.scalar(select(Pharmacy).where(Pharmacy.ncpdp_id == newrx.ncpdp_id))
        if pharmacy is None:
            problems.append(f"NCPDPID {newrx.ncpdp_id} names no registered pharmacy.")
    if forbidden:
        raise Forbidden(forbidden)
    return patient, pharmacy


@ncpdp_bp.post("/script")
@roles("prescriber")
@idempotent
def script():
    if request.mimetype not in XML_MEDIA:
        raise UnsupportedMedia("Send NCPDP SCRIPT XML: Content-Type application/xml or text/xml.")
    newrx = read(parse(request.get_data(cache=True)))
    c = ctx()
    prescriber = c.session.get(Prescriber, current_user().prescriber_id)
    patient, pharmacy = _identify(c, prescriber, newrx)
    if newrx.problems:
        raise ValidationFailed({"NewRx": newrx.problems}, "The NewRx has missing or invalid elements.")
    data = dict(newrx.data, patient_id=patient.id, pharmacy_id=pharmacy.id)
    scope = f"prescriber:{prescriber.id}"
    digest = content_hash({"kind": "prescription", **data})
    row = find_external(c, scope, "NewRx", ORDER_NUMBER, newrx.order_number)
    if row is not None:
        record = replay_or_refuse(row, digest, f"PrescriberOrderNumber {newrx.order_number}")
        return answer(newrx.message, "Status", "010", f"Received as prescription {record.partition(':')[2]}.", 200)
    try:
        rx = submit_prescription(c, prescriber.id, data, audit_extra={
            "message_id": newrx.message.message_id, "prescriber_order_number": newrx.order_number})
    except ValidationFailed as exc:
        raise ValidationFailed({ELEMENTS.get(k, k): [f"{ELEMENTS.get(k, k)}: {m}" for m in v]
                                for k, v in flatten_messages(exc.fields or {}).items()}, exc.message) from None
    keep_external(c, scope=scope, resource_type="NewRx", system=ORDER_NUMBER, value=newrx.order_number,
                  record=f"prescription:{rx.id}", digest=digest)
    return answer(newrx.message, "Status", "010", f"Received as prescription {rx.id}.", 200)


def init_app(app: Flask) -> None:
    render_errors_under("/ncpdp/", _error)
    app.register_blueprint(ncpdp_bp)

