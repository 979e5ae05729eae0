"""PharmSafe's pure rules core: facts in, a Decision out (DESIGN.md §1-2).

Stdlib only; never reads the clock (``now`` is an argument); no Flask, no SQLAlchemy. The rulebook
is shared/domain/isotretinoin-rules.md.
"""
from pharmsafe.gates.attestations import (
    CONTRACEPTION_METHODS,
    PRIMARY_METHODS,
    SECONDARY_METHODS,
    method_problem,
)
from pharmsafe.gates.dates import local_date, local_day_end, policy_zone, require_aware
from pharmsafe.gates.evaluation import GATES, evaluate
from pharmsafe.gates.facts import (
    AttestationFacts,
    DispenseFacts,
    Facts,
    LabResultFacts,
    PatientFacts,
    PharmacyFacts,
    PregnancyTestFacts,
    PrescriberFacts,
    PrescriptionFacts,
    RmaFacts,
)
from pharmsafe.gates.ndc import NdcProduct, is_isotretinoin, lookup_ndc
from pharmsafe.gates.npi import is_valid_npi
from pharmsafe.gates.policies import POLICIES, NoPolicyInForce, select_policy
from pharmsafe.gates.policy import LabLimits, Policy
from pharmsafe.gates.results import GATE_ORDER, CurrentUntil, Decision, Finding, GateResult, Status
from pharmsafe.gates.units import LAB_LOINC, LAB_TESTS, normalize_lab_test

__all__ = [
    "AttestationFacts", "CONTRACEPTION_METHODS", "CurrentUntil", "Decision", "DispenseFacts", "Facts", "Finding",
    "GATES", "GATE_ORDER", "GateResult", "LAB_LOINC", "LAB_TESTS", "LabLimits",
    "LabResultFacts", "NdcProduct", "NoPolicyInForce", "POLICIES", "PRIMARY_METHODS", "PatientFacts",
    "PharmacyFacts", "Policy", "PregnancyTestFacts", "PrescriberFacts", "PrescriptionFacts", "RmaFacts",
    "SECONDARY_METHODS", "Status", "evaluate", "is_isotretinoin", "is_valid_npi", "local_date",
    "local_day_end", "lookup_ndc", "method_problem", "normalize_lab_test", "policy_zone", "require_aware",
    "select_policy",
]
