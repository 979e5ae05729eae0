"""Migration 0005 normalises the RMA numbers already stored, and stops, naming both dispenses, when
normalising reveals two dispenses of one RMA (it never merges them)."""
from __future__ import annotations

import sqlite3

import pytest

from pharmsafe.migrations_state import upgrade


def _dispense(conn, id_, rma):
    # Foreign keys are off on a plain sqlite3 connection: only the dispenses table matters here.
    conn.execute(
        "INSERT INTO dispenses (id, authorization_id, prescription_id, patient_id, pharmacy_id, decision_id, quantity, "
        "days_supply, dispensed_at, dispensed_on, dispensed_by, rma_number, rma_do_not_dispense_after, "
        "acknowledged_warnings) VALUES (?, ?, ?, 1, 1, ?, 60, 30, '2026-11-01 15:00:00', '2026-11-01', 'user:1', ?, "
        "NULL, '[]')", (id_, id_, id_, id_, rma))


def _at_0004_with(tmp_path, numbers):
    path = tmp_path / "old.db"
    upgrade(f"sqlite:///{path}", "0004")
    with sqlite3.connect(path) as conn:
        for i, number in enumerate(numbers, start=1):
            _dispense(conn, i, number)
    return path


def test_stored_rma_numbers_are_normalised(tmp_path):
    path = _at_0004_with(tmp_path, ["r-9 ", "\uff32-10", "R-11", None])
    # To 0005 itself: these rows name no authorization or prescription, which a later migration that
    # rebuilds the table (0012) rightly refuses to copy.
    upgrade(f"sqlite:///{path}", "0005")
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT id, rma_number FROM dispenses ORDER BY id").fetchall()
    assert rows == [(1, "R-9"), (2, "R-10"), (3, "R-11"), (4, None)]


def test_a_collision_stops_the_migration_naming_both_dispenses(tmp_path):
    path = _at_0004_with(tmp_path, ["R-9", "x", "r-9 "])
    with pytest.raises(Exception, match=r"Dispenses 1 and 3 carry the same RMA number") as caught:
        upgrade(f"sqlite:///{path}")
    assert "never merges" in str(caught.value)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0004",)
        assert conn.execute("SELECT rma_number FROM dispenses ORDER BY id").fetchall() == [("R-9",), ("x",), ("r-9 ",)]
