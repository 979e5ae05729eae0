"""Inbound FHIR resources read as PharmSafe records (INTEROP.md §3.2-§3.5): each ``map_*`` returns
the data the JSON API's service takes, with every 422 problem of the resource reported at once.

References resolve through a Resolver (404, 412 raised there); ownership is judged here, after
them (403). Elements the contract does not name are ignored."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from pharmsafe.errors import Forbidden, NotFound
from pharmsafe.fhir.inbound import FhirInvalid
from pharmsafe.fhir.refs import CLIA, NCPDP_SYSTEMS, NPI, Resolver, Target, identifier_value, systems
from pharmsafe.fhir.resources import questionnaire_url
from pharmsafe.gates import CONTRACEPTION_METHODS
from pharmsafe.gates.ndc import AmbiguousNdc, canonical_ndc, listed_rxcuis, lookup_ndc, strength_of_rxcui
from pharmsafe.gates.npi import is_valid_npi
from pharmsafe.gates.units import LAB_LOINC
from pharmsafe.models import Patient, User
from pharmsafe.schemas.prescriptions import MAX_QUANTITY, MAX_STRENGTH_MG, STORED_PLACES

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
ORDERABLE_FORM = "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm"

URINE_TESTS = {"2106-3", "2112-1", "80384-1"}
SERUM_TESTS = {"2118-8", "2110-5", "80385-8", "21198-7", "19080-1"}
# Quantitative hCG: the result is read from the interpretation only.
BY_INTERPRETATION = {"21198-7", "19080-1"}
RESULT_CODES = {(SNOMED, "260385009"): "negative", (LOINC, "LA6577-6"): "negative",
                (SNOMED, "10828004"): "positive", (LOINC, "LA6576-8"): "positive"}
INTERPRETATIONS = {"NEG": "negative", "POS": "positive"}
LAB_CODES = LAB_LOINC  # the LOINC codes of INTEROP.md §3.3, the JSON API's too
WITH_UPPER_LIMIT = ("ALT", "AST")
OBSERVATION_STATUSES = ("final", "amended", "corrected")
AMENDING = ("amended", "corrected")
RESPONSE_STATUSES = ("completed", "amended")
ISOTRETINOIN_RXCUI = "6064"
_DATE = re.compile(r"([0-9]{4})(-[0-9]{2}(-[0-9]{2})?)?")


@dataclass
class Problems:
    """The 422 problems of one resource, each at its FHIRPath expression with its issue type."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)

    def add(self, where: str, message: str, issue: str = "value") -> None:
        self.fields.setdefault(where, []).append(message)
        self.codes.setdefault(where, issue)

    def take(self, exc: FhirInvalid) -> None:
        for where, messages in exc.fields.items():
            for message in messages:
                self.add(where, message, (exc.details or {}).get("fhir_issue_codes", {}).get(where, "value"))

    def merge(self, other: Problems) -> None:
        for where, messages in other.fields.items():
            for message in messages:
                self.add(where, message, other.codes.get(where, "value"))

    def raise_any(self, message: str = "The resource has invalid elements.") -> None:
        if self.fields:
            raise FhirInvalid(self.fields, self.codes, message)


@dataclass
class Mapped:
    """One inbound resource, read: the record data for the service, its natural key and status."""

    kind: str  # pregnancy_test | lab_result | attestation | prescription
    resource_type: str
    data: dict[str, Any]
    patient: Patient | None
    key: tuple[str, str]  # the identifier's (system, value)
    status: str
    where: str

    @property
    def amends(self) -> bool:
        return self.status in AMENDING


def fhir_date(value: Any, where: str, problems: Problems) -> date | None:
    """INTEROP.md §1: a date as is; a dateTime or instant gives the date in its own offset; year or
    year-month is refused."""
    text = str(value or "")
    match = _DATE.match(text)
    if not match or (len(text) > 10 and text[10] != "T"):
        problems.add(where, "Not a FHIR date or dateTime.")
        return None
    if match.group(3) is None:
        problems.add(where, "A year or a year and month is not precise enough: give the day.")
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        problems.add(where, "Not a calendar date.")
        return None


