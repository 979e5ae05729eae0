"""`pharmsafe demo load`: a small pharmacy's day, showing every state a pharmacist meets.

Idempotent: a second run finds the demo pharmacy and changes nothing (it only rewrites the
credentials file when that file is missing, with fresh passwords and tokens)."""
from __future__ import annotations

import dataclasses
import os
import secrets
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from pharmsafe.models import ApiToken, Pharmacy, User
from pharmsafe.runtime import runtime_of
from pharmsafe.services import evidence, registry
from pharmsafe.services.authorizations import expire_stale_authorizations, reverse_authorization
from pharmsafe.services.context import Ctx
from pharmsafe.services.dispensing import dispense_authorization
from pharmsafe.services.evaluation import evaluate_prescription
from pharmsafe.services.prescriptions import submit_prescription
from pharmsafe.services.users import create_user, hash_password, issue_api_token

DEMO_NCPDP = "0999001"
ACTOR = "system:cli"
USERS = (("admin@pharmsafe.test", "admin"), ("prescriber@pharmsafe.test", "prescriber"),
         ("pharmacist@pharmsafe.test", "pharmacist"), ("auditor@pharmsafe.test", "auditor"))


def credentials_path(app: Flask) -> Path:
    return Path(app.instance_path) / "demo-credentials.txt"


def load_demo(app: Flask) -> Path:
    path = credentials_path(app)
    with runtime_of(app).unit_of_work(ACTOR) as ctx:
        existing = ctx.session.scalar(select(Pharmacy).where(Pharmacy.ncpdp_id == DEMO_NCPDP))
        if existing is None:
            logins = _build(ctx)
        elif not path.exists():
            logins = _reset_logins(ctx)
        else:
            return path
    _write_credentials(path, logins)
    return path


