"""The built-in program versions, as data (rulebook §2, policy table), and selection by date.

Each version is one data file in this folder (``ipledge-2026.json``: see ``loader`` for the format).
A regulator's change is a new file, never a code edit (rulebook §6). The date picks the version of
the pharmacy's program in force; PHARMSAFE_POLICY may pin one by name; PHARMSAFE_POLICY_EFFECTIVE may
move a version's effective date (``with_effective_dates``), never its ``version``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime
from itertools import pairwise

from pharmsafe.gates.dates import policy_zone
from pharmsafe.gates.policies.loader import (
    PolicyDataError,
    load_policies,
    load_policy_file,
    parse_policy,
    policy_parameters,
)
from pharmsafe.gates.policy import Policy

__all__ = ["IPLEDGE_2021", "IPLEDGE_2023", "IPLEDGE_2026", "EU_PPP_2018", "POLICIES", "EffectiveDateError",
           "NoPolicyInForce", "PolicyDataError", "load_policies", "load_policy_file", "parse_policy",
           "policy_parameters", "policy_zone", "program_time_zone", "select_policy", "with_effective_dates"]

# Every shipped version by name, with its shipped effective date.
POLICIES: dict[str, Policy] = load_policies()

IPLEDGE_2026 = POLICIES["ipledge-2026"]
IPLEDGE_2023 = POLICIES["ipledge-2023"]
IPLEDGE_2021 = POLICIES["ipledge-2021"]
EU_PPP_2018 = POLICIES["eu-ppp-2018"]


class NoPolicyInForce(ValueError):
    """No policy of the program is in force on the date, or a pinned name is unknown."""


class EffectiveDateError(ValueError):
    """An effective-date override names no known version, or would reorder a program's versions."""


def select_policy(program: str, on: date, pinned: str | None = None, *,
                  policies: Mapping[str, Policy] | None = None) -> Policy:
    """The latest version of ``program`` whose effective_from is on or before ``on``; a pinned
    policy name wins regardless of date. ``on`` is a calendar date (the caller's today).
    ``policies`` is the set to choose from (default: the shipped versions with their shipped dates)."""
    policies = POLICIES if policies is None else policies
    if pinned:
        try:
            return policies[pinned]
        except KeyError:
            raise NoPolicyInForce(f"unknown policy {pinned!r}; known: {', '.join(sorted(policies))}") from None
    if isinstance(on, datetime) or not isinstance(on, date):
        raise TypeError("select_policy needs a calendar date, not an instant")
    in_force = [p for p in policies.values() if p.program == program and p.effective_from <= on]
    if not in_force:
        raise NoPolicyInForce(f"no {program!r} policy is in force on {on.isoformat()}")
    return max(in_force, key=lambda p: (p.effective_from, p.name))


def with_effective_dates(overrides: Mapping[str, date],
                         policies: Mapping[str, Policy] | None = None) -> dict[str, Policy]:
    """``policies`` (default: the shipped ones) with the effective dates in ``overrides`` (name ->
    date) applied; every other field, ``version`` included, stays. The versions of one program keep
    their order and take effect on distinct days: an override that breaks this is refused
    (EffectiveDateError), so that a version can never be skipped by accident."""
    base = POLICIES if policies is None else policies
    unknown = sorted(set(overrides) - set(base))
    if unknown:
        what = "is no known policy version" if len(unknown) == 1 else "are no known policy versions"
        raise EffectiveDateError(f"names {', '.join(map(repr, unknown))}, which {what} "
                                 f"(known: {', '.join(sorted(base))})")
    for name, day in overrides.items():
        if isinstance(day, datetime) or not isinstance(day, date):
            raise EffectiveDateError(f"gives {name} no calendar date ({day!r})")
    result = {name: replace(p, effective_from=overrides[name]) if name in overrides else p
              for name, p in base.items()}
    programs = sorted({p.program for p in base.values()})
    for program in programs:
        shipped_order = sorted((p for p in base.values() if p.program == program),
                               key=lambda p: (p.effective_from, p.name))
        for earlier, later in pairwise(shipped_order):
            a, b = result[earlier.name], result[later.name]
            if not a.effective_from < b.effective_from:
                raise EffectiveDateError(f"would have {b.name} take effect on {b.effective_from.isoformat()}, "
                                         f"which is not after {a.name} ({a.effective_from.isoformat()})")
    return result


def program_time_zone(program: str, policies: Mapping[str, Policy] | None = None) -> str | None:
    """The zone in which ``program`` reads its dates: the zone all its versions share, or None when
    they read them in the pharmacy's zone (EU PPP) or the program has no version. Every version of a
    program shares its zone rule (the loader checks the shipped ones); a set where they differ is
    refused with ValueError."""
    policies = POLICIES if policies is None else policies
    zones = {p.time_zone for p in policies.values() if p.program == program}
    if len(zones) > 1:
        raise ValueError(f"the versions of program {program!r} disagree on their time zone "
                         f"({', '.join(sorted(str(z) for z in zones))})")
    return next(iter(zones), None)