def _effective(resource: dict[str, Any], where: str, problems: Problems) -> date | None:
    for name in ("effectiveDateTime", "effectiveInstant"):
        if resource.get(name):
            return fhir_date(resource[name], f"{where}.{name}", problems)
    period = resource.get("effectivePeriod")
    if isinstance(period, dict) and period.get("start"):
        return fhir_date(period["start"], f"{where}.effectivePeriod.start", problems)
    if period is not None:  # a period gives its start, the day the specimen was taken; an end alone is no date
        problems.add(f"{where}.effectivePeriod.start", "An effectivePeriod gives its start: when the specimen "
                                                       "was collected.", "required")
    return None


def _codings(concept: Any) -> list[dict[str, Any]]:
    return [c for c in (concept or {}).get("coding") or [] if isinstance(c, dict)] if isinstance(concept, dict) else []


def _identifier(resource: dict[str, Any], where: str, problems: Problems) -> tuple[str, str] | None:
    identifiers = resource.get("identifier")
    if isinstance(identifiers, dict):  # Questionnaire­Response.identifier is one Identifier
        identifiers = [identifiers]
    if not identifiers:
        problems.add(f"{where}.identifier", "An identifier is required: it is the record's key for replays and "
                                            "amendments.", "required")
        return None
    try:
        return identifier_value(identifiers[0], f"{where}.identifier" + ("[0]" if isinstance(
            resource.get("identifier"), list) else ""))
    except FhirInvalid as exc:
        problems.take(exc)
        return None


def own_patient(resolver: Resolver, user: User, reference: Any, where: str) -> Patient:
    target = resolver.resolve(reference, where)
    if target.kind != "patient":
        raise NotFound(f"{where} does not name a patient.")
    if user.role != "prescriber" or target.record.prescriber_id != user.prescriber_id:
        resolver.refuse(Forbidden(f"{where}: the patient is not one of your patients."))
    return target.record


def _own_prescriber(resolver: Resolver, user: User, reference: Any, where: str) -> None:
    target = resolver.resolve(reference, where)
    if target.kind != "prescriber":
        raise NotFound(f"{where} does not name a practitioner with an NPI.")
    if target.record.id != user.prescriber_id:
        resolver.refuse(Forbidden(f"{where}: the practitioner is not the prescriber this token belongs to."))


# --- Observation -----------------------------------------------------------------------------

def map_observation(resolver: Resolver, user: User, resource: dict[str, Any], where: str,
                    report_dates: dict[str, date] | None = None, full_url: str | None = None) -> Mapped:
    problems = Problems()
    key = _identifier(resource, where, problems)
    status = resource.get("status")
    if status not in OBSERVATION_STATUSES:
        problems.add(f"{where}.status", f"An Observation is received as final, amended or corrected, not {status}.")
    patient = own_patient(resolver, user, resource.get("subject"), f"{where}.subject")
    codes = [c for c in _codings(resource.get("code")) if c.get("system") == LOINC]
    pregnancy = [c["code"] for c in codes if c.get("code") in URINE_TESTS | SERUM_TESTS]
    labs = [c["code"] for c in codes if c.get("code") in LAB_CODES]
    if pregnancy and not labs:
        data, kind = _pregnancy_test(resolver, resource, pregnancy[0], where, problems), "pregnancy_test"
    elif labs and not pregnancy:
        data, kind = _lab_result(resource, labs[0], where, problems, (report_dates or {}).get(full_url or "")), \
            "lab_result"
    else:
        problems.add(f"{where}.code", "The code is not a LOINC code PharmSafe reads: a pregnancy test (urine 2106-3, "
                                      "2112-1, 80384-1; serum 2118-8, 2110-5, 80385-8, 21198-7, 19080-1) or a lab "
                                      "(ALT 1742-6, 1743-4; AST 1920-8; triglycerides 2571-8, 35217-9; cholesterol "
                                      "2093-3, 35200-5; LDL 13457-7, 18262-6).", "code-invalid")
        data, kind = {}, "unknown"
    resolver.raise_refused()
    problems.raise_any()
    return Mapped(kind, "Observation", data, patient, key, status, where)


