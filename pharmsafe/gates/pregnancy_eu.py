"""The EU PPP pregnancy-test rule (rulebook §2): a negative medically supervised test collected
0..3 days before ``written_on`` (SmPC wording, unconfirmed), one test for every dispense. The 7-day
dispensing window runs from ``written_on`` and belongs to the prescription gate, so this gate sets no
"current until" of its own. After a cleared positive only a test collected on a later day counts
(the caller filters them).
"""
from __future__ import annotations

from pharmsafe.gates.context import Context
from pharmsafe.gates.dates import days_before
from pharmsafe.gates.pregnancy_evidence import GATE, Lock, Tests, blocker, not_counted, order
from pharmsafe.gates.results import GateResult
from pharmsafe.gates.verdict import conclude, fail, latest, one_or_many, passed


def judge_from_written_on(ctx: Context, tests: Tests, lock: Lock) -> GateResult:
    policy, today = ctx.policy, ctx.today
    if policy.test_before_written_max_days is None:
        raise ValueError(f"policy {policy.name}: test_before_written_max_days is required "
                         "when the window runs from written_on")
    written = ctx.facts.prescription.written_on
    earliest = days_before(written, policy.test_before_written_max_days)
    counting = [t for t in tests.negatives if not_counted(ctx, t, first=True) is None]
    qualifying = latest((t for t in counting if earliest <= t.specimen_collected_on <= written), order)
    wanted = (f"the negative medically supervised pregnancy test collected between {earliest.isoformat()} and "
              f"{written.isoformat()}, or have the prescriber write a new prescription within "
              f"{policy.test_before_written_max_days} days after a new negative test")
    if qualifying is None:
        newest_negative = latest(tests.negatives, order)
        blockers = tests.unclear_since(newest_negative.specimen_collected_on if newest_negative else None)
        problems = [blocker(t, today) for t in blockers]
        cited = [t.id for t in blockers]
        if counting:
            test = latest(counting, order)
            cited.append(test.id)
            problems.append(fail(
                "PREGNANCY_TEST_OUTSIDE_WINDOW",
                f"The latest medically supervised negative test (collected "
                f"{test.specimen_collected_on.isoformat()}) was not collected 0-{policy.test_before_written_max_days} "
                f"days before the prescription date {written.isoformat()}.{tests.future_note()}",
                f"Record {wanted}.",
            ))
        else:
            problems.append(fail(
                "PREGNANCY_TEST_MISSING",
                f"No negative medically supervised pregnancy test on record.{tests.future_note()}",
                f"Record {wanted}.",
            ))
        evidence = {"pregnancy_test": one_or_many(cited)} if cited else {}
        return conclude(GATE, problems, evidence={**evidence, **lock.evidence()})
    collected = qualifying.specimen_collected_on
    blockers = tests.unclear_since(collected)
    evidence = {
        "pregnancy_test": one_or_many([qualifying.id] + [t.id for t in blockers]),
        "collected_on": collected.isoformat(),
        "written_on": written.isoformat(),
        **lock.evidence(),
    }
    ok = passed("PREGNANCY_TEST_CURRENT",
                f"Negative medically supervised test collected {collected.isoformat()}, "
                f"{(written - collected).days} days before the prescription date.")
    return conclude(GATE, [blocker(t, today) for t in blockers], ok, evidence=evidence)