def _write_credentials(path: Path, logins: list[tuple[str, str, str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("# PharmSafe demo logins (web: /login; API: Authorization: Bearer <token>)\n")
        for email, role, password, token in logins:
            out.write(f"{role:<11} email={email} password={password} api_token={token}\n")
    os.chmod(path, 0o600)


def _reset_logins(ctx: Ctx) -> list[tuple[str, str, str, str]]:
    logins = []
    for email, role in USERS:
        user = ctx.session.scalar(select(User).where(User.email == email))
        password = secrets.token_urlsafe(12)
        user.password_hash = hash_password(password, ctx.passwords)
        for token in ctx.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id,
                                                                ApiToken.revoked_at.is_(None))):
            token.revoked_at = ctx.now
        logins.append((email, role, password, issue_api_token(ctx, user.id)[1]))
    return logins


def _at(ctx: Ctx, days_ago: int) -> Ctx:
    return dataclasses.replace(ctx, now=ctx.now - timedelta(days=days_ago))


def _patient(ctx: Ctx, prescriber_id: int, n: int, first: str, last: str, *, can_get_pregnant: bool) -> int:
    return registry.create_patient(ctx, {
        "prescriber_id": prescriber_id, "first_name": first, "last_name": last,
        "date_of_birth": date(1998, 1, 1) + timedelta(days=400 * n), "can_get_pregnant": can_get_pregnant,
        "rems_patient_id": f"DEMO-{n:04d}", "enrolled_on": ctx.today - timedelta(days=120),
        "home_pregnancy_tests_allowed": False}).id


def _evidence(ctx: Ctx, patient_id: int, *, can_get_pregnant: bool, test_age: int = 1,
              triglycerides: str = "140") -> None:
    today = ctx.today
    if can_get_pregnant:
        for age in (test_age + 30, test_age):
            evidence.record_pregnancy_test(ctx, patient_id, {
                "specimen_collected_on": today - timedelta(days=age), "result": "negative", "specimen": "serum",
                "setting": "medical", "clia_number": "05D0000001"})
        evidence.record_attestation(ctx, patient_id, {"kind": "contraception", "attested_on": today - timedelta(days=1),
                                                      "methods": ["hormonal_pill", "male_condom"]})
        evidence.record_attestation(ctx, patient_id, {"kind": "comprehension", "attested_on": today - timedelta(days=1)})
    evidence.record_attestation(ctx, patient_id, {"kind": "counseling", "attested_on": today - timedelta(days=1)})
    for test, value, unit in (("ALT", "24", "U/L"), ("AST", "21", "U/L"), ("TRIGLYCERIDES", triglycerides, "mg/dL"),
                              ("TOTAL_CHOLESTEROL", "170", "mg/dL")):
        evidence.record_lab_result(ctx, patient_id, {"test": test, "value": value, "unit": unit,
                                                     "collected_on": today - timedelta(days=3),
                                                     "reference_upper": None})


def _rx(ctx: Ctx, prescriber_id: int, patient_id: int, pharmacy_id: int) -> int:
    return submit_prescription(ctx, prescriber_id, {
        "patient_id": patient_id, "pharmacy_id": pharmacy_id, "drug": "isotretinoin", "ndc": "0591-2434-15",
        "strength_mg": Decimal("20"), "quantity": Decimal("60"), "days_supply": 30, "refills": 0,
        "written_on": ctx.today - timedelta(days=1), "first_of_course": None}).id


def _build(ctx: Ctx) -> list[tuple[str, str, str, str]]:
    far = ctx.today + timedelta(days=365)
    pharmacy = registry.create_pharmacy(ctx, {
        "name": "Riverside Community Pharmacy", "ncpdp_id": DEMO_NCPDP, "rems_registration_id": "RPH-DEMO-1",
        "activated_until": far, "time_zone": "America/New_York"})
    prescriber = registry.create_prescriber(ctx, {
        "npi": "1234567893", "first_name": "Grace", "last_name": "Hopper", "license_state": "NY",
        "license_number": "NY-204518", "license_expires_on": far, "rems_certified_until": far, "status": "active"})
    logins = []
    for email, role in USERS:
        password = secrets.token_urlsafe(12)
        _, token = create_user(ctx, email=email, role=role, password=password, issue_token=True,
                               prescriber_id=prescriber.id if role == "prescriber" else None,
                               pharmacy_id=pharmacy.id if role == "pharmacist" else None)
        logins.append((email, role, password, token))

    # Expired: authorized twelve days ago, never collected.
    past = _at(ctx, 12)
    pid = _patient(past, prescriber.id, 1, "Elena", "Marsh", can_get_pregnant=True)
    _evidence(past, pid, can_get_pregnant=True)
    evaluate_prescription(past, _rx(past, prescriber.id, pid, pharmacy.id))
    expire_stale_authorizations(ctx)

    # Authorized, ready to dispense.
    pid = _patient(ctx, prescriber.id, 2, "Maya", "Okafor", can_get_pregnant=True)
    _evidence(ctx, pid, can_get_pregnant=True)
    evaluate_prescription(ctx, _rx(ctx, prescriber.id, pid, pharmacy.id))

    # Blocked: the pregnancy test is nine days old.
    pid = _patient(ctx, prescriber.id, 3, "Sofia", "Reyes", can_get_pregnant=True)
    _evidence(ctx, pid, can_get_pregnant=True, test_age=9)
    evaluate_prescription(ctx, _rx(ctx, prescriber.id, pid, pharmacy.id))

    # Authorized with a lab warning (triglycerides above 500 mg/dL) to acknowledge.
    pid = _patient(ctx, prescriber.id, 4, "James", "Whitaker", can_get_pregnant=False)
    _evidence(ctx, pid, can_get_pregnant=False, triglycerides="612")
    evaluate_prescription(ctx, _rx(ctx, prescriber.id, pid, pharmacy.id))

    # Dispensed.
    pid = _patient(ctx, prescriber.id, 5, "Liam", "Chen", can_get_pregnant=False)
    _evidence(ctx, pid, can_get_pregnant=False)
    _, auth = evaluate_prescription(ctx, _rx(ctx, prescriber.id, pid, pharmacy.id))
    dispense_authorization(ctx, auth.id, quantity=Decimal("60"), rma_number="RMA-DEMO-0001",
                           rma_do_not_dispense_after=ctx.today + timedelta(days=6))

    # Reversed by the pharmacist.
    pid = _patient(ctx, prescriber.id, 6, "Nora", "Lindqvist", can_get_pregnant=True)
    _evidence(ctx, pid, can_get_pregnant=True)
    _, auth = evaluate_prescription(ctx, _rx(ctx, prescriber.id, pid, pharmacy.id))
    reverse_authorization(ctx, auth.id, "Patient asked to delay the start of treatment")

    # Submitted, waiting for the pharmacist's first evaluation.
    pid = _patient(ctx, prescriber.id, 7, "Ravi", "Patel", can_get_pregnant=False)
    _evidence(ctx, pid, can_get_pregnant=False)
    _rx(ctx, prescriber.id, pid, pharmacy.id)
    return logins
