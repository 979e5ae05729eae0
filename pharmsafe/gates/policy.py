"""A policy: every window, limit and switch of one program version, as data with a name.

The versions themselves are data files in ``pharmsafe/gates/policies/`` (one JSON file per
version); these dataclasses are their shape, and the loader there checks every file against it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

# Where the window of a patient who can get pregnant starts (Policy.cgp_window_from).
CGP_WINDOW_FROM = ("qualifying_test", "written_on")
# How contraception is judged (Policy.contraception_rule).
CONTRACEPTION_RULES = ("two_methods_one_primary", "independent_or_hormonal_with_barrier")
# How many negative tests the first dispense of a course needs (Policy.first_course_tests).
FIRST_COURSE_TESTS = (1, 2)


@dataclass(frozen=True)
class LabLimits:
    required_tests: tuple[str, ...] = ("ALT", "AST", "TRIGLYCERIDES", "TOTAL_CHOLESTEROL")
    current_days: int = 30
    triglycerides_warn_mg_dl: Decimal = Decimal("500")
    triglycerides_fail_mg_dl: Decimal = Decimal("800")
    transaminase_warn_x_uln: Decimal = Decimal("2")
    transaminase_fail_x_uln: Decimal = Decimal("3")
    transaminase_default_uln: Decimal = Decimal("40")
    total_cholesterol_warn_mg_dl: Decimal = Decimal("300")


@dataclass(frozen=True)
class Policy:
    name: str  # "ipledge-2026"
    version: str  # "2026-08-08"
    program: str  # "ipledge" | "eu-ppp"
    effective_from: date
    # None: the pharmacy's own time zone (EU PPP).
    time_zone: str | None
    max_days_supply: int = 30
    refills_allowed: int = 0
    # Window for a patient who can get pregnant.
    #   "qualifying_test": N days from the qualifying test's collection date (iPLEDGE)
    #   "written_on": N days from written_on (EU PPP)
    cgp_window_from: str = "qualifying_test"
    cgp_window_days: int = 7
    # Window for a patient who cannot get pregnant, from written_on.
    ncgp_window_days: int = 30
    # Qualifying test.
    test_current_days: int = 7
    # EU PPP: the qualifying test must be collected 0..N days before written_on (None: iPLEDGE rule).
    test_before_written_max_days: int | None = None
    # First dispense of a course.
    first_course_tests: int = 2  # 2: screening + confirmatory; 1: one medically supervised test
    screening_to_confirmatory_min_days: int = 19
    first_course_requires_clia: bool = False  # ipledge-2021: confirmatory carries a CLIA number
    later_requires_clia: bool = False  # ipledge-2021: later tests carry a CLIA number
    home_tests_allowed: bool = True  # a home test counts for later dispenses if the prescriber allowed
    missed_window_lockout_days: int | None = None  # ipledge-2021: 19 (first dispense only)
    new_course_gap_days: int = 45
    # Contraception.
    contraception_current_days: int = 30
    # "two_methods_one_primary" (iPLEDGE) or "independent_or_hormonal_with_barrier" (EU PPP).
    contraception_rule: str = "two_methods_one_primary"
    comprehension_current_days: int = 30
    counseling_current_days: int = 30
    # ipledge-2026: a patient who cannot get pregnant needs one counseling attestation dated on or
    # after enrolled_on minus this many days, with no expiry; None: counseling is current_days for all.
    ncgp_counseling_once_within_days: int | None = None
    counseling_applies_to_ncgp: bool = True
    comprehension_applies_to_ncgp: bool = False
    patient_requires_rems_id: bool = True
    pharmacy_requires_activation: bool = True
    prescriber_requires_certification: bool = True
    prescriber_requires_npi: bool = True
    require_rma: bool = True
    early_refill_days: int = 7
    # Pharmacy parameter: a prescription is current for this many days from written_on, for both
    # categories; it caps every deadline (rulebook §2 "Prescription currency").
    prescription_current_days: int = 30
    labs: LabLimits = field(default_factory=LabLimits)
