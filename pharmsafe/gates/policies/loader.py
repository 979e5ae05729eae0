"""Policy versions as data files: one JSON object per version, checked against the Policy shape.

A file ``<name>.json`` in this folder is one version. Its keys are the fields of
``pharmsafe.gates.policy.Policy`` (``labs`` is an object with the fields of ``LabLimits``), plus an
optional ``notes`` string for people. Dates are ``YYYY-MM-DD`` strings, decimals are strings or
JSON numbers, ``null`` stands for "none". The fields without a default in Policy are required; the
shipped files state every parameter anyway, so that no default in code decides a version.

Anything else stops loading with one sentence naming the file and the parameter: an unknown
parameter, a missing required one, one given twice, a wrong type or value, a bad date. Stdlib only.
"""
from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from importlib import resources
from itertools import pairwise
from os import PathLike
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pharmsafe.gates.policy import CGP_WINDOW_FROM, CONTRACEPTION_RULES, FIRST_COURSE_TESTS, Policy
from pharmsafe.gates.units import LAB_TESTS

__all__ = ["DATA_PACKAGE", "NOTES_KEY", "PolicyDataError", "SUFFIX", "check_policy_set", "load_policies",
           "load_policy_file", "parse_policy", "policy_parameters"]

DATA_PACKAGE = "pharmsafe.gates.policies"
SUFFIX = ".json"
# A key for people (provenance, what is unconfirmed); not a parameter.
NOTES_KEY = "notes"

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*")
# Parameters whose value must be one of a few (for a tuple: each of its items).
_CHOICES: dict[str, tuple[Any, ...]] = {
    "cgp_window_from": CGP_WINDOW_FROM,
    "contraception_rule": CONTRACEPTION_RULES,
    "first_course_tests": FIRST_COURSE_TESTS,
    "labs.required_tests": LAB_TESTS,
}
_NAMED = ("name", "program")


class PolicyDataError(ValueError):
    """A policy data file cannot be used; the message is one sentence naming the file and, where
    there is one, the parameter."""

    def __init__(self, message: str, *, file: str, parameter: str | None = None):
        super().__init__(message)
        self.file = file
        self.parameter = parameter


class _Bad(Exception):
    """Inside the loader: the value of one parameter is wrong; ``expected`` says what it must be."""

    def __init__(self, expected: str):
        super().__init__(expected)
        self.expected = expected


def _show(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _no_duplicates(file: str):
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise PolicyDataError(f"Policy data file {file}: parameter {key!r} is given twice.",
                                      file=file, parameter=key)
            seen[key] = value
        return seen

    return hook


# --- one value against its declared type ------------------------------------------------------------

def _as_date(value: Any) -> date:
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _Bad("a date written YYYY-MM-DD")


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Bad("a whole number of 0 or more")
    return value


def _as_decimal(value: Any) -> Decimal:
    """A JSON number (read as Decimal, never through float) or a string holding one."""
    number = None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, (int, str)) and not isinstance(value, bool):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            number = None
    if number is None or not number.is_finite() or number < 0:
        raise _Bad("a decimal number of 0 or more (a JSON number or a string holding one)")
    return number


def _as_str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise _Bad("a non-empty string without surrounding spaces")
    return value


