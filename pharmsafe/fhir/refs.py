"""Resolving what an inbound resource points at (INTEROP.md §3.1): an entry of the same transaction
by its `urn:uuid`, or a record by `Reference.identifier` in a §1 system. A literal id (`Patient/7`)
or a reference with no target is 404; several matches 412, never one picked; never a match on name
and birth date. Ownership (403) is judged by the caller, after every reference resolved."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from pharmsafe.errors import MultipleMatches, NotFound
from pharmsafe.fhir.inbound import FhirInvalid
from pharmsafe.gates.npi import is_valid_npi
from pharmsafe.models import Patient, Pharmacy, Prescriber, Prescription

NPI = "http://hl7.org/fhir/sid/us-npi"
CLIA = "urn:oid:2.16.840.1.113883.4.7"
NCPDP = "http://terminology.hl7.org/CodeSystem/NCPDPProviderIdentificationNumber"
NCPDP_SYSTEMS = (NCPDP, "http://terminology.hl7.org/NamingSystem/NCPDPProviderIdentificationNumber")
_UNSTORABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
MAX_ID_DIGITS = 9


def systems(base_url: str) -> dict[str, str]:
    return {"rems": f"{base_url}/fhir/sid/rems-patient-id", "patient": f"{base_url}/fhir/sid/patient",
            "prescription": f"{base_url}/fhir/sid/prescription", "rma": f"{base_url}/fhir/sid/rma"}


def invalid(where: str, message: str, issue: str = "value") -> FhirInvalid:
    return FhirInvalid({where: [message]}, {where: issue})


def identifier_value(identifier: Any, where: str) -> tuple[str, str]:
    """(system, value) of an Identifier: both required; value 1-64 characters, system at most 255,
    neither with control characters (INTEROP.md §6)."""
    if not isinstance(identifier, dict):
        raise invalid(where, "An identifier is an object with system and value.", "required")
    system, value = identifier.get("system"), identifier.get("value")
    if not system or not value:
        raise invalid(where, "An identifier needs both system and value.", "required")
    system, value = str(system), str(value)
    if len(value) > 64 or len(system) > 255 or _UNSTORABLE.search(value + system):
        raise invalid(where, "An identifier's value is 1 to 64 characters and its system at most 255, with no "
                             "control characters.")
    return system, value


def _digits_id(value: str, where: str, what: str) -> int:
    if not (value.isascii() and value.isdigit() and len(value) <= MAX_ID_DIGITS) or value.startswith("0"):
        raise invalid(where, f"A {what} id is a number.")
    return int(value)


@dataclass
class Target:
    """What a reference resolved to: a record (``kind`` patient, prescriber, pharmacy, prescription),
    a CLIA-numbered laboratory (``clia``), or an entry of the transaction that stores nothing
    (``kind`` the entry's resourceType, ``entry`` its resource)."""

    kind: str
    record: Any = None
    clia: str | None = None
    entry: dict[str, Any] | None = None


@dataclass
class Resolver:
    """References of one request. ``entries`` maps a transaction's fullUrls to what each entry
    resolved to (filled by the transaction as its reference entries resolve)."""

    session: Any
    base_url: str
    entries: dict[str, Target] = field(default_factory=dict)
    # Ownership refusals wait until every reference of the resource has resolved (404 and 412 first).
    refused: list[Exception] = field(default_factory=list)

    def refuse(self, exc: Exception) -> None:
        self.refused.append(exc)

    def raise_refused(self) -> None:
        if self.refused:
            first, self.refused = self.refused[0], []
            raise first

    def resolve(self, reference: Any, where: str) -> Target:
        if not isinstance(reference, dict):
            raise NotFound(f"{where} names no target.")
        literal = reference.get("reference")
        if literal:
            literal = str(literal)
            if literal.startswith("urn:uuid:"):
                if literal not in self.entries:
                    raise NotFound(f"{where}: no entry of this transaction has the fullUrl {literal}.")
                target = self.entries[literal]
                if reference.get("identifier") is not None:
                    self._agrees(target, reference["identifier"], where)
                return target
            raise NotFound(f"{where}: {literal} is not resolved: reference a record by its identifier "
                           "(Reference.identifier) or an entry of the transaction by its urn:uuid.")
        if reference.get("identifier") is None:
            raise NotFound(f"{where} names no target: give Reference.identifier or a urn:uuid reference.")
        return self.by_identifier(reference["identifier"], f"{where}.identifier")

    def _agrees(self, target: Target, identifier: Any, where: str) -> None:
        """A reference that gives both an entry and an identifier names one record, or is refused:
        which of the two was meant is never guessed."""
        try:
            named = self.by_identifier(identifier, f"{where}.identifier")
        except (NotFound, MultipleMatches):
            named = None
        same = named is not None and (
            (target.record is not None and named.record is target.record)
            or (target.clia is not None and named.clia == target.clia))
        if not same and (target.record is not None or target.clia is not None or named is not None):
            raise invalid(f"{where}.identifier", "The reference and the identifier name different records: give "
                                                 "one, or both naming the same.")

    def by_identifier(self, identifier: Any, where: str) -> Target:
        system, value = identifier_value(identifier, where)
        own = systems(self.base_url)
        session = self.session
        if system == own["rems"]:
            return Target("patient", self._one(session.scalars(select(Patient).where(
                Patient.rems_patient_id == value)).all(), where, f"patient with REMS id {value}"))
        if system == own["patient"]:
            patient = session.get(Patient, _digits_id(value, f"{where}.value", "patient"))
            return Target("patient", self._one([patient] if patient else [], where, f"patient {value}"))
        if system == NPI:
            if not is_valid_npi(value):
                raise invalid(f"{where}.value", "Not a valid NPI: 10 digits with a correct check digit.")
            return Target("prescriber", self._one(session.scalars(select(Prescriber).where(
                Prescriber.npi == value)).all(), where, f"prescriber with NPI {value}"))
        if system in NCPDP_SYSTEMS:
            return Target("pharmacy", self._one(session.scalars(select(Pharmacy).where(
                Pharmacy.ncpdp_id == value)).all(), where, f"pharmacy with NCPDP id {value}"))
        if system == own["prescription"]:
            rx = session.get(Prescription, _digits_id(value, f"{where}.value", "prescription"))
            return Target("prescription", self._one([rx] if rx else [], where, f"prescription {value}"))
        if system == CLIA:
            if not re.fullmatch(r"\d{2}D\d{7}", value):
                raise invalid(f"{where}.value", "A CLIA number is 2 digits, D, 7 digits (for example 05D1234567).")
            return Target("clia", clia=value)
        raise NotFound(f"{where}: no record is identified in the system {system}.")

    @staticmethod
    def _one(found: list, where: str, what: str):
        if not found:
            raise NotFound(f"{where}: no {what} is registered.")
        if len(found) > 1:
            raise MultipleMatches(f"{where}: {len(found)} records match the {what}; none is picked.")
        return found[0]
