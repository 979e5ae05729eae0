"""The invariants of HL7's StructureDefinitions (fixtures/fhir-r4/StructureDefinition-*.json),
evaluated with fhirpathpy on PharmSafe's own resources: a model validates shapes, these say what
FHIR forbids across elements (mdd-1, dom-3, ext-1, ele-1, …)."""
from __future__ import annotations

import functools
import json

from fhirpathpy import evaluate
from fhirpathpy.models import models

from tests.fhir.conftest import FIXTURES

R4 = models["r4"]


@functools.cache
def constraints(resource_type: str) -> tuple[tuple[str, str, str], ...]:
    """(element path, key, expression) of every error-severity invariant of the type."""
    definition = json.loads((FIXTURES / f"StructureDefinition-{resource_type}.json").read_text())
    return tuple((element["path"], c["key"], c["expression"]) for element in definition["snapshot"]["element"]
                 for c in element.get("constraint", []) if c.get("severity") == "error" and c.get("expression"))


def _references(value) -> set[str]:
    if isinstance(value, dict):
        return {v for k, v in value.items() if k == "reference" and isinstance(v, str)} | {
            r for v in value.values() for r in _references(v)}
    if isinstance(value, list):
        return {r for v in value for r in _references(v)}
    return set()


def _dom_3(resource: dict) -> bool:
    """dom-3, every contained resource is referenced from elsewhere in the resource ("#id"). Its
    FHIRPath applies `as` to a collection, which fhirpathpy (strict FHIRPath 2.0) refuses; this is
    the same rule for references, the only way PharmSafe points at what it contains."""
    contained = resource.get("contained") or []
    rest = {k: v for k, v in resource.items() if k != "contained"}
    referenced = _references(rest) | _references(contained)
    return all(f"#{c.get('id')}" in referenced for c in contained)


def _ele_1(value) -> bool:
    """ele-1, every element has a value or children: no empty object, list, string or null
    anywhere. Its FHIRPath needs hasValue(), which fhirpathpy does not implement."""
    if isinstance(value, dict):
        return bool(value) and all(_ele_1(v) for v in value.values())
    if isinstance(value, list):
        return bool(value) and all(_ele_1(v) for v in value)
    return value is not None and value != ""


# Invariants fhirpathpy cannot evaluate as written, checked by their Python equivalent over the
# whole resource (once, whatever the number of elements they are declared on).
EQUIVALENTS = {"dom-3": _dom_3, "ele-1": _ele_1}


def check(resource: dict) -> tuple[list[str], int]:
    """The violated invariants (``key at path``) and how many were evaluated on some node."""
    violated, evaluated = [], 0
    for key, rule in EQUIVALENTS.items():
        evaluated += 1
        if not rule(resource):
            violated.append(key)
    for path, key, expression in constraints(resource["resourceType"]):
        if key in EQUIVALENTS:
            continue
        nodes = [resource] if "." not in path else evaluate(resource, path, {}, R4)
        for node in nodes:
            if not isinstance(node, dict):
                continue
            result = evaluate(node, expression, {"resource": resource}, R4)
            evaluated += 1
            if result == [False]:
                violated.append(f"{key} at {path}")
    return violated, evaluated


def has_constraints(resource_type: str) -> bool:
    return (FIXTURES / f"StructureDefinition-{resource_type}.json").exists()
