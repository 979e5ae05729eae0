"""The rems_authorization gate (rulebook §2, "RMA")."""
import pytest

from pharmsafe.gates import Status

from .builders import EU, IPLEDGE_2021, IPLEDGE_2026, NOW, PARIS, TODAY, at, eu_facts, make_facts, plus, rma, run

PASS, FAIL, NA = Status.PASS, Status.FAIL, Status.NOT_APPLICABLE
GATE = "rems_authorization"


@pytest.mark.parametrize("policy", [IPLEDGE_2026, IPLEDGE_2021])
def test_at_evaluation_it_is_recorded_at_dispense(policy):
    result = run(GATE, make_facts(rma=rma()), policy=policy)
    assert (result.status, result.code, result.message) == (NA, "RMA_RECORDED_AT_DISPENSE", "Recorded at dispense.")


@pytest.mark.parametrize(("given", "now", "status", "code"), [
    (None, NOW, FAIL, "RMA_MISSING"),
    (rma(None), NOW, FAIL, "RMA_MISSING"),
    (rma(""), NOW, FAIL, "RMA_MISSING"),
    (rma("   "), NOW, FAIL, "RMA_MISSING"),
    (rma("RMA-1", already_used=True), NOW, FAIL, "RMA_ALREADY_USED"),
    (rma("RMA-1"), NOW, FAIL, "RMA_MISSING"),  # the do-not-dispense-after date is required too
    (rma("RMA-1", do_not_dispense_after=plus(TODAY, 3)), NOW, PASS, "RMA_PRESENT"),
    (rma("RMA-1", do_not_dispense_after=TODAY), at(TODAY, "23:59:59"), PASS, "RMA_PRESENT"),
    (rma("RMA-1", do_not_dispense_after=TODAY), at(plus(TODAY, 1), "00:00:00"), FAIL, "RMA_DEADLINE_PASSED"),
    (rma("RMA-1", do_not_dispense_after=plus(TODAY, -1)), NOW, FAIL, "RMA_DEADLINE_PASSED"),
])
def test_at_dispense(given, now, status, code):
    result = run(GATE, make_facts(stage="dispense", dispense_quantity=30, rma=given), now=now)
    assert (result.status, result.code) == (status, code)
    if status is FAIL:
        assert "RMA" in result.unblock


def test_deadline_bounds_current_until():
    facts = make_facts(stage="dispense", rma=rma("RMA-7", do_not_dispense_after=TODAY))
    until = run(GATE, facts).current_until
    assert (until.instant.isoformat(), until.evidence) == ("2026-12-11T04:59:59+00:00", "rma:RMA-7")
    assert run(GATE, make_facts(stage="dispense", rma=rma("RMA-7"))).current_until is None


@pytest.mark.parametrize(("given", "expected"), [
    (rma(None), ["RMA_MISSING", "RMA_MISSING"]),
    (rma("RMA-1", already_used=True), ["RMA_ALREADY_USED", "RMA_MISSING"]),
    (rma("RMA-1", already_used=True, do_not_dispense_after=plus(TODAY, -1)), ["RMA_ALREADY_USED", "RMA_DEADLINE_PASSED"]),
    (rma(None, do_not_dispense_after=plus(TODAY, -1)), ["RMA_MISSING", "RMA_DEADLINE_PASSED"]),
])
def test_findings_in_the_rulebooks_order(given, expected):
    """Number missing, number already used, date missing, date passed; the gate's code is the first."""
    result = run(GATE, make_facts(stage="dispense", dispense_quantity=30, rma=given))
    assert [f.code for f in result.findings] == expected
    assert result.code == expected[0]


@pytest.mark.parametrize("stage", ["evaluation", "dispense"])
def test_eu_has_no_rma(stage):
    result = run(GATE, eu_facts(stage=stage, rma=None), policy=EU, now=at(TODAY, zone=PARIS))
    assert (result.status, result.code) == (NA, "RMA_NOT_REQUIRED")
