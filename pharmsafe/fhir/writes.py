"""FHIR writes (INTEROP.md §3, §6): one resource, a retraction, or a transaction Bundle, all in the
request's one unit of work; any problem raises, and the edge rolls everything back.

Each record keeps its sender's identifier under its natural key: the same identifier with the
same content replays (200, nothing written), other content is 409 `duplicate`, and an Observation or
QuestionnaireResponse with status amended or corrected supersedes the record (which is retracted,
reason `superseded`, reversing what cited it)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import select

from pharmsafe.errors import Conflict, Forbidden, MultipleMatches, NotFound, TooLarge, ValidationFailed
from pharmsafe.fhir.inbound import FhirInvalid
from pharmsafe.fhir.mapping import (
    Mapped,
    Problems,
    extensions,
    fhir_date,
    map_medication_request,
    map_observation,
    map_questionnaire_response,
    own_patient,
    patient_data,
)
from pharmsafe.fhir.refs import CLIA, NCPDP_SYSTEMS, NPI, Resolver, Target, identifier_value, invalid, systems
from pharmsafe.models import Attestation, ExternalIdentifier, LabResult, Patient, PregnancyTest, User
from pharmsafe.services.context import Ctx
from pharmsafe.services.evidence import (
    mark_entered_in_error,
    record_attestation,
    record_lab_result,
    record_pregnancy_test,
)
from pharmsafe.services.interop import content_hash, find_external, keep_external, replay_or_refuse
from pharmsafe.services.prescriptions import submit_prescription
from pharmsafe.services.registry import create_patient

MAX_ENTRIES = 100
CREATED, OK = "201 Created", "200 OK"
# A record's FHIR type and logical id.
EVIDENCE = {"pregnancy_test": (PregnancyTest, "pregnancy-tests", "Observation", "pregnancy-test-{}"),
            "lab_result": (LabResult, "lab-results", "Observation", "lab-result-{}"),
            "attestation": (Attestation, "attestations", "QuestionnaireResponse", "{}")}
# Where a service's field lies in the resource, for the 422 it answers (a date in the future).
FIELD_PATHS = {"specimen_collected_on": "effective", "collected_on": "effective", "attested_on": "item",
               "written_on": "authoredOn", "date_of_birth": "birthDate", "enrolled_on": "extension"}


@dataclass(frozen=True)
class Written:
    status: str  # "201 Created" or "200 OK"
    location: str | None = None  # "Observation/pregnancy-test-5/_history/1"
    etag: str | None = None


def location(record: str, version: int = 1) -> str:
    kind, _, number = record.partition(":")
    if kind == "prescription":
        return f"MedicationRequest/{number}/_history/{version}"
    if kind == "patient":
        return f"Patient/{number}/_history/{version}"
    _, _, fhir_type, logical = EVIDENCE[kind]
    return f"{fhir_type}/{logical.format(number)}/_history/{version}"


def _remapped(exc: ValidationFailed, where: str) -> FhirInvalid:
    fields = {f"{where}.{FIELD_PATHS.get(name, name)}" if name != "_schema" else where: messages
              for name, messages in (exc.fields or {}).items()}
    return FhirInvalid(fields or {where: [exc.message]}, {k: "value" for k in fields})


def store(ctx: Ctx, user: User, mapped: Mapped) -> Written:
    """Record one mapped resource under its natural key (replay, duplicate, amendment)."""
    system, value = mapped.key
    scope = f"prescriber:{user.prescriber_id}" if mapped.kind == "prescription" else f"patient:{mapped.patient.id}"
    digest = content_hash({"kind": mapped.kind, **mapped.data})
    row = find_external(ctx, scope, mapped.resource_type, system, value)
    identifier = {"identifier": {"system": system, "value": value}}
    if row is not None and (row.content_hash == digest or not (mapped.amends and mapped.kind != "prescription")):
        record = replay_or_refuse(row, digest, f"{mapped.resource_type} {system}|{value}")
        return Written(OK, location(record), 'W/"1"')
    if row is not None:
        _amendable(ctx, row.record, mapped)
    try:
        if row is not None:  # an amendment: the record it replaces stops counting
            _retract(ctx, row.record, "superseded", identifier, already_ok=True)
        record = _create(ctx, user, mapped, identifier)
    except ValidationFailed as exc:
        if isinstance(exc, FhirInvalid):
            raise
        raise _remapped(exc, mapped.where) from None
    keep_external(ctx, scope=scope, resource_type=mapped.resource_type, system=system, value=value, record=record,
                  digest=digest, row=row)
    return Written(CREATED, location(record), 'W/"1"')


def _amendable(ctx: Ctx, record: str, mapped: Mapped) -> None:
    """An amendment replaces a record of its own kind. A positive pregnancy test is never amended to
    another result: it locks the patient until the prescriber clears it (docs/rules.md), and setting
    it aside is a retraction with its reason, not a side effect of a corrected report."""
    kind, _, number = record.partition(":")
    if kind != mapped.kind:
        raise invalid(f"{mapped.where}.code", f"An amendment replaces a record of its own kind: this identifier "
                                              f"names a {kind.replace('_', ' ')}.")
    if kind == "pregnancy_test":
        old = ctx.session.get(PregnancyTest, int(number))
        if old.result == "positive" and not old.entered_in_error and mapped.data.get("result") != "positive":
            raise invalid(f"{mapped.where}.status", "A positive pregnancy test is not amended to another result: "
                                                    "retract it (PUT with status entered-in-error and the reason in "
                                                    "note), or the prescriber records a pregnancy_excluded clearance.",
                          "business-rule")


def _create(ctx: Ctx, user: User, mapped: Mapped, identifier: dict[str, Any]) -> str:
    data = {k: v for k, v in mapped.data.items() if v is not None or k in ("ndc",)}
    if mapped.kind == "pregnancy_test":
        return f"pregnancy_test:{record_pregnancy_test(ctx, mapped.patient.id, data, identifier).id}"
    if mapped.kind == "lab_result":
        return f"lab_result:{record_lab_result(ctx, mapped.patient.id, data, identifier).id}"
    if mapped.kind == "attestation":
        if not data.get("methods"):
            data.pop("methods", None)
        return f"attestation:{record_attestation(ctx, mapped.patient.id, data, identifier).id}"
    rx = submit_prescription(ctx, user.prescriber_id, data, audit_extra=identifier)
    return f"prescription:{rx.id}"


def _retract(ctx: Ctx, record: str, reason: str, extra: dict[str, Any], *, already_ok: bool = False) -> str:
    kind, _, number = record.partition(":")
    model, collection, *_ = EVIDENCE[kind]
    row = ctx.session.get(model, int(number))
    if row.entered_in_error:
        if already_ok:
            return record
        raise Conflict("This record is already entered-in-error.", code="already_entered_in_error")
    mark_entered_in_error(ctx, collection, row.patient_id, row.id, reason, extra)
    return record


# --- retraction (PUT) --------------------------------------------------------------------------

def find_for_update(ctx: Ctx, user: User, resource_type: str, logical_id: str | None,
                    identifier: str | None, base: str) -> str:
    """The record a PUT names, by logical id or by ``identifier=system|value``; 404 when there is
    none, 412 when the identifier names several, 403 when it is not the prescriber's patient's."""
    if logical_id is not None:
        record = _record_of(resource_type, logical_id)
        kind, _, number = record.partition(":")
        row = ctx.session.get(EVIDENCE[kind][0], int(number))
        if row is None:
            raise NotFound(f"{resource_type}/{logical_id} does not exist.")
        patient_id = row.patient_id
    else:
        system, _, value = (identifier or "").partition("|")
        if not system or not value:
            raise invalid(f"{resource_type}.identifier", "Name the record as ?identifier=system|value.", "required")
        rows = ctx.session.scalars(select(ExternalIdentifier).where(
            ExternalIdentifier.resource_type == resource_type, ExternalIdentifier.system == system,
            ExternalIdentifier.value == value, ExternalIdentifier.scope.like("patient:%"))).all()
        visible = [r for r in rows if _patient_of(ctx, r.scope).prescriber_id == user.prescriber_id]
        if not rows:
            raise NotFound(f"No {resource_type} has the identifier {system}|{value}.")
        if len(visible) > 1:
            raise MultipleMatches(f"Several of your patients' {resource_type}s have the identifier {system}|{value}; "
                                  "name one by its id.")
        record = (visible or rows)[0].record
        patient_id = int((visible or rows)[0].scope.partition(":")[2])
    patient = ctx.session.get(Patient, patient_id)
    if patient.prescriber_id != user.prescriber_id:
        raise Forbidden(f"The {resource_type} is not one of your patients' records.")
    return record


def _patient_of(ctx: Ctx, scope: str) -> Patient:
    return ctx.session.get(Patient, int(scope.partition(":")[2]))


def _record_of(resource_type: str, logical_id: str) -> str:
    def number(text: str) -> int:
        if not (text.isascii() and text.isdigit()) or len(text) > 9 or text.startswith("0"):
            raise NotFound(f"{resource_type}/{logical_id} does not exist.")
        return int(text)

    if resource_type == "Observation":
        for kind in ("pregnancy_test", "lab_result"):
            prefix = EVIDENCE[kind][3].format("")
            if logical_id.startswith(prefix):
                return f"{kind}:{number(logical_id.removeprefix(prefix))}"
        raise NotFound(f"Observation/{logical_id} does not exist.")
    return f"attestation:{number(logical_id)}"


def retract(ctx: Ctx, resource: dict[str, Any], record: str, where: str, base: str) -> Written:
    """PUT with status entered-in-error: the reason is note[0].text; R4 gives a
    QuestionnaireResponse no note, so it carries the reason in the extension
    ``{base}/fhir/StructureDefinition/entered-in-error-reason`` (valueString), which an Observation
    may use too. Other elements are ignored."""
    problems = Problems()
    if resource.get("status") != "entered-in-error":
        problems.add(f"{where}.status", "A PUT only retracts: status entered-in-error (send a new resource with "
                                        "status amended to replace one).")
    notes = resource.get("note") or []
    reason = (notes[0] or {}).get("text") if notes and isinstance(notes[0], dict) else None
    url = f"{base}/fhir/StructureDefinition/entered-in-error-reason"
    for extension in resource.get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") == url and reason is None:
            reason = extension.get("valueString")
    if not isinstance(reason, str) or not reason.strip():
        problems.add(f"{where}.note" if resource.get("resourceType") == "Observation" else f"{where}.extension",
                     "Say why: note[0].text (Observation) or the extension " + url + " (valueString).", "required")
    elif len(reason) > 500:
        problems.add(f"{where}.note[0].text", "A reason is at most 500 characters.")
    problems.raise_any()
    external = ctx.session.scalar(select(ExternalIdentifier).where(ExternalIdentifier.record == record))
    extra = {"identifier": {"system": external.system, "value": external.value}} if external else {}
    _retract(ctx, record, reason.strip(), extra)
    return Written(OK, location(record, 2), 'W/"2"')


# --- transaction -------------------------------------------------------------------------------

REFERENCE_TYPES = ("Patient", "Practitioner", "Organization")
STORED_TYPES = ("Observation", "QuestionnaireResponse", "MedicationRequest")


def transaction(ctx: Ctx, user: User, bundle: dict[str, Any], base: str) -> dict[str, Any]:
    """A transaction Bundle, all or nothing: references, then Observations and
    QuestionnaireResponses, PUTs, MedicationRequests; the transaction-response in request order."""
    if bundle.get("type") != "transaction":
        raise invalid("Bundle.type", f"POST /fhir/R4 takes a transaction Bundle, not a {bundle.get('type')}.",
                      "not-supported")
    entries = bundle.get("entry") or []
    if len(entries) > MAX_ENTRIES:
        raise TooLarge(f"A transaction has at most {MAX_ENTRIES} entries; this one has {len(entries)}.")
    resolver = Resolver(ctx.session, base)
    plan = _plan(entries)
    results: dict[int, Written] = {}
    for n in plan["references"]:
        results[n] = _reference_entry(ctx, user, resolver, entries[n], f"Bundle.entry[{n}]")
    report_dates = _report_dates(entries, plan["reports"])
    for n in plan["reports"]:
        results[n] = Written(OK)
    mapped: dict[int, Mapped] = {}
    problems = Problems()
    for n in plan["evidence"] + plan["prescriptions"]:
        entry, where = entries[n], f"Bundle.entry[{n}].resource"
        try:
            mapped[n] = _map(ctx, user, resolver, entry["resource"], where, report_dates, entry.get("fullUrl"))
        except FhirInvalid as exc:
            problems.take(exc)
    for n, where in plan["puts"]:
        try:
            _check_put(entries[n], where)
        except FhirInvalid as exc:
            problems.take(exc)
    _reports_name_their_results_patient(resolver, entries, plan["reports"], mapped, problems)
    problems.raise_any("The transaction has invalid entries; nothing was written.")
    _refuse_repeated_keys(mapped)
    for n in plan["evidence"]:
        results[n] = store(ctx, user, mapped[n])
    for n, where in plan["puts"]:
        resource = entries[n]["resource"]
        kind, logical, query = _put_target(entries[n], where)
        record = find_for_update(ctx, user, kind, logical, query, base)
        results[n] = retract(ctx, resource, record, f"Bundle.entry[{n}].resource", base)
    for n in plan["prescriptions"]:
        results[n] = store(ctx, user, mapped[n])
    return {"resourceType": "Bundle", "type": "transaction-response",
            "entry": [{"response": {k: v for k, v in (("status", results[n].status),
                                                       ("location", results[n].location),
                                                       ("etag", results[n].etag)) if v}}
                      for n in range(len(entries))]}


def _map(ctx: Ctx, user: User, resolver: Resolver, resource: dict[str, Any], where: str,
         report_dates: dict[str, date] | None = None, full_url: str | None = None) -> Mapped:
    kind = resource.get("resourceType")
    if kind == "Observation":
        return map_observation(resolver, user, resource, where, report_dates, full_url)
    if kind == "QuestionnaireResponse":
        return map_questionnaire_response(resolver, user, resource, where, ctx.today)
    return map_medication_request(resolver, user, resource, where, ctx.today)


def map_one(ctx: Ctx, user: User, resource: dict[str, Any], base: str) -> Mapped:
    """A resource POSTed alone: its references by identifier only."""
    return _map(ctx, user, Resolver(ctx.session, base), resource, resource["resourceType"])


def _plan(entries: list) -> dict[str, list]:
    """Each entry's part, in the order they are processed; 422 for what a transaction cannot hold."""
    plan: dict[str, list] = {"references": [], "reports": [], "evidence": [], "puts": [], "prescriptions": []}
    problems = Problems()
    seen_urls: set[str] = set()
    for n, entry in enumerate(entries):
        where = f"Bundle.entry[{n}]"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        full_url = entry.get("fullUrl") if isinstance(entry, dict) else None
        if not isinstance(full_url, str) or not full_url.startswith("urn:uuid:"):
            problems.add(f"{where}.fullUrl", "Each entry has a fullUrl urn:uuid:….", "required")
        elif full_url in seen_urls:
            problems.add(f"{where}.fullUrl", f"The fullUrl {full_url} is used by another entry.")
        else:
            seen_urls.add(full_url)
        if not isinstance(resource, dict):
            problems.add(f"{where}.resource", "Each entry holds a resource.", "required")
            continue
        kind = resource.get("resourceType")
        method = ((entry.get("request") or {}).get("method"))
        if method is None:
            problems.add(f"{where}.request", "Each entry has a request (method and url).", "required")
            continue
        if kind in REFERENCE_TYPES and method == "POST":
            plan["references"].append(n)
        elif kind == "DiagnosticReport" and method == "POST":
            plan["reports"].append(n)
        elif kind in ("Observation", "QuestionnaireResponse") and method == "POST":
            plan["evidence"].append(n)
        elif kind in ("Observation", "QuestionnaireResponse") and method == "PUT":
            plan["puts"].append((n, f"{where}.request"))
        elif kind == "MedicationRequest" and method == "POST":
            plan["prescriptions"].append(n)
        else:
            problems.add(where, f"A transaction takes Patient, Practitioner, Organization and DiagnosticReport "
                                f"(POST), Observation and QuestionnaireResponse (POST, PUT) and MedicationRequest "
                                f"(POST); not {method} {kind}." + (" A Consent is no attestation: send the "
                                                                    "attestation form's QuestionnaireResponse."
                                                                    if kind == "Consent" else ""), "not-supported")
    problems.raise_any("The transaction has entries PharmSafe does not take; nothing was written.")
    return plan