def _pregnancy_test(resolver: Resolver, resource: dict[str, Any], code: str, where: str,
                    problems: Problems) -> dict[str, Any]:
    specimen = "urine" if code in URINE_TESTS else "serum"
    by_value = {RESULT_CODES.get((c.get("system"), c.get("code"))) for c in _codings(resource.get("valueCodeableConcept"))}
    by_value.discard(None)
    by_interpretation = {INTERPRETATIONS.get(c.get("code")) for concept in resource.get("interpretation") or []
                         for c in _codings(concept) if c.get("system") == INTERPRETATION}
    by_interpretation.discard(None)
    found = by_interpretation if code in BY_INTERPRETATION else (by_value or by_interpretation)
    if by_value and by_interpretation and by_value != by_interpretation:  # both given: they must agree
        found = by_value | by_interpretation
    result = None
    if len(found) != 1:
        what = ("the interpretation (NEG or POS) of this quantitative test" if code in BY_INTERPRETATION else
                "valueCodeableConcept (SNOMED 260385009 / 10828004, LOINC LA6577-6 / LA6576-8) or interpretation "
                "NEG / POS")
        problems.add(f"{where}.value" if code not in BY_INTERPRETATION else f"{where}.interpretation",
                     f"The result is read from {what}: " + ("none was given." if not found else
                                                           "they disagree."), "required" if not found else "value")
    else:
        result = next(iter(found))
    collected = _effective(resource, where, problems)
    if collected is None and not any(resource.get(n) for n in ("effectiveDateTime", "effectiveInstant",
                                                               "effectivePeriod")):
        problems.add(f"{where}.effective", "When the specimen was collected (effective[x]) is required.", "required")
    setting, clia = _performer(resolver, resource.get("performer"), f"{where}.performer", problems)
    if setting == "home" and specimen != "urine":
        problems.add(f"{where}.code", "A test the patient performed at home is a urine test.")
    return {"specimen_collected_on": collected, "result": result, "specimen": specimen, "setting": setting,
            "clia_number": clia}


def _performer(resolver: Resolver, performers: Any, where: str, problems: Problems) -> tuple[str | None, str | None]:
    kinds, clia = set(), None
    for n, reference in enumerate(performers or []):
        target = _performer_target(resolver, reference, f"{where}[{n}]")
        if target.kind == "clia" or (target.kind == "Organization" and target.clia):
            kinds.add("medical")
            clia = target.clia
        elif target.kind in ("Organization", "Practitioner", "PractitionerRole", "prescriber", "pharmacy"):
            kinds.add("medical")
        elif target.kind in ("Patient", "RelatedPerson", "patient"):
            kinds.add("home")
        else:
            problems.add(f"{where}[{n}]", "A performer is an Organization, Practitioner(Role), Patient or "
                                          "RelatedPerson.")
    if len(kinds) != 1:
        problems.add(where, "Who performed the test is required, and only one kind: a laboratory or clinician "
                            "(medical) or the patient (home)." if not kinds else
                     "The performers mix a laboratory or clinician with the patient.",
                     "required" if not kinds else "value")
        return None, None
    setting = kinds.pop()
    return setting, clia if setting == "medical" else None


