"""Counts the requests the fuzzing sends, and reports the total after the run."""
from __future__ import annotations

from collections import Counter

SENT: Counter = Counter()


def pytest_terminal_summary(terminalreporter):
    if SENT:
        terminalreporter.write_line(
            f"API fuzzing: {SENT['operation']:,} generated requests over every operation, "
            f"{SENT['stateful']:,} more in stateful scenarios, "
            f"{SENT['outside']:,} as an outside fuzzer (admin token, coverage and stateful phases).")
