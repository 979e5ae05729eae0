"""The pharmacy, prescriber and patient gates: who may take part (rulebook §2, policy table).

Expiry dates (activation, license, certification) are valid through the end of that day in the
policy's zone (rulebook §1); a missing one fails closed.
"""
from __future__ import annotations

from datetime import datetime

from pharmsafe.gates.context import make_context
from pharmsafe.gates.facts import Facts
from pharmsafe.gates.npi import is_valid_npi
from pharmsafe.gates.policy import Policy
from pharmsafe.gates.results import Finding, GateResult
from pharmsafe.gates.verdict import category_unknown, conclude, fail, not_applicable, passed


def pharmacy_gate(facts: Facts, *, policy: Policy, now: datetime) -> GateResult:
    """Activated, activation not expired (iPLEDGE). EU PPP has no pharmacy activation."""
    gate = "pharmacy"
    ctx = make_context(facts, policy, now)
    pharmacy = facts.pharmacy
    evidence: dict = {"pharmacy": pharmacy.id}
    if not policy.pharmacy_requires_activation:
        return not_applicable(gate, "PHARMACY_ACTIVATION_NOT_REQUIRED",
                              f"{policy.name} has no pharmacy activation requirement.", evidence)
    until = pharmacy.activated_until
    if until is None:
        return conclude(gate, [fail(
            "PHARMACY_NOT_ACTIVATED",
            "The pharmacy has no REMS activation on record.",
            "Record the pharmacy's REMS activation and the date it runs until.",
        )], evidence=evidence)
    evidence["activated_until"] = until.isoformat()
    problems = []
    if until < ctx.today:
        problems.append(fail(
            "PHARMACY_ACTIVATION_EXPIRED",
            f"The pharmacy's REMS activation expired on {until.isoformat()}.",
            f"Renew the pharmacy's REMS activation (expired {until.isoformat()}) and record the new date.",
        ))
    return conclude(
        gate, problems,
        passed("PHARMACY_ACTIVE", f"The pharmacy's REMS activation is valid through {until.isoformat()}."),
        evidence=evidence,
        current_until=ctx.until(until, f"pharmacy:{pharmacy.id}"),
    )


def prescriber_gate(facts: Facts, *, policy: Policy, now: datetime) -> GateResult:
    """Active, license current; under iPLEDGE also REMS-certified and a valid NPI."""
    gate = "prescriber"
    ctx = make_context(facts, policy, now)
    prescriber = facts.prescriber
    evidence: dict = {"prescriber": prescriber.id}
    problems: list[Finding] = []
    status = (prescriber.status or "").strip().lower()
    if status != "active":
        problems.append(fail(
            "PRESCRIBER_NOT_ACTIVE",
            f"The prescriber's status is {prescriber.status or 'not recorded'}, not active.",
            "Reactivate the prescriber's record or have an active prescriber write the prescription.",
        ))
    expiries = []
    license_until = prescriber.license_expires_on
    if license_until is None:
        problems.append(fail(
            "PRESCRIBER_LICENSE_MISSING",
            "The prescriber's license expiry date is not recorded.",
            "Record the prescriber's license and its expiry date.",
        ))
    else:
        evidence["license_expires_on"] = license_until.isoformat()
        expiries.append(license_until)
        if license_until < ctx.today:
            problems.append(fail(
                "PRESCRIBER_LICENSE_EXPIRED",
                f"The prescriber's license expired on {license_until.isoformat()}.",
                f"Renew the prescriber's license (expired {license_until.isoformat()}) and record the new date.",
            ))
    if policy.prescriber_requires_certification:
        certified_until = prescriber.rems_certified_until
        if certified_until is None:
            problems.append(fail(
                "PRESCRIBER_NOT_CERTIFIED",
                "The prescriber has no REMS certification on record.",
                "Record the prescriber's REMS certification and the date it runs until.",
            ))
        else:
            evidence["rems_certified_until"] = certified_until.isoformat()
            expiries.append(certified_until)
            if certified_until < ctx.today:
                problems.append(fail(
                    "PRESCRIBER_CERTIFICATION_EXPIRED",
                    f"The prescriber's REMS certification expired on {certified_until.isoformat()}.",
                    f"Renew the prescriber's REMS certification (expired {certified_until.isoformat()}).",
                ))
    if policy.prescriber_requires_npi and not is_valid_npi(prescriber.npi):
        problems.append(fail(
            "PRESCRIBER_NPI_INVALID",
            f"The prescriber's NPI {prescriber.npi!r} is not a valid NPI (10 digits with a check digit).",
            "Correct the prescriber's NPI.",
        ))
    earliest = min(expiries, default=None)
    return conclude(
        gate, problems,
        passed("PRESCRIBER_ACTIVE", "The prescriber is active"
               + (f" and current through {earliest.isoformat()}." if earliest else ".")),
        evidence=evidence,
        current_until=ctx.until(earliest, f"prescriber:{prescriber.id}") if earliest else None,
    )


def patient_gate(facts: Facts, *, policy: Policy, now: datetime) -> GateResult:
    """Enrolled (REMS id when required, enrolled_on on or before today, not deactivated) and a
    category set by the prescriber; nothing else (rulebook §2)."""
    gate = "patient"
    ctx = make_context(facts, policy, now)
    patient = facts.patient
    evidence: dict = {"patient": patient.id}
    problems: list[Finding] = []
    if patient.can_get_pregnant is None:
        problems.extend(category_unknown(gate, patient.id).findings)
    else:
        evidence["can_get_pregnant"] = patient.can_get_pregnant
    if policy.patient_requires_rems_id and not (patient.rems_patient_id or "").strip():
        problems.append(fail(
            "PATIENT_NOT_ENROLLED",
            "The patient has no REMS patient id.",
            "Enroll the patient in the REMS program and record the REMS patient id.",
        ))
    if patient.enrolled_on is None:
        problems.append(fail(
            "PATIENT_NOT_ENROLLED",
            "The patient's enrollment date is not recorded.",
            "Record the date the patient was enrolled.",
        ))
    else:
        evidence["enrolled_on"] = patient.enrolled_on.isoformat()
        if patient.enrolled_on > ctx.today:
            problems.append(fail(
                "PATIENT_ENROLLED_IN_FUTURE",
                f"The patient's enrollment date {patient.enrolled_on.isoformat()} is after today.",
                f"Correct the enrollment date, or dispense on or after {patient.enrolled_on.isoformat()}.",
            ))
    if patient.deactivated:
        problems.append(fail(
            "PATIENT_DEACTIVATED",
            "The patient's enrollment is deactivated.",
            "Re-enroll the patient before dispensing.",
        ))
    return conclude(gate, problems, passed("PATIENT_ENROLLED", "The patient is enrolled."), evidence=evidence)