def _performer_target(resolver: Resolver, reference: Any, where: str) -> Target:
    """Only the performer's kind matters (and a laboratory's CLIA number): a transaction entry
    says it by its type; a Reference.identifier by its system (never looked up: a laboratory's
    clinician need not be registered here); else Reference.type."""
    if not isinstance(reference, dict):
        raise NotFound(f"{where} names no target.")
    if reference.get("reference"):
        return resolver.resolve(reference, where)
    identifier = reference.get("identifier")
    if identifier is not None:
        system, value = identifier_value(identifier, f"{where}.identifier")
        if system == CLIA:
            return resolver.by_identifier(identifier, f"{where}.identifier")
        if system == NPI:
            return Target("Practitioner")
        if system in NCPDP_SYSTEMS:
            return Target("Organization")
        if system in (systems(resolver.base_url)["rems"], systems(resolver.base_url)["patient"]):
            return Target("Patient")
    if reference.get("type"):
        return Target(str(reference["type"]))
    raise NotFound(f"{where} names no target: give Reference.identifier, Reference.type or a urn:uuid reference.")


def _lab_result(resource: dict[str, Any], code: str, where: str, problems: Problems,
                report_date: date | None) -> dict[str, Any]:
    test = LAB_CODES[code]
    quantity = resource.get("valueQuantity")
    value = quantity.get("value") if isinstance(quantity, dict) else None
    if not isinstance(value, Decimal | int) or isinstance(value, bool):
        problems.add(f"{where}.valueQuantity.value", "The result's value (valueQuantity.value) is required.",
                     "required")
        value = None
    unit = None
    if isinstance(quantity, dict):
        unit = quantity.get("code") or quantity.get("unit")
    if not unit:
        problems.add(f"{where}.valueQuantity", "The result's unit (valueQuantity.code or .unit) is required.",
                     "required")
    unit = "IU/L" if unit == "[IU]/L" else unit
    if unit and len(str(unit)) > 20:
        problems.add(f"{where}.valueQuantity", "A unit is at most 20 characters.")
    upper = None
    ranges = resource.get("referenceRange") or []
    if test in WITH_UPPER_LIMIT and ranges and isinstance(ranges[0], dict):
        high = ranges[0].get("high") or {}
        upper = high.get("value") if isinstance(high, dict) else None
    collected = _effective(resource, where, problems)
    if collected is None and not any(resource.get(n) for n in ("effectiveDateTime", "effectiveInstant",
                                                               "effectivePeriod")):
        collected = report_date
        if collected is None:
            problems.add(f"{where}.effective", "When the specimen was collected is required: effective[x], or a "
                                               "DiagnosticReport in the same transaction listing this result.",
                         "required")
    return {"test": code, "value": value, "unit": str(unit) if unit else None, "collected_on": collected,
            "reference_upper": upper}


# --- QuestionnaireResponse -------------------------------------------------------------------

def map_questionnaire_response(resolver: Resolver, user: User, resource: dict[str, Any], where: str,
                               today: date) -> Mapped:
    base = resolver.base_url
    problems = Problems()
    key = _identifier(resource, where, problems)
    canonical = questionnaire_url(base)
    if resource.get("questionnaire") not in (f"{canonical}|1", canonical):
        problems.add(f"{where}.questionnaire", f"An attestation answers {canonical}|1 (GET "
                                               "/fhir/R4/Questionnaire/isotretinoin-attestation).", "code-invalid")
    status = resource.get("status")
    if status not in RESPONSE_STATUSES:
        problems.add(f"{where}.status", f"An attestation is received as completed or amended, not {status}.")
    if resource.get("authored"):
        authored = fhir_date(resource["authored"], f"{where}.authored", problems)
        if authored and authored > today:
            problems.add(f"{where}.authored", f"May not be in the future (today is {today.isoformat()}).")
    patient = own_patient(resolver, user, resource.get("subject"), f"{where}.subject")
    if resource.get("author") is None:
        problems.add(f"{where}.author", "The author (the prescriber's Practitioner, by NPI) is required.", "required")
    else:
        _own_prescriber(resolver, user, resource.get("author"), f"{where}.author")
    answers: dict[str, list[tuple[dict[str, Any], str]]] = {}
    for n, item in enumerate(resource.get("item") or []):
        link = item.get("linkId") if isinstance(item, dict) else None
        at = f"{where}.item[{n}]"
        if link not in ("kind", "attested-on", "methods", "note", "confirmed"):
            problems.add(f"{at}.linkId", f"The attestation form has no item {link!r}.")
            continue
        if link in answers:
            problems.add(f"{at}.linkId", f"The item {link!r} is answered twice.")
            continue
        answers[link] = [(a, f"{at}.answer[{m}]") for m, a in enumerate(item.get("answer") or [])
                         if isinstance(a, dict)]
    data = _attestation(base, answers, f"{where}.item", problems)
    resolver.raise_refused()
    problems.raise_any()
    return Mapped("attestation", "QuestionnaireResponse", data, patient, key, status, where)


