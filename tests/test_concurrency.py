"""Concurrency proofs: clients released together by a barrier never double-dispense, never see a
500 and never see "database is locked", on SQLite and on PostgreSQL."""
from __future__ import annotations

import os
import threading
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from pharmsafe.models import Authorization, Dispense
from pharmsafe.runtime import runtime_of
from pharmsafe.services import evidence, registry
from pharmsafe.services.evaluation import evaluate_prescription
from pharmsafe.services.prescriptions import submit_prescription
from pharmsafe.services.users import create_user

ROUNDS = int(os.environ.get("PHARMSAFE_CONCURRENCY_ROUNDS", "200"))


def authorized_prescriptions(app, count: int) -> tuple[str, list[int], list[int]]:
    """A pharmacist's token, and `count` prescriptions (each for its own patient) with an active
    authorization; built through the services in one transaction, since the race is what is tested."""
    ext = runtime_of(app)
    with ext.session_factory() as session:
        ctx = ext.ctx(session, "system:test")
        today, far = ctx.today, ctx.today + timedelta(days=365)
        pharmacy = registry.create_pharmacy(ctx, {"name": "P", "ncpdp_id": "7654321", "rems_registration_id": "R",
                                                  "activated_until": far, "time_zone": "America/New_York"})
        prescriber = registry.create_prescriber(ctx, {
            "npi": "1234567893", "first_name": "A", "last_name": "B", "license_state": "NY", "license_number": "1",
            "license_expires_on": far, "rems_certified_until": far, "status": "active"})
        _, token = create_user(ctx, email="rph@example.com", role="pharmacist", pharmacy_id=pharmacy.id,
                               issue_token=True)
        rx_ids, auth_ids = [], []
        for n in range(count):
            patient = registry.create_patient(ctx, {
                "prescriber_id": prescriber.id, "first_name": "P", "last_name": str(n), "date_of_birth": date(2000, 1, 1),
                "can_get_pregnant": False, "rems_patient_id": f"R{n}", "enrolled_on": today - timedelta(days=40)})
            evidence.record_attestation(ctx, patient.id, {"kind": "counseling", "attested_on": today})
            for test, unit in (("ALT", "U/L"), ("AST", "U/L"), ("TRIGLYCERIDES", "mg/dL"), ("TOTAL_CHOLESTEROL", "mg/dL")):
                evidence.record_lab_result(ctx, patient.id, {"test": test, "value": Decimal("20"), "unit": unit,
                                                             "collected_on": today})
            rx = submit_prescription(ctx, prescriber.id, {
                "patient_id": patient.id, "pharmacy_id": pharmacy.id, "drug": "isotretinoin", "ndc": "0591-2434-15",
                "strength_mg": Decimal("20"), "quantity": Decimal("30"), "days_supply": 30, "refills": 0,
                "written_on": today, "first_of_course": None})
            _, auth = evaluate_prescription(ctx, rx.id)
            assert auth is not None
            rx_ids.append(rx.id)
            auth_ids.append(auth.id)
        session.commit()
    return token, rx_ids, auth_ids


def race(app, clients: int, request) -> list:
    """Release `clients` threads at once, each with its own test client; returns their responses."""
    barrier = threading.Barrier(clients)
    results: list = [None] * clients

    def worker(i):
        client = app.test_client()
        barrier.wait()
        results[i] = request(client, i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def body_of(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.mark.slow
@pytest.mark.parametrize("clients", [16, 64])
def test_exactly_one_dispense_wins_every_round(app, clients):
    rounds = ROUNDS
    token, _, auth_ids = authorized_prescriptions(app, rounds)
    headers = {"Authorization": f"Bearer {token}"}
    tally: Counter = Counter()
    for n, auth_id in enumerate(auth_ids):
        responses = race(app, clients, lambda c, i, auth_id=auth_id, n=n: c.post(
            f"/api/v1/authorizations/{auth_id}/dispense", headers=headers,
            json={"quantity": 30, "rma_number": f"RMA-{n}-{i}", "rma_do_not_dispense_after": "2027-12-31"}))
        codes = Counter(r.status_code for r in responses)
        tally.update(codes)
        assert codes[201] == 1 and codes[409] == clients - 1, (n, codes, [body_of(r) for r in responses if r.status_code not in (201, 409)][:2])
        assert not any("locked" in body_of(r) for r in responses)
    with runtime_of(app).session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Dispense)) == rounds
    assert set(tally) == {201, 409}


