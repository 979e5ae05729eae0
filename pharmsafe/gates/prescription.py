"""The prescription gate (rulebook §4, §2 windows and early refill).

Drug: isotretinoin by name (the ingredient or a proprietary name in the reference) or by a listed
NDC; a listed NDC must match the strength, an unlisted one is a warning to acknowledge.
Window from ``written_on``: for a patient who cannot get pregnant ncgp_window_days (iPLEDGE 30, EU
7); under EU PPP also 7 days for a patient who can. Under iPLEDGE the window of a patient who can get
pregnant is the qualifying test's and belongs to the pregnancy_test gate. While the category is
unknown (the patient gate fails) the shortest window that runs from ``written_on`` is applied.
Currency: a prescription is current for prescription_current_days from ``written_on`` (iPLEDGE 30,
EU 7) for both categories, and that caps every deadline: last month's prescription is not this
month's, however fresh the pregnancy test. The earlier of the window and the currency is applied.
Early refill: refused while any seen dispense (transfers-in too) still covers more than
early_refill_days.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pharmsafe.gates.context import Context, make_context
from pharmsafe.gates.course import covered_through, refill_allowed_from
from pharmsafe.gates.dates import last_day
from pharmsafe.gates.facts import Facts
from pharmsafe.gates.ndc import AmbiguousNdc, is_isotretinoin_name, lookup_ndc
from pharmsafe.gates.policy import Policy
from pharmsafe.gates.results import Finding, GateResult
from pharmsafe.gates.units import format_decimal
from pharmsafe.gates.verdict import conclude, fail, passed, warn

GATE = "prescription"


def _positive(value: Decimal | int | None) -> bool:
    try:
        return value is not None and Decimal(value).is_finite() and Decimal(value) > 0
    except (TypeError, ValueError, ArithmeticError):
        return False


def window_days(policy: Policy, can_get_pregnant: bool | None) -> int | None:
    """Days the prescription stays current from written_on; None when the window is the
    qualifying test's (iPLEDGE, patient who can get pregnant)."""
    from_written = policy.cgp_window_from == "written_on"
    if can_get_pregnant is True:
        return policy.cgp_window_days if from_written else None
    if can_get_pregnant is False:
        return policy.ncgp_window_days
    return min(policy.ncgp_window_days, policy.cgp_window_days) if from_written else policy.ncgp_window_days


def current_through(policy: Policy, can_get_pregnant: bool | None, written_on: date) -> tuple[date, str]:
    """The last day the prescription may be dispensed, and what sets it ("window" or "currency"):
    the earlier of the window from written_on (where the policy has one for the category) and the
    prescription's currency, prescription_current_days from written_on (rulebook §2)."""
    currency_end = last_day(written_on, policy.prescription_current_days)
    days = window_days(policy, can_get_pregnant)
    if days is not None and last_day(written_on, days) <= currency_end:
        return last_day(written_on, days), "window"
    return currency_end, "currency"


def prescription_gate(facts: Facts, *, policy: Policy, now: datetime) -> GateResult:
    ctx = make_context(facts, policy, now)
    rx = facts.prescription
    problems = _drug(rx.drug, rx.ndc, rx.strength_mg) + _amounts(ctx) + _dispense_quantity(facts)
    evidence: dict = {"prescription": rx.id, "written_on": rx.written_on.isoformat()}
    current_until = None
    if rx.written_on > ctx.today:
        problems.append(fail(
            "WRITTEN_ON_IN_FUTURE",
            f"The prescription is dated {rx.written_on.isoformat()}, after today.",
            "The prescriber must correct the date the prescription was written.",
        ))
    else:
        window_end, why = current_through(policy, facts.patient.can_get_pregnant, rx.written_on)
        evidence["window_last_day"] = window_end.isoformat()
        current_until = ctx.until(window_end, f"prescription:{rx.id}")
        if window_end < ctx.today:
            code = "PRESCRIPTION_WINDOW_EXPIRED" if why == "window" else "PRESCRIPTION_NOT_CURRENT"
            problems.append(fail(
                code,
                f"The prescription written {rx.written_on.isoformat()} could be dispensed through "
                f"{window_end.isoformat()}"
                + ("." if why == "window" else
                   f" ({policy.name} keeps a prescription current for {policy.prescription_current_days} days)."),
                "The prescriber must write a new prescription (this one stopped counting after "
                f"{window_end.isoformat()}).",
            ))
    problems.extend(_early_refill(ctx, evidence))
    ok_text = "The prescription is valid"
    if "window_last_day" in evidence:
        ok_text += f" and may be dispensed through {evidence['window_last_day']}"
    return conclude(GATE, problems, passed("PRESCRIPTION_VALID", ok_text + "."),
                    evidence=evidence, current_until=current_until)