def _if_none_exist(entry: dict[str, Any], where: str) -> dict[str, str]:
    text = (entry.get("request") or {}).get("ifNoneExist")
    if not text:
        raise invalid(f"{where}.request.ifNoneExist", "A Patient, Practitioner or Organization entry is matched by "
                                                      "ifNoneExist: identifier=system|value.", "required")
    pairs = parse_qsl(str(text), keep_blank_values=True)
    if len(pairs) != 1 or pairs[0][0] != "identifier" or "|" not in pairs[0][1]:
        raise invalid(f"{where}.request.ifNoneExist", "ifNoneExist is one identifier=system|value.")
    system, _, value = pairs[0][1].partition("|")
    return {"system": system, "value": value}


def _reference_entry(ctx: Ctx, user: User, resolver: Resolver, entry: dict[str, Any], where: str) -> Written:
    resource = entry["resource"]
    kind = resource["resourceType"]
    identifier = _if_none_exist(entry, where)
    identifier_value(identifier, f"{where}.request.ifNoneExist")
    key = (identifier["system"], identifier["value"])
    if key in {(t.entry or {}).get("_key") for t in resolver.entries.values()}:
        raise invalid(f"{where}.request.ifNoneExist", f"Another entry has the same ifNoneExist {key[0]}|{key[1]}.")
    if kind == "Patient":
        target, written = _patient_entry(ctx, user, resolver, resource, identifier, f"{where}.resource")
    else:
        allowed = (NPI,) if kind == "Practitioner" else (*NCPDP_SYSTEMS, CLIA)
        if identifier["system"] not in allowed:
            raise invalid(f"{where}.request.ifNoneExist", f"A {kind} is matched on its " +
                          ("NPI." if kind == "Practitioner" else "NCPDP provider id or CLIA number."))
        target = resolver.by_identifier(identifier, f"{where}.request.ifNoneExist")
        if target.kind == "clia":
            target = Target("Organization", clia=target.clia)
        written = Written(OK)
    target.entry = {"_key": key, "resourceType": kind}
    resolver.entries[entry["fullUrl"]] = target
    return written


