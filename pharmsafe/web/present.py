"""How the pages say things: labels, local times, and the gate checklist as rows to show.

Presentation only: every status, message and unblock hint comes from the recorded decision."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from markupsafe import Markup

from pharmsafe.gates import GATE_ORDER, PRIMARY_METHODS, SECONDARY_METHODS, policy_zone
from pharmsafe.runtime import current_runtime
from pharmsafe.services.context import Ctx

GATE_LABELS = {
    "pharmacy": "Pharmacy",
    "prescriber": "Prescriber",
    "patient": "Patient enrolment",
    "pregnancy_test": "Pregnancy test",
    "contraception": "Contraception",
    "comprehension": "Comprehension",
    "counseling": "Counseling",
    "labs": "Lab results",
    "prescription": "Prescription",
    "rems_authorization": "REMS authorization (RMA)",
}
# Text and symbol as well as colour, so that status never rests on colour alone.
GATE_STATUSES = {
    "pass": ("Pass", "✓"),
    "warn": ("Warning", "!"),
    "fail": ("Fail", "✗"),
    "not_applicable": ("Not applicable", "–"),
}
PRESCRIPTION_STATUSES = {
    "submitted": "Waiting for evaluation",
    "authorized": "Authorized",
    "blocked": "Blocked",
    "dispensed": "Dispensed",
    "expired": "Expired",
    "reversed": "Reversed",
}
# The rulebook's contraception method codes (§2) with the names people use.
METHOD_NAMES = {
    "iud": "Intrauterine device (IUD)",
    "implant": "Contraceptive implant",
    "tubal_sterilization": "Tubal sterilization",
    "partner_vasectomy": "Partner's vasectomy",
    "hormonal_pill": "Hormonal pill",
    "hormonal_patch": "Hormonal patch",
    "hormonal_ring": "Hormonal vaginal ring",
    "hormonal_injection": "Hormonal injection",
    "male_condom": "Male condom",
    "diaphragm": "Diaphragm",
    "cervical_cap": "Cervical cap",
    "vaginal_sponge": "Vaginal sponge",
    "abstinence": "Abstinence",
}
LAB_TESTS = {
    "ALT": "ALT (alanine aminotransferase)",
    "AST": "AST (aspartate aminotransferase)",
    "TRIGLYCERIDES": "Triglycerides",
    "TOTAL_CHOLESTEROL": "Total cholesterol",
    "LDL": "LDL cholesterol",
}
LAB_UNITS = ("U/L", "IU/L", "mg/dL", "mmol/L")
EVIDENCE_REFERENCES = {
    "pharmacy": "Pharmacy",
    "prescriber": "Prescriber",
    "patient": "Patient",
    "pregnancy_test": "Pregnancy test",
    "lab_result": "Lab result",
    "attestation": "Attestation",
    "prescription": "Prescription",
    "dispense": "Dispense",
    "transfer_in": "Transfer-in",
    "positive_pregnancy_test": "Positive pregnancy test",
}
# Evidence keys whose words are not their key's (abbreviations keep their capitals).
EVIDENCE_LABELS = {"rma_number": "RMA number", "do_not_dispense_after": "RMA do not dispense after"}


def method_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    def named(codes: Iterable[str]) -> list[tuple[str, str]]:
        return [(c, METHOD_NAMES.get(c, c)) for c in sorted(codes, key=lambda c: METHOD_NAMES.get(c, c))]

    return [("Highly effective (primary)", named(PRIMARY_METHODS)),
            ("Secondary", named(SECONDARY_METHODS)),
            ("On its own", named(["abstinence"]))]


def method_name(code: str) -> str:
    return METHOD_NAMES.get(code, code)


# Time zones.
def program_zone() -> ZoneInfo:
    return ZoneInfo(current_runtime().program.time_zone)


def pharmacy_zone(ctx: Ctx, pharmacy) -> ZoneInfo:
    """The zone the policy reads its dates in: iPLEDGE's own, or (EU PPP) the pharmacy's."""
    return policy_zone(ctx.policy(), pharmacy.time_zone if pharmacy is not None else None)


def local_time(value: datetime | None, zone: ZoneInfo | None = None, *, seconds: bool = True) -> str:
    if value is None:
        return ""
    zone = zone or program_zone()
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def hour(value: datetime, zone: ZoneInfo | None = None) -> str:
    """The time of day alone, for a deadline that is today: "23:59 EST"."""
    return value.astimezone(zone or program_zone()).strftime("%H:%M %Z")


def time_left(deadline: datetime | None, now: datetime) -> str:
    if deadline is None:
        return ""
    seconds = int((deadline - now).total_seconds())
    if seconds < 0:
        return "deadline passed"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h left"
    if hours:
        return f"{hours} h {minutes} min left"
    return f"{minutes} min left"


def number(value: Any) -> str:
    """A stored decimal as people write it: 20, 60.5 (never 2E+1 or 20.000); a float by its shortest
    text (8.4, never 8.4000000000000003552713678800500929355621337890625)."""
    if value is None:
        return ""
    return f"{Decimal(repr(value) if isinstance(value, float) else value).normalize():f}"


def yes_no(value: Any) -> str:
    return "yes" if value else "no"


# The gate checklist.
@dataclass(frozen=True)
class FindingRow:
    code: str
    status: str
    status_label: str
    symbol: str
    message: str


@dataclass(frozen=True)
class GateRow:
    gate: str
    label: str
    status: str
    status_label: str
    symbol: str
    code: str
    message: str
    unblock: str | None
    evidence: list[tuple[str, str]]
    findings: list[FindingRow]


@dataclass(frozen=True)
class Warning:
    code: str
    message: str
    gate_label: str


def _finding(raw: dict) -> FindingRow:
    label, symbol = GATE_STATUSES.get(raw.get("status"), (raw.get("status", ""), "?"))
    return FindingRow(code=raw.get("code", ""), status=raw.get("status", ""), status_label=label, symbol=symbol,
                      message=raw.get("message", ""))


def gate_rows(decision) -> list[GateRow]:
    if decision is None:
        return []
    order = {name: i for i, name in enumerate(GATE_ORDER)}
    rows = []
    for raw in sorted(decision.gates, key=lambda g: order.get(g.get("gate"), len(order))):
        label, symbol = GATE_STATUSES.get(raw.get("status"), (raw.get("status", ""), "?"))
        rows.append(GateRow(
            gate=raw.get("gate", ""), label=GATE_LABELS.get(raw.get("gate"), raw.get("gate", "")),
            status=raw.get("status", ""), status_label=label, symbol=symbol, code=raw.get("code", ""),
            message=raw.get("message", ""), unblock=raw.get("unblock"),
            evidence=evidence_items(raw.get("evidence") or {}),
            findings=[_finding(f) for f in raw.get("findings") or []]))
    return rows


def failures(decision) -> list[GateRow]:
    return [row for row in gate_rows(decision) if row.status == "fail"]


def warnings_to_acknowledge(*decisions) -> list[Warning]:
    """One entry per warn finding (a gate with a single finding is its own finding), in gate
    order, without repeats across decisions."""
    seen: dict[str, Warning] = {}
    for decision in decisions:
        for row in gate_rows(decision):
            if row.status != "warn":
                continue
            found = [f for f in row.findings if f.status == "warn"] or [row]
            for f in found:
                seen.setdefault(f.code, Warning(code=f.code, message=f.message, gate_label=row.label))
    return list(seen.values())


def evidence_items(evidence: dict) -> list[tuple[str, str]]:
    items = []
    for key, value in evidence.items():
        if key in EVIDENCE_REFERENCES and (isinstance(value, (int, list)) and not isinstance(value, bool)):
            ids = value if isinstance(value, list) else [value]
            items.append((EVIDENCE_REFERENCES[key] + ("s" if len(ids) > 1 else ""),
                          ", ".join(f"#{i}" for i in ids)))
        elif isinstance(value, bool):
            items.append((_label(key), yes_no(value)))
        elif isinstance(value, (list, tuple)):
            items.append((_label(key), ", ".join(str(v) for v in value)))
        elif value is not None:
            items.append((_label(key), str(value)))
    return items


def _label(key: str) -> str:
    return EVIDENCE_LABELS.get(key) or key.replace("_", " ").capitalize()


def evidence_reference(reference: str | None) -> str:
    """"pregnancy_test:17" in words: "Pregnancy test #17"."""
    kind, _, ident = (reference or "").partition(":")
    return f"{EVIDENCE_REFERENCES.get(kind, kind)} #{ident}" if ident else (reference or "")


def reevaluation_notice(decisions) -> str | None:
    """What new evidence did to the blocked prescriptions, for the flash after recording it."""
    if not decisions:
        return None
    said = []
    for d in decisions:
        outcome = "now authorized: the pharmacy can dispense it" if d.outcome == "authorized" else "still blocked"
        said.append(f"prescription #{d.prescription_id} is {outcome}")
    return "Evaluated again with it: " + "; ".join(said) + "."


def deadline_source(source: dict | None) -> str:
    """What sets dispense_by, in words: "Pregnancy test (pregnancy_test:4), counts through 2026-12-01"."""
    if not source:
        return ""
    gate = GATE_LABELS.get(source.get("gate"), source.get("gate", ""))
    evidence = source.get("evidence") or ""
    kind, _, ident = evidence.partition(":")
    reference = f"{EVIDENCE_REFERENCES.get(kind, kind)} #{ident}" if ident else evidence
    last_day = source.get("last_day")
    text = f"{gate} gate: {reference}" if reference else f"{gate} gate"
    return f"{text}, which counts through {last_day}" if last_day else text


def other_evidence_current_through(decision) -> str | None:
    """For a blocked decision: the earliest last day among the gates that did not fail, i.e. how long
    the rest of the evidence stays current while the missing piece is obtained."""
    days = []
    for raw in decision.gates if decision is not None else []:
        if raw.get("status") in ("pass", "warn"):
            evidence = raw.get("evidence") or {}
            for key in ("window_last_day", "last_day"):
                if isinstance(evidence.get(key), str):
                    try:
                        days.append(date.fromisoformat(evidence[key]))
                    except ValueError:
                        pass
    return min(days).isoformat() if days else None


# Where a record or an event came in (DESIGN.md §2's `source`), in a pharmacist's words.
SOURCE_LABELS = {"web": "Form", "api": "JSON API", "fhir": "FHIR", "ncpdp": "NCPDP SCRIPT", "system": "System"}
NOT_RECORDED = "Not recorded"


def came_in(source: str | None) -> Markup:
    """The source as words, in an element tests and styles can find by its code."""
    label = SOURCE_LABELS.get(source or "", source or NOT_RECORDED)
    return Markup('<span class="source" data-source="{}">{}</span>').format(source or "", label)


def register_filters(app: Flask) -> None:
    app.add_template_filter(came_in, "came_in")
    app.add_template_filter(local_time, "local")
    app.add_template_filter(hour, "hour")
    app.add_template_filter(evidence_reference, "evidence_ref")
    app.add_template_filter(yes_no, "yes_no")
    app.add_template_filter(number, "num")
    app.add_template_filter(method_name, "method_name")
    app.jinja_env.globals.update(
        GATE_LABELS=GATE_LABELS, PRESCRIPTION_STATUSES=PRESCRIPTION_STATUSES, GATE_STATUSES=GATE_STATUSES,
        LAB_TESTS=LAB_TESTS, METHOD_NAMES=METHOD_NAMES)