@pytest.mark.slow
def test_one_idempotency_key_gives_one_dispense(app):
    clients, rounds = 16, max(ROUNDS // 10, 1)
    token, _, auth_ids = authorized_prescriptions(app, rounds)
    for n, auth_id in enumerate(auth_ids):
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"key-{n}"}
        responses = race(app, clients, lambda c, i, auth_id=auth_id, headers=headers, n=n: c.post(
            f"/api/v1/authorizations/{auth_id}/dispense", headers=headers, json={"quantity": 30, "rma_number": f"R{n}", "rma_do_not_dispense_after": "2027-12-31"}))
        created = [r for r in responses if r.status_code == 201]
        in_progress = [r for r in responses if r.status_code == 409]
        assert len(created) + len(in_progress) == clients, [r.status_code for r in responses]
        assert created, "nobody got the first answer"
        assert len({body_of(r) for r in created}) == 1  # every 201 is the one first answer
        assert all(r.get_json()["error"]["code"] == "request_in_progress" for r in in_progress)
    with runtime_of(app).session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Dispense)) == rounds


@pytest.mark.slow
def test_concurrent_evaluations_leave_at_most_one_active_authorization(app):
    token, rx_ids, _ = authorized_prescriptions(app, 10)
    headers = {"Authorization": f"Bearer {token}"}
    for rx_id in rx_ids:
        responses = race(app, 8, lambda c, i, rx_id=rx_id: c.post(f"/api/v1/prescriptions/{rx_id}/evaluations",
                                                                          headers=headers))
        assert {r.status_code for r in responses} <= {201, 409}, [body_of(r) for r in responses]
        with runtime_of(app).session_factory() as s:
            active = s.scalar(select(func.count()).select_from(Authorization)
                              .where(Authorization.prescription_id == rx_id, Authorization.status == "active"))
        assert active == 1


@pytest.mark.slow
def test_evaluations_racing_dispenses_never_deadlock_or_dispense_twice(app):
    """An evaluation supersedes the authorization a dispense is using: both lock the prescription
    first, so neither waits on the other in the opposite order (PostgreSQL would abort one as a
    deadlock), and a prescription ends dispensed once, with no active authorization left, or not at all."""
    rounds = max(ROUNDS // 10, 1)
    token, rx_ids, auth_ids = authorized_prescriptions(app, rounds)
    headers = {"Authorization": f"Bearer {token}"}
    for n, (rx_id, auth_id) in enumerate(zip(rx_ids, auth_ids, strict=True)):
        responses = race(app, 8, lambda c, i, rx_id=rx_id, auth_id=auth_id, n=n:
                         c.post(f"/api/v1/prescriptions/{rx_id}/evaluations", headers=headers)
                         if i % 2 else c.post(f"/api/v1/authorizations/{auth_id}/dispense", headers=headers,
                                              json={"quantity": 30, "rma_number": f"RMA-{n}-{i}", "rma_do_not_dispense_after": "2027-12-31"}))
        assert {r.status_code for r in responses} <= {201, 409}, [body_of(r) for r in responses]
        dispensed = [r for i, r in enumerate(responses) if i % 2 == 0 and r.status_code == 201]
        assert len(dispensed) <= 1
        with runtime_of(app).session_factory() as s:
            active = s.scalar(select(func.count()).select_from(Authorization)
                              .where(Authorization.prescription_id == rx_id, Authorization.status == "active"))
            dispenses = s.scalar(select(func.count()).select_from(Dispense).where(Dispense.prescription_id == rx_id))
        assert dispenses == len(dispensed) and active == (0 if dispenses else 1), (n, active, dispenses)
