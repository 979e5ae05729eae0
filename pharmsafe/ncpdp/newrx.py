"""NCPDP SCRIPT NewRx in (INTEROP.md §7): the XML read with DTDs, entities and external references
refused, each element at most once, mapped to what POST /api/v1/prescriptions takes.

Local names only, in no namespace or `http://www.ncpdp.org/schema/SCRIPT`; versions 2017071 (or
none) and 2023011 read the same paths. Every problem of the message is reported at once."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from pharmsafe.errors import MalformedBody
from pharmsafe.gates.ndc import (
    AmbiguousNdc,
    canonical_ndc,
    is_isotretinoin_name,
    listed_rxcuis,
    lookup_ndc,
    strength_of_rxcui,
)
from pharmsafe.schemas.prescriptions import MAX_QUANTITY, MAX_STRENGTH_MG, STORED_PLACES

SCRIPT_NS = "http://www.ncpdp.org/schema/SCRIPT"
VERSIONS = (None, "2017071", "2023011")
MG, CAPSULE = "C28253", "C48480"
ISOTRETINOIN_RXCUI = "6064"
_DATE = re.compile(r"([0-9]{4})(-[0-9]{2}(-[0-9]{2})?)?")
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?")
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class Message:
    """What the answer repeats: the root's namespace and version attributes, and the header."""

    namespace: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    message_id: str | None = None
    to: str | None = None
    sender: str | None = None
    # The Qualifier (and any other attribute) of To and From, which travel with them when swapped.
    to_attributes: dict[str, str] = field(default_factory=dict)
    sender_attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class NewRx:
    message: Message
    order_number: str | None
    rems_patient_id: str | None
    date_of_birth: date | None
    npi: str | None
    ncpdp_id: str | None
    data: dict[str, Any]
    problems: list[str]