def _patient_entry(ctx: Ctx, user: User, resolver: Resolver, resource: dict[str, Any], identifier: dict[str, str],
                   where: str) -> tuple[Target, Written]:
    own = systems(resolver.base_url)
    if identifier["system"] not in (own["rems"], own["patient"]):
        raise invalid(f"{where}.identifier", f"A patient is matched on {own['rems']} or {own['patient']}.")
    try:
        target = resolver.by_identifier(identifier, where)
    except NotFound:
        if identifier["system"] != own["rems"]:
            raise
        if user.role != "prescriber":
            raise Forbidden("Only a prescriber registers a patient.") from None
        _own_identifiers_agree(resource, where, own, rems_id=identifier["value"], patient_id=None)
        data = patient_data(resolver.base_url, resource, where, identifier["value"])
        try:
            patient = create_patient(ctx, {**data, "prescriber_id": user.prescriber_id},
                                     {"identifier": dict(identifier)})
        except ValidationFailed as exc:
            raise _remapped(exc, where) from None
        return Target("patient", patient), Written(CREATED, location(f"patient:{patient.id}"), 'W/"1"')
    patient: Patient = target.record
    if patient.prescriber_id != user.prescriber_id:
        raise Forbidden(f"{where}: the patient is not one of your patients.")
    _own_identifiers_agree(resource, where, own, rems_id=patient.rems_patient_id, patient_id=patient.id)
    problems = Problems()
    birth = fhir_date(resource.get("birthDate"), f"{where}.birthDate", problems) if resource.get("birthDate") else None
    problems.raise_any()
    if birth is not None and birth != patient.date_of_birth:
        raise invalid(f"{where}.birthDate", "The birth date differs from the registered patient's.")
    given = extensions(resolver.base_url, resource, where, problems)
    problems.raise_any()
    differing = sorted(k for k, v in given.items() if getattr(patient, k) != v)
    if differing:
        raise Conflict(f"The patient's {', '.join(differing)} differ from the registered patient's; change them "
                       f"with PATCH /api/v1/patients/{patient.id}.", code="conflict")
    return target, Written(OK, location(f"patient:{patient.id}"), 'W/"1"')