def _attestation(base: str, answers: dict, where: str, problems: Problems) -> dict[str, Any]:
    def one(link: str, value_key: str, required: bool = True):
        given = answers.get(link) or []
        if not given:
            if required:
                problems.add(where, f"The item {link!r} is required.", "required")
            return None, None
        if len(given) > 1:
            problems.add(given[1][1], f"The item {link!r} takes one answer.")
        answer, at = given[0]
        if value_key not in answer:
            problems.add(at, f"The item {link!r} is answered with {value_key}.")
            return None, at
        return answer[value_key], at

    kind_coding, kind_at = one("kind", "valueCoding")
    kind = None
    if isinstance(kind_coding, dict):
        if kind_coding.get("system") != f"{base}/fhir/CodeSystem/attestation-kind" or kind_coding.get("code") not in (
                "contraception", "comprehension", "counseling", "pregnancy_excluded"):
            problems.add(f"{kind_at}.valueCoding", "Not an attestation kind of "
                                                   f"{base}/fhir/CodeSystem/attestation-kind.", "code-invalid")
        else:
            kind = kind_coding["code"]
    attested, attested_at = one("attested-on", "valueDate")
    attested_on = fhir_date(attested, f"{attested_at}.valueDate", problems) if attested is not None else None
    confirmed, confirmed_at = one("confirmed", "valueBoolean")
    if confirmed is not None and confirmed is not True:
        problems.add(f"{confirmed_at}.valueBoolean", "The prescriber confirms the attestation: true.")
    methods = []
    for answer, at in answers.get("methods") or []:
        coding = answer.get("valueCoding") or {}
        if coding.get("system") != f"{base}/fhir/CodeSystem/contraception-method" or \
                coding.get("code") not in CONTRACEPTION_METHODS:
            problems.add(f"{at}.valueCoding", "Not a contraception method of "
                                              f"{base}/fhir/CodeSystem/contraception-method.", "code-invalid")
        else:
            methods.append(coding["code"])
    if kind and kind != "contraception" and answers.get("methods"):
        problems.add(where, "Only a contraception attestation lists methods.")
    if kind == "contraception" and not answers.get("methods"):
        problems.add(where, "A contraception attestation lists its methods.", "required")
    note, note_at = one("note", "valueString", required=False)
    if kind == "pregnancy_excluded" and not (note or "").strip():
        problems.add(where, "A pregnancy_excluded attestation needs a note saying how pregnancy was ruled out.",
                     "required")
    if kind and kind != "pregnancy_excluded" and note is not None:
        problems.add(note_at, "Only a pregnancy_excluded attestation carries a note.")
    if isinstance(note, str) and len(note) > 500:
        problems.add(note_at, "A note is at most 500 characters.")
    data: dict[str, Any] = {"kind": kind, "attested_on": attested_on, "methods": list(dict.fromkeys(methods))}
    if kind == "pregnancy_excluded":
        data["note"] = note
    return data


# --- MedicationRequest -----------------------------------------------------------------------