def _convert(value: Any, hint: Any, path: str, file: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if type(None) in args:
            if value is None:
                return None
            (inner,) = [a for a in args if a is not type(None)]
            try:
                return _convert(value, inner, path, file)
            except _Bad as bad:
                raise _Bad(f"{bad.expected}, or null") from None
        raise TypeError(f"no reader for {hint!r}")
    if origin is tuple:
        item_hint = typing.get_args(hint)[0]
        if not isinstance(value, list) or not value:
            raise _Bad("a non-empty list")
        items = tuple(_convert(item, item_hint, path, file) for item in value)
        if len(set(items)) != len(items):
            raise _Bad("a list without repeats")
        return items
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise _Bad("an object")
        return _build(hint, value, file, prefix=f"{path}.")
    if hint is bool:
        if not isinstance(value, bool):
            raise _Bad("true or false")
        return value
    if hint is int:
        return _as_int(value)
    if hint is Decimal:
        return _as_decimal(value)
    if hint is date:
        return _as_date(value)
    if hint is str:
        return _as_str(value)
    raise TypeError(f"no reader for {hint!r}")


def _check_choice(path: str, value: Any) -> None:
    allowed = _CHOICES.get(path)
    if allowed is None:
        return
    for item in value if isinstance(value, tuple) else (value,):
        if item not in allowed:
            choices = ", ".join(map(_show, allowed))
            raise _Bad(f"a list drawn from {choices}" if isinstance(value, tuple) else f"one of {choices}")


def _build(cls: type, data: dict[str, Any], file: str, *, prefix: str = "") -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields and not (not prefix and key == NOTES_KEY):
            raise PolicyDataError(f"Policy data file {file}: unknown parameter {prefix + key!r}.",
                                  file=file, parameter=prefix + key)
    values: dict[str, Any] = {}
    for name, f in fields.items():
        path = prefix + name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise PolicyDataError(f"Policy data file {file}: required parameter {path!r} is missing.",
                                      file=file, parameter=path)
            continue
        raw = data[name]
        try:
            value = _convert(raw, hints[name], path, file)
            _check_choice(path, value)
        except _Bad as bad:
            raise PolicyDataError(f"Policy data file {file}: parameter {path!r} must be {bad.expected}, "
                                  f"not {_show(raw)}.", file=file, parameter=path) from None
        values[name] = value
    return cls(**values)


# --- one file ---------------------------------------------------------------------------------------

def parse_policy(text: str, file: str) -> Policy:
    """The Policy that the JSON ``text`` of data file ``file`` (a name such as ``ipledge-2026.json``)
    describes. Raises PolicyDataError."""
    try:
        data = json.loads(text, parse_float=Decimal, object_pairs_hook=_no_duplicates(file))
    except json.JSONDecodeError as exc:
        raise PolicyDataError(f"Policy data file {file} is not valid JSON ({exc.msg} at line {exc.lineno}, "
                              f"column {exc.colno}).", file=file) from None
    if not isinstance(data, dict):
        raise PolicyDataError(f"Policy data file {file} must hold one JSON object, not {type(data).__name__}.",
                              file=file)
    notes = data.get(NOTES_KEY)
    if NOTES_KEY in data and not isinstance(notes, str):
        raise PolicyDataError(f"Policy data file {file}: {NOTES_KEY!r} must be a string, not {_show(notes)}.",
                              file=file, parameter=NOTES_KEY)
    policy = _build(Policy, data, file)
    for key in _NAMED:
        if not _NAME.fullmatch(getattr(policy, key)):
            raise PolicyDataError(f"Policy data file {file}: parameter {key!r} must be lower-case letters, digits, "
                                  f"dots and hyphens, not {_show(getattr(policy, key))}.", file=file, parameter=key)
    stem = file.rsplit("/", 1)[-1]
    stem = stem[:-len(SUFFIX)] if stem.endswith(SUFFIX) else stem
    if policy.name != stem:
        raise PolicyDataError(f"Policy data file {file}: parameter 'name' must be {stem!r}, the file's own name, "
                              f"not {_show(policy.name)}.", file=file, parameter="name")
    if policy.time_zone is not None:
        try:
            ZoneInfo(policy.time_zone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise PolicyDataError(f"Policy data file {file}: parameter 'time_zone' must be an IANA time zone such as "
                                  f"America/New_York, or null, not {_show(policy.time_zone)}.",
                                  file=file, parameter="time_zone") from None
    return policy


def load_policy_file(path: str | PathLike[str] | resources.abc.Traversable) -> Policy:
    """One data file, read from disk (or from a package's resources)."""
    source = Path(path) if isinstance(path, (str, PathLike)) else path
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyDataError(f"Policy data file {source.name} cannot be read ({exc.__class__.__name__}).",
                              file=source.name) from None
    return parse_policy(text, source.name)


# --- a folder of them -------------------------------------------------------------------------------

def check_policy_set(policies: Iterable[Policy], files: Mapping[str, str] | None = None) -> None:
    """What must hold across the versions of one program: no two take effect on the same day, and
    all read their dates in the same zone (a zone, or every one the pharmacy's)."""
    files = files or {}
    by_program: dict[str, list[Policy]] = {}
    for policy in policies:
        by_program.setdefault(policy.program, []).append(policy)
    for program, versions in sorted(by_program.items()):
        versions.sort(key=lambda p: (p.effective_from, p.name))
        for earlier, later in pairwise(versions):
            if earlier.effective_from == later.effective_from:
                file = files.get(later.name, later.name + SUFFIX)
                raise PolicyDataError(
                    f"Policy data file {file}: parameter 'effective_from' is {later.effective_from.isoformat()}, "
                    f"the day {earlier.name} of program {program!r} takes effect too.",
                    file=file, parameter="effective_from")
        zones = {p.time_zone for p in versions}
        if len(zones) > 1:
            odd = next(p for p in versions if p.time_zone != versions[0].time_zone)
            file = files.get(odd.name, odd.name + SUFFIX)
            raise PolicyDataError(
                f"Policy data file {file}: parameter 'time_zone' is {_show(odd.time_zone)}, but "
                f"{versions[0].name} of the same program {program!r} has {_show(versions[0].time_zone)}.",
                file=file, parameter="time_zone")


def load_policies(folder: str | PathLike[str] | resources.abc.Traversable | None = None) -> dict[str, Policy]:
    """Every ``*.json`` version in ``folder`` (default: the versions shipped in this package), by
    name. Raises PolicyDataError for the first file (in name order) that cannot be used."""
    if folder is None:
        root: Any = resources.files(DATA_PACKAGE)
        where = DATA_PACKAGE
    else:
        root = Path(folder) if isinstance(folder, (str, PathLike)) else folder
        where = str(folder)
    entries = sorted((e for e in root.iterdir() if e.name.endswith(SUFFIX) and e.is_file()), key=lambda e: e.name)
    if not entries:
        raise PolicyDataError(f"Policy data folder {where} holds no {SUFFIX} file.", file=where)
    policies = {}
    files = {}
    for entry in entries:
        policy = load_policy_file(entry)
        policies[policy.name] = policy
        files[policy.name] = entry.name
    check_policy_set(policies.values(), files)
    return policies


def policy_parameters(policy: Policy) -> list[tuple[str, Any]]:
    """Every parameter of ``policy`` as (name, value) in the data files' order; the lab limits as
    ``labs.<name>``."""
    rows: list[tuple[str, Any]] = []
    for f in dataclasses.fields(policy):
        value = getattr(policy, f.name)
        if dataclasses.is_dataclass(value):
            rows.extend((f"{f.name}.{g.name}", getattr(value, g.name)) for g in dataclasses.fields(value))
        else:
            rows.append((f.name, value))
    return rows