def _own_identifiers_agree(resource: dict[str, Any], where: str, own: dict[str, str], *, rems_id: str | None,
                           patient_id: int | None) -> None:
    """A Patient entry's own REMS and PharmSafe identifiers name the patient it is matched on (or
    creates): one naming another patient is refused, never ignored."""
    identifiers = resource.get("identifier") or []
    for n, given in enumerate(identifiers if isinstance(identifiers, list) else []):
        if not isinstance(given, dict) or given.get("system") not in (own["rems"], own["patient"]):
            continue
        expected = rems_id if given["system"] == own["rems"] else (str(patient_id) if patient_id else None)
        if str(given.get("value")) != expected:
            raise invalid(f"{where}.identifier[{n}]", "This identifier names another patient than the entry's "
                                                      "ifNoneExist.")


def _report_dates(entries: list, reports: list[int]) -> dict[str, date]:
    """The date a DiagnosticReport gives the Observations it lists in `result`."""
    dates: dict[str, date] = {}
    problems = Problems()
    for n in reports:
        resource = entries[n]["resource"]
        where = f"Bundle.entry[{n}].resource"
        when = None
        if resource.get("effectiveDateTime"):
            when = fhir_date(resource["effectiveDateTime"], f"{where}.effectiveDateTime", problems)
        elif (resource.get("effectivePeriod") or {}).get("start"):
            when = fhir_date(resource["effectivePeriod"]["start"], f"{where}.effectivePeriod.start", problems)
        for result in resource.get("result") or []:
            ref = str((result or {}).get("reference") or "")
            if when is not None and ref.startswith("urn:uuid:"):
                dates[ref] = when
    problems.raise_any("The transaction has invalid entries; nothing was written.")
    return dates