def map_medication_request(resolver: Resolver, user: User, resource: dict[str, Any], where: str,
                           today: date) -> Mapped:
    problems = Problems()
    key = _identifier(resource, where, problems)
    if resource.get("status") != "active":
        problems.add(f"{where}.status", "A prescription is received as active.")
    if resource.get("intent") != "order":
        problems.add(f"{where}.intent", "A prescription's intent is order.")
    request_ = resource.get("dispenseRequest") if isinstance(resource.get("dispenseRequest"), dict) else {}
    if resource.get("requester") is None:
        problems.add(f"{where}.requester", "The requester (the prescriber's Practitioner, by NPI) is required.",
                     "required")
    else:
        requester = resource["requester"]
        npi = (requester.get("identifier") or {}).get("value") if isinstance(requester, dict) else None
        if npi is not None and not is_valid_npi(str(npi)):
            problems.add(f"{where}.requester.identifier.value", "Not a valid NPI: 10 digits with a correct check "
                                                                "digit.")
        else:
            _own_prescriber(resolver, user, requester, f"{where}.requester")
    patient = own_patient(resolver, user, resource.get("subject"), f"{where}.subject")
    pharmacy_id = None
    if request_.get("performer") is None:
        problems.add(f"{where}.dispenseRequest.performer", "The pharmacy the prescription is routed to (its NCPDP "
                                                           "identifier) is required.", "required")
    else:
        target = resolver.resolve(request_["performer"], f"{where}.dispenseRequest.performer")
        if target.kind != "pharmacy":
            raise NotFound(f"{where}.dispenseRequest.performer does not name a registered pharmacy by its NCPDP id.")
        pharmacy_id = target.record.id
    drug, ndc, strength = _medication(resource, where, problems)
    quantity = _quantity(request_.get("quantity"), f"{where}.dispenseRequest.quantity", problems)
    days = _days(request_.get("expectedSupplyDuration"), f"{where}.dispenseRequest.expectedSupplyDuration", problems)
    refills = request_.get("numberOfRepeatsAllowed", 0)
    if not isinstance(refills, int) or isinstance(refills, bool) or not 0 <= refills <= 99:
        problems.add(f"{where}.dispenseRequest.numberOfRepeatsAllowed", "Refills are a whole number 0-99.")
    validity = request_.get("validityPeriod") or {}
    if isinstance(validity, dict) and validity.get("end"):
        end = fhir_date(validity["end"], f"{where}.dispenseRequest.validityPeriod.end", problems)
        if end and end < today:
            problems.add(f"{where}.dispenseRequest.validityPeriod.end", f"The prescription's validity ended on "
                                                                        f"{end.isoformat()}.", "business-rule")
    written = None
    if not resource.get("authoredOn"):
        problems.add(f"{where}.authoredOn", "When the prescription was written (authoredOn) is required.", "required")
    else:
        written = fhir_date(resource["authoredOn"], f"{where}.authoredOn", problems)
    resolver.raise_refused()
    problems.raise_any()
    data = {"patient_id": patient.id, "pharmacy_id": pharmacy_id, "drug": drug, "ndc": ndc, "strength_mg": strength,
            "quantity": quantity, "days_supply": days, "refills": refills, "written_on": written}
    return Mapped("prescription", "MedicationRequest", data, patient, key, "active", where)