def _drug(drug: str, ndc: str | None, strength_mg: Decimal) -> list[Finding]:
    try:
        listed = lookup_ndc(ndc)
    except AmbiguousNdc as ambiguous:
        # Contradictory data fails closed; the strength cannot be checked against a guess.
        return [fail("NDC_AMBIGUOUS", str(ambiguous),
                     "The prescriber must give the NDC with its hyphens (or in its 11-digit form) so that it "
                     "names one product.")]
    if not is_isotretinoin_name(drug) and listed is None:
        return [fail(
            "DRUG_NOT_ISOTRETINOIN",
            f"{drug!r}" + (f" (NDC {ndc})" if ndc else "") + " is not isotretinoin; this service handles "
            "only the isotretinoin program.",
            "Dispense this prescription outside PharmSafe, or correct the drug name or NDC if it is isotretinoin.",
        )]
    findings: list[Finding] = []
    if not _positive(strength_mg):
        findings.append(fail("STRENGTH_INVALID", f"The strength {strength_mg!r} mg is not a positive amount.",
                             "The prescriber must correct the strength."))
    if not ndc:
        return findings
    if listed is None:
        findings.append(warn("NDC_NOT_IN_REFERENCE",
                             f"NDC {ndc} is not in the isotretinoin reference list; check it against the package."))
    elif listed.strength_mg is None:
        findings.append(warn("NDC_STRENGTH_NOT_LISTED",
                             f"NDC {ndc} is listed without a strength; check the package against "
                             f"{format_decimal(Decimal(strength_mg))} mg."))
    elif _positive(strength_mg) and listed.strength_mg != Decimal(strength_mg):
        findings.append(fail(
            "NDC_STRENGTH_MISMATCH",
            f"NDC {ndc} is {format_decimal(listed.strength_mg)} mg, the prescription says "
            f"{format_decimal(Decimal(strength_mg))} mg.",
            "The prescriber must correct the strength or the NDC so that they agree.",
        ))
    return findings


def _amounts(ctx: Context) -> list[Finding]:
    rx, policy = ctx.facts.prescription, ctx.policy
    findings: list[Finding] = []
    if not isinstance(rx.days_supply, int) or rx.days_supply < 1:
        findings.append(fail("DAYS_SUPPLY_INVALID", f"The days supply {rx.days_supply!r} is not a positive number.",
                             f"The prescriber must give a days supply between 1 and {policy.max_days_supply}."))
    elif rx.days_supply > policy.max_days_supply:
        findings.append(fail(
            "DAYS_SUPPLY_EXCEEDED",
            f"{rx.days_supply} days supply exceeds the maximum of {policy.max_days_supply}.",
            f"The prescriber must write a prescription for at most {policy.max_days_supply} days.",
        ))
    if not isinstance(rx.refills, int) or not 0 <= rx.refills <= policy.refills_allowed:
        findings.append(fail(
            "REFILLS_NOT_ALLOWED",
            f"The prescription has {rx.refills!r} refill(s); {policy.refills_allowed} allowed.",
            "The prescriber must write a prescription without refills."
            if policy.refills_allowed == 0 else
            f"The prescriber must write a prescription with at most {policy.refills_allowed} refills.",
        ))
    if not _positive(rx.quantity):
        findings.append(fail("QUANTITY_INVALID", f"The quantity {rx.quantity!r} is not a positive amount.",
                             "The prescriber must correct the quantity."))
    return findings


def _dispense_quantity(facts: Facts) -> list[Finding]:
    if facts.stage != "dispense":
        return []
    rx, given = facts.prescription, facts.dispense_quantity
    if given is None:
        return [fail("DISPENSE_QUANTITY_MISSING", "The dispense does not state a quantity.",
                     f"Enter the quantity dispensed ({format_decimal(Decimal(rx.quantity))}).")]
    if not _positive(given) or Decimal(given) != Decimal(rx.quantity):
        return [fail(
            "DISPENSE_QUANTITY_MISMATCH",
            f"The dispense quantity {given} differs from the prescription's {rx.quantity}.",
            f"Dispense exactly the prescribed quantity ({format_decimal(Decimal(rx.quantity))}).",
        )]
    return []


def _early_refill(ctx: Context, evidence: dict) -> list[Finding]:
    allowed = refill_allowed_from(ctx.facts, ctx.policy)
    if allowed is None:
        return []
    allowed_from, binding = allowed
    evidence["previous_dispense_covers_through"] = covered_through(binding).isoformat()
    if ctx.today >= allowed_from:
        return []
    return [fail(
        "EARLY_REFILL",
        f"The dispense of {binding.dispensed_on.isoformat()} ({binding.days_supply} days) covers through "
        f"{covered_through(binding).isoformat()}; a new dispense is refused until "
        f"{ctx.policy.early_refill_days} days remain.",
        f"Dispense on or after {allowed_from.isoformat()}.",
    )]