def _local(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return None, tag


def parse(body: bytes) -> Element:
    """The document's root: 400 for what is not well-formed XML, or holds a DOCTYPE, an entity or an
    external reference."""
    if not body.strip():
        raise MalformedBody("The body is empty: send a NewRx message.")
    try:
        return fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise MalformedBody("The message holds a DOCTYPE, an entity or an external reference, which are "
                            "refused.") from None
    except (ParseError, ValueError):
        raise MalformedBody("The body is not well-formed XML.") from None
    except LookupError:  # an encoding Python does not know
        raise MalformedBody("The XML declaration names an unknown encoding: send UTF-8.") from None


def message_of(root: Element) -> Message:
    """The header an answer needs, read as far as the message allows (even a refused one)."""
    namespace, name = _local(root.tag)
    message = Message(namespace=namespace if namespace == SCRIPT_NS else None,
                      versions={k: v for k, v in root.attrib.items() if k.endswith("Version") and "{" not in k})
    if name != "Message":
        return message
    header = _child(root, "Header")
    if header is not None:
        message.message_id = _text(_child(header, "MessageID"))
        to, sender = _child(header, "To"), _child(header, "From")
        message.to, message.sender = _text(to), _text(sender)
        message.to_attributes = dict(to.attrib) if to is not None else {}
        message.sender_attributes = dict(sender.attrib) if sender is not None else {}
    return message


def _children(element: Element, name: str) -> list[Element]:
    return [c for c in element if _local(c.tag)[1] == name and _local(c.tag)[0] in (None, SCRIPT_NS)]


def _child(element: Element | None, name: str) -> Element | None:
    found = _children(element, name) if element is not None else []
    return found[0] if found else None


def _text(element: Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


class _Reader:
    """Reads each path at most once; a repeated element is a problem, never a choice."""

    def __init__(self, root: Element, problems: list[str]):
        self.root, self.problems = root, problems

    def element(self, path: str) -> Element | None:
        node: Element | None = self.root
        for name in path.split("/"):
            found = _children(node, name)
            if len(found) > 1:
                self.problems.append(f"{name} appears {len(found)} times in {path}; it may appear once.")
                return None
            node = found[0] if found else None
            if node is None:
                return None
        return node

    def text(self, path: str, *, required: bool = False, label: str | None = None, max_length: int = 64) -> str | None:
        value = _text(self.element(path))
        name = label or path.rsplit("/", 1)[-1]
        if value is None:
            if required:
                self.problems.append(f"{name} is required.")
            return None
        if len(value) > max_length or _UNSTORABLE.search(value):
            self.problems.append(f"{name} is at most {max_length} characters, with no control characters.")
            return None
        return value


def read(root: Element) -> NewRx:
    """The NewRx in the message: 400 when it is not a SCRIPT message holding a NewRx of a known
    version; every element problem in ``problems`` (the caller answers 422 with them)."""
    namespace, name = _local(root.tag)
    if name != "Message" or namespace not in (None, SCRIPT_NS):
        raise MalformedBody("Not an NCPDP SCRIPT Message.")
    version = root.attrib.get("TransactionVersion")
    if version not in VERSIONS:
        raise MalformedBody(f"TransactionVersion {version} is not read: send 2017071 or 2023011.")
    body = _children(root, "Body")
    kinds = [_local(c.tag)[1] for c in body[0]] if len(body) == 1 else []
    if kinds != ["NewRx"]:
        raise MalformedBody("Only a Body holding one NewRx is taken here.")
    problems: list[str] = []
    r = _Reader(root, problems)
    message = message_of(root)
    if r.text("Header/MessageID", required=True, max_length=64) is None:
        message.message_id = None
    order_number = r.text("Header/PrescriberOrderNumber", required=True)
    rx = "Body/NewRx/"
    rems = r.text(rx + "Patient/HumanPatient/Identification/REMSPatientID", required=True)
    dob_text = r.text(rx + "Patient/HumanPatient/DateOfBirth/Date", label="DateOfBirth")
    dob = _date(dob_text, "DateOfBirth", problems) if dob_text else None
    npi = r.text(rx + "Prescriber/NonVeterinarian/Identification/NPI", required=True, label="NPI")
    ncpdp = r.text(rx + "Pharmacy/Identification/NCPDPID", required=True, label="NCPDPID")
    if ncpdp is not None and not re.fullmatch(r"[0-9]{7}", ncpdp):
        problems.append("NCPDPID is 7 digits.")
        ncpdp = None
    med = rx + "MedicationPrescribed/"
    data = _medication(r, med, problems)
    data["quantity"] = _quantity(r, med, problems)
    days = r.text(med + "DaysSupply", required=True)
    data["days_supply"] = _whole(days, "DaysSupply", 1, 365, problems) if days else None
    refills = r.text(med + "NumberOfRefills")
    data["refills"] = _whole(refills, "NumberOfRefills", 0, 99, problems) if refills else 0
    written_date = r.text(med + "WrittenDate/Date", label="WrittenDate")
    written_time = r.text(med + "WrittenDate/DateTime", label="WrittenDate")
    written = written_date or written_time
    if written is None:
        problems.append("WrittenDate is required.")
    elif written_date and written_time:  # two answers to one question: neither is picked
        problems.append("WrittenDate gives a Date or a DateTime, not both.")
        written = None
    data["written_on"] = _date(written, "WrittenDate", problems) if written else None
    return NewRx(message, order_number, rems, dob, npi, ncpdp, data, problems)


def _date(text: str, name: str, problems: list[str]) -> date | None:
    """INTEROP.md §1: a date as is; a dateTime gives the date in its own offset; no partial dates."""
    match = _DATE.match(text)
    if not match or (len(text) > 10 and text[10] != "T"):
        problems.append(f"{name} is not a date (YYYY-MM-DD) or a dateTime.")
        return None
    if match.group(3) is None:
        problems.append(f"{name} needs its day: a year or a year and month is not precise enough.")
        return None
    if len(text) > 10 and not _DATETIME.fullmatch(text):
        problems.append(f"{name} is not a date (YYYY-MM-DD) or a dateTime.")
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        problems.append(f"{name} is not a calendar date.")
        return None


_PLAIN_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")


def _decimal(text: str, name: str, problems: list[str], high: int = MAX_QUANTITY) -> Decimal | None:
    """A plain decimal in ASCII digits (no sign, exponent, separator or other script's digits), over
    0, at most ``high``, with at most the decimals prescriptions store (more is refused, never rounded)."""
    value = None
    if _PLAIN_NUMBER.fullmatch(text):
        try:
            value = Decimal(text)
        except InvalidOperation:
            value = None
    if value is None or value <= 0 or value > high or -value.as_tuple().exponent > STORED_PLACES:
        problems.append(f"{name} is a number over 0, at most {high}, with at most {STORED_PLACES} decimals.")
        return None
    return value


def _whole(text: str, name: str, low: int, high: int, problems: list[str]) -> int | None:
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        problems.append(f"{name} is a whole number from {low} to {high}.")
        return None
    return int(text)


def _named(description: str | None) -> bool:
    """Isotretinoin or a listed proprietary name, as a word (or words) of the description."""
    words = re.findall(r"[A-Za-z]+", description or "")
    return any(is_isotretinoin_name(" ".join(words[i:i + n])) for n in (1, 2, 3) for i in range(len(words)))


def _medication(r: _Reader, med: str, problems: list[str]) -> dict[str, Any]:
    description = r.text(med + "DrugDescription", max_length=500)
    ndc = db_code = None
    product_code = r.element(med + "DrugCoded/ProductCode")
    if product_code is not None:
        code = r.text(med + "DrugCoded/ProductCode/Code", label="ProductCode/Code")
        if (r.text(med + "DrugCoded/ProductCode/Qualifier", label="ProductCode/Qualifier") or "").upper() == "ND" \
                and code:
            key = canonical_ndc(code)
            ndc = key[1] if key else (code if re.fullmatch(r"[0-9]{10}", code) else None)
            if ndc is None:
                problems.append("ProductCode is not an NDC.")
    drug_db = r.element(med + "DrugCoded/DrugDBCode")
    if drug_db is not None and (r.text(med + "DrugCoded/DrugDBCode/Qualifier", label="DrugDBCode/Qualifier")
                                or "").upper() in ("SCD", "SBD"):
        db_code = r.text(med + "DrugCoded/DrugDBCode/Code", label="DrugDBCode/Code")
    try:
        product = lookup_ndc(ndc) if ndc else None
    except AmbiguousNdc:
        product = None
    coded_ours = db_code in listed_rxcuis() or db_code == ISOTRETINOIN_RXCUI
    if db_code and not coded_ours:
        problems.append(f"DrugDBCode {db_code} is not isotretinoin: PharmSafe handles isotretinoin only.")
    elif not (coded_ours or product is not None or _named(description)):
        problems.append("The medication is not isotretinoin (by DrugDescription, a listed NDC or RxNorm "
                        "concept): PharmSafe handles isotretinoin only.")
    strength = None
    strength_value = r.text(med + "DrugCoded/Strength/StrengthValue", label="StrengthValue")
    if strength_value is not None:
        unit = r.text(med + "DrugCoded/Strength/StrengthUnitOfMeasure/Code", label="StrengthUnitOfMeasure")
        if unit != MG:
            problems.append(f"StrengthUnitOfMeasure is {MG} (milligram).")
        strength = _decimal(strength_value, "StrengthValue", problems, high=MAX_STRENGTH_MG)
    if strength is None and strength_value is None:
        strength = (strength_of_rxcui(db_code) if db_code in listed_rxcuis() else None) or \
            (product.strength_mg if product is not None else None)
        if strength is None:
            problems.append("The strength is not known: give Strength in mg (C28253), a listed SCD or a listed NDC.")
    return {"drug": "isotretinoin", "ndc": ndc, "strength_mg": strength}


def _quantity(r: _Reader, med: str, problems: list[str]) -> Decimal | None:
    value = r.text(med + "Quantity/Value", label="Quantity")
    if value is None:
        problems.append("Quantity is required.")
        return None
    if r.text(med + "Quantity/QuantityUnitOfMeasure/Code", label="QuantityUnitOfMeasure") != CAPSULE:
        problems.append(f"QuantityUnitOfMeasure is {CAPSULE} (capsule).")
    return _decimal(value, "Quantity", problems)