def _medication(resource: dict[str, Any], where: str, problems: Problems) -> tuple[str, str | None, Decimal | None]:
    concept, at, medication = resource.get("medicationCodeableConcept"), f"{where}.medicationCodeableConcept", None
    if concept is None and resource.get("medicationReference") is not None:
        ref = str((resource["medicationReference"] or {}).get("reference") or "")
        contained = {c.get("id"): c for c in resource.get("contained") or [] if isinstance(c, dict)}
        medication = contained.get(ref.removeprefix("#")) if ref.startswith("#") else None
        if medication is None or medication.get("resourceType") != "Medication":
            problems.add(f"{where}.medicationReference", "The medication is a medicationCodeableConcept or a "
                                                         "contained Medication (#id).", "not-supported")
            return "isotretinoin", None, None
        concept, at = medication.get("code"), f"{where}.contained.code"
    codings = _codings(concept)
    rxcuis = [str(c.get("code")) for c in codings if c.get("system") == RXNORM]
    ndcs = [str(c.get("code")).strip() for c in codings if c.get("system") == NDC]
    listed_scd = next((r for r in rxcuis if r in listed_rxcuis()), None)
    ndc = _normalized_ndc(ndcs[0]) if ndcs else None
    try:
        product = lookup_ndc(ndc) if ndc else None
    except AmbiguousNdc:
        product = None
    is_ours = listed_scd is not None or ISOTRETINOIN_RXCUI in rxcuis or product is not None
    if not is_ours:
        problems.add(at, "Not isotretinoin: give RxNorm 6064, a listed RxNorm concept or a listed NDC.",
                     "code-invalid")
        return "isotretinoin", ndc, None
    strength = strength_of_rxcui(listed_scd) if listed_scd else None
    if strength is None and medication is not None:
        strength = _ingredient_strength(medication, where, problems)
        if strength is None and any(k.startswith(f"{where}.contained.ingredient") for k in problems.fields):
            return "isotretinoin", ndc, None
    if strength is None and product is not None:
        strength = product.strength_mg
    if strength is None:
        problems.add(at, "The strength is not known: give a listed RxNorm concept (SCD), a contained Medication's "
                         "ingredient strength in mg per 1, or a listed NDC.", "required")
    return "isotretinoin", ndc, strength


def _normalized_ndc(text: str) -> str | None:
    key = canonical_ndc(text)
    if key is not None:
        return key[1]
    return text if re.fullmatch(r"[0-9]{10}", text) else None


PER_ONE = (None, "1", "{capsule}", "capsule", "CAP")


def _ingredient_strength(medication: dict[str, Any], where: str, problems: Problems) -> Decimal | None:
    """The first ingredient's strength in mg per 1 (capsule); another ratio is refused, never read."""
    for n, ingredient in enumerate(medication.get("ingredient") or []):
        ratio = (ingredient or {}).get("strength") if isinstance(ingredient, dict) else None
        if not isinstance(ratio, dict):
            continue
        at = f"{where}.contained.ingredient[{n}].strength"
        numerator, denominator = ratio.get("numerator") or {}, ratio.get("denominator") or {}
        if not isinstance(numerator, dict) or not isinstance(denominator, dict):
            problems.add(at, "The strength is a Ratio of Quantities.")
            return None
        value = numerator.get("value")
        per_one = denominator.get("value", 1) == 1 and (denominator.get("code") or denominator.get("unit")) in PER_ONE
        if (numerator.get("code") or numerator.get("unit")) != "mg" or not per_one:
            problems.add(at, "The strength is in mg per 1 capsule.", "code-invalid")
            return None
        if isinstance(value, bool) or not isinstance(value, Decimal | int) or not Decimal(value).is_finite() \
                or not 0 < value <= MAX_STRENGTH_MG or Decimal(value).as_tuple().exponent < -STORED_PLACES:
            problems.add(f"{at}.numerator.value", f"The strength is a number of mg over 0, at most "
                                                  f"{MAX_STRENGTH_MG}, with at most {STORED_PLACES} decimals.")
            return None
        return Decimal(value)
    return None


def _quantity(quantity: Any, where: str, problems: Problems) -> Decimal | None:
    if not isinstance(quantity, dict) or quantity.get("value") is None:
        problems.add(where, "The quantity to dispense is required.", "required")
        return None
    value = quantity["value"]
    capsules = (quantity.get("system") == ORDERABLE_FORM and quantity.get("code") == "CAP") or \
        (quantity.get("system") in (UCUM, None) and quantity.get("code") == "{capsule}")
    if not capsules:
        problems.add(where, "The quantity is counted in capsules: code CAP (v3-orderableDrugForm) or {capsule} "
                            "(UCUM).", "code-invalid")
    if not isinstance(value, Decimal | int) or isinstance(value, bool) or not 0 < value <= MAX_QUANTITY:
        problems.add(f"{where}.value", f"The quantity is a number over 0 (at most {MAX_QUANTITY}).")
        return None
    return Decimal(value)


