"""Migration 0017 fills decisions.failing_codes for the decisions recorded before it, from their
stored gates, on both engines; a decision recorded since carries its codes itself."""
from __future__ import annotations

import importlib

from sqlalchemy import select, update

from pharmsafe.models import Decision
from pharmsafe.runtime import runtime_of
from tests.web.seed import Seed

migration = importlib.import_module("pharmsafe.migrations.versions.0017_failing_codes")


def test_the_failing_codes_are_kept_and_filled_from_the_stored_gates(app):
    seed = Seed(app)
    pharmacy, prescriber = seed.pharmacy(), seed.prescriber()
    patient = seed.patient(prescriber)
    seed.ready_evidence(patient, test_day=-8, triglycerides="900")  # two gates fail
    blocked = seed.prescription(prescriber, patient, pharmacy)
    assert seed.evaluate(blocked) is None
    other = seed.patient(prescriber)
    seed.ready_evidence(other)
    assert seed.evaluate(seed.prescription(prescriber, other, pharmacy)) is not None
    ext = runtime_of(app)
    with ext.session_factory() as s:
        recorded = dict(s.execute(select(Decision.id, Decision.failing_codes)).all())
        gates = dict(s.execute(select(Decision.id, Decision.gates)).all())
    expected = {i: ",".join(g["code"] for g in gates[i] if g["status"] == "fail") or None for i in gates}
    assert recorded == expected and sorted(v is None for v in recorded.values()) == [False, True]
    assert len(next(v for v in recorded.values() if v).split(",")) == 2
    with ext.engine.begin() as conn:  # as a database migrated before 0017 would hold them
        conn.execute(update(Decision).values(failing_codes=None))
        migration.backfill(conn)
    with ext.session_factory() as s:
        assert dict(s.execute(select(Decision.id, Decision.failing_codes)).all()) == expected
