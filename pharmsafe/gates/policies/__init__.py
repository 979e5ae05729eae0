"""The built-in programs as data (rulebook §2, policy table).

A regulator's change is a new dated entry here, never a code edit (rulebook §6). The date picks the
version of the pharmacy's program in force; PHARMSAFE_POLICY may pin one by name.
"""
from __future__ import annotations

from datetime import date, datetime

from pharmsafe.gates.dates import policy_zone
from pharmsafe.gates.policy import Policy

__all__ = ["IPLEDGE_2021", "IPLEDGE_2026", "EU_PPP_2018", "POLICIES", "NoPolicyInForce", "select_policy",
           "policy_zone"]

IPLEDGE_2026 = Policy(
    name="ipledge-2026",
    version="2026-08-08",
    program="ipledge",
    # 180 days after the 2026-02-09 REMS supplement approval; the date is unconfirmed.
    effective_from=date(2026, 8, 8),
    time_zone="America/New_York",
    # iPLEDGE removed the 30-day window for patients who cannot get pregnant and named none;
    # the pharmacy keeps one (fail-safe).
    ncgp_window_days=30,
    ncgp_counseling_once_within_days=30,
)

IPLEDGE_2021 = Policy(
    name="ipledge-2021",
    version="2021-12-13",
    program="ipledge",
    effective_from=date(2021, 12, 13),
    time_zone="America/New_York",
    ncgp_window_days=30,
    first_course_requires_clia=True,
    later_requires_clia=True,
    home_tests_allowed=False,
    missed_window_lockout_days=19,
    counseling_current_days=30,
    ncgp_counseling_once_within_days=None,
)

EU_PPP_2018 = Policy(
    name="eu-ppp-2018",
    version="2018-03-23",
    program="eu-ppp",
    effective_from=date(2018, 3, 23),
    time_zone=None,
    cgp_window_from="written_on",
    cgp_window_days=7,
    ncgp_window_days=7,
    # SmPC wording, unconfirmed: a medically supervised test 0-3 days before prescribing.
    test_before_written_max_days=3,
    first_course_tests=1,
    first_course_requires_clia=False,
    later_requires_clia=False,
    home_tests_allowed=False,
    missed_window_lockout_days=None,
    contraception_rule="one_primary",
    ncgp_counseling_once_within_days=None,
    patient_requires_rems_id=False,
    pharmacy_requires_activation=False,
    prescriber_requires_certification=False,
    prescriber_requires_npi=False,
    require_rma=False,
)

POLICIES: dict[str, Policy] = {p.name: p for p in (IPLEDGE_2026, IPLEDGE_2021, EU_PPP_2018)}


class NoPolicyInForce(ValueError):
    """No policy of the program is in force on the date, or a pinned name is unknown."""


def select_policy(program: str, on: date, pinned: str | None = None) -> Policy:
    """The latest version of ``program`` whose effective_from is on or before ``on``; a pinned
    policy name wins regardless of date. ``on`` is a calendar date (the caller's today)."""
    if pinned:
        try:
            return POLICIES[pinned]
        except KeyError:
            raise NoPolicyInForce(f"unknown policy {pinned!r}; known: {', '.join(sorted(POLICIES))}") from None
    if isinstance(on, datetime) or not isinstance(on, date):
        raise TypeError("select_policy needs a calendar date, not an instant")
    in_force = [p for p in POLICIES.values() if p.program == program and p.effective_from <= on]
    if not in_force:
        raise NoPolicyInForce(f"no {program!r} policy is in force on {on.isoformat()}")
    return max(in_force, key=lambda p: p.effective_from)