def _days(duration: Any, where: str, problems: Problems) -> int | None:
    if not isinstance(duration, dict) or duration.get("value") is None:
        problems.add(where, "The days supply (expectedSupplyDuration) is required.", "required")
        return None
    if duration.get("code") != "d" or duration.get("system") not in (UCUM, None):
        problems.add(where, "The days supply is in days: UCUM code d.", "code-invalid")
    value = duration["value"]
    if isinstance(value, bool) or not isinstance(value, Decimal | int) or value != int(value) or not 1 <= value <= 365:
        problems.add(f"{where}.value", "The days supply is a whole number of days, 1-365.")
        return None
    return int(value)


# --- Patient ---------------------------------------------------------------------------------

def patient_data(base: str, resource: dict[str, Any], where: str, rems_id: str) -> dict[str, Any]:
    """A new patient from a Patient entry (§3.2): the REMS id, name, birth date and the PharmSafe
    extensions; everything else is ignored."""
    problems = Problems()
    names = resource.get("name") or []
    name = names[0] if names and isinstance(names[0], dict) else {}
    family, given = name.get("family"), (name.get("given") or [None])[0]
    if not family:
        problems.add(f"{where}.name[0].family", "The family name is required.", "required")
    if not given:
        problems.add(f"{where}.name[0].given", "The given name is required.", "required")
    birth = None
    if not resource.get("birthDate"):
        problems.add(f"{where}.birthDate", "The birth date is required.", "required")
    else:
        birth = fhir_date(resource["birthDate"], f"{where}.birthDate", problems)
    ext = extensions(base, resource, where, problems)
    for name_, label in (("can_get_pregnant", "can-get-pregnant"), ("enrolled_on", "rems-enrolled-on")):
        if name_ not in ext:
            problems.add(f"{where}.extension", f"The extension {base}/fhir/StructureDefinition/{label} is required.",
                         "required")
    for name_, value in (("family", family), ("given", given)):
        if value and len(str(value)) > 100:
            problems.add(f"{where}.name[0].{name_}", "A name is at most 100 characters.")
    problems.raise_any()
    return {"first_name": str(given), "last_name": str(family), "date_of_birth": birth,
            "rems_patient_id": rems_id, **ext}


def extensions(base: str, resource: dict[str, Any], where: str, problems: Problems) -> dict[str, Any]:
    prefix = f"{base}/fhir/StructureDefinition/"
    found: dict[str, Any] = {}
    seen: set[str] = set()
    for n, extension in enumerate(resource.get("extension") or []):
        url = str((extension or {}).get("url") or "")
        at = f"{where}.extension[{n}]"
        if url.startswith(prefix) and url in seen:  # two values for one fact: neither is picked
            problems.add(at, f"The extension {url} is given more than once.")
            continue
        seen.add(url)
        if url == prefix + "can-get-pregnant":
            value = extension.get("valueBoolean")
            if not isinstance(value, bool):
                problems.add(f"{at}.valueBoolean", "can-get-pregnant is a valueBoolean.")
            found["can_get_pregnant"] = value
        elif url == prefix + "home-pregnancy-tests-allowed":
            value = extension.get("valueBoolean")
            if not isinstance(value, bool):
                problems.add(f"{at}.valueBoolean", "home-pregnancy-tests-allowed is a valueBoolean.")
            found["home_pregnancy_tests_allowed"] = value
        elif url == prefix + "rems-enrolled-on":
            found["enrolled_on"] = fhir_date(extension.get("valueDate"), f"{at}.valueDate", problems)
    return found


def rems_system(base: str) -> str:
    return systems(base)["rems"]