def _reports_name_their_results_patient(resolver: Resolver, entries: list, reports: list[int],
                                        mapped: dict[int, Mapped], problems: Problems) -> None:
    """A DiagnosticReport that dates results is about their patient: one whose subject names another
    patient (by urn:uuid or identifier) is refused. Its subject is otherwise not read: the report is
    never stored, and HL7's examples give it as a literal id."""
    by_url = {entries[m].get("fullUrl"): item for m, item in mapped.items()}
    for n in reports:
        resource = entries[n]["resource"]
        named = resource.get("subject")
        if not isinstance(named, dict) or not (str(named.get("reference") or "").startswith("urn:uuid:")
                                               or named.get("identifier") is not None):
            continue
        where = f"Bundle.entry[{n}].resource.subject"
        subject = resolver.resolve(named, where)
        for result in resource.get("result") or []:
            item = by_url.get(str((result or {}).get("reference") or ""))
            if item is not None and item.patient is not None and subject.record is not item.patient:
                problems.add(where, "The report's subject is not the patient of the results it lists.")
                break


def _refuse_repeated_keys(mapped: dict[int, Mapped]) -> None:
    seen: dict[tuple, int] = {}
    for n, item in mapped.items():
        scope = "prescriber" if item.kind == "prescription" else item.patient.id
        key = (item.resource_type, scope, *item.key)
        if key in seen:
            raise invalid(f"Bundle.entry[{n}].resource.identifier", f"Entry {seen[key]} has the same identifier.")
        seen[key] = n


def _put_target(entry: dict[str, Any], where: str) -> tuple[str, str | None, str | None]:
    url = str((entry.get("request") or {}).get("url") or "")
    kind = entry["resource"]["resourceType"]
    path, _, query = url.partition("?")
    if path == kind and query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if len(pairs) != 1 or pairs[0][0] != "identifier":
            raise invalid(f"{where}.url", "A PUT names its record as {type}/{id} or {type}?identifier=system|value.")
        return kind, None, pairs[0][1]
    prefix = f"{kind}/"
    if path.startswith(prefix) and "/" not in path.removeprefix(prefix) and not query:
        return kind, path.removeprefix(prefix), None
    raise invalid(f"{where}.url", "A PUT names its record as {type}/{id} or {type}?identifier=system|value.")


def _check_put(entry: dict[str, Any], where: str) -> None:
    _put_target(entry, where)


__all__ = ["MAX_ENTRIES", "Written", "find_for_update", "invalid", "map_one", "own_patient", "retract", "store",
           "transaction"]
