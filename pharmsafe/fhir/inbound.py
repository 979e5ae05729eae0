"""Reading a FHIR resource from the request (INTEROP.md §1, §5): FHIR JSON only, numbers as
Decimal, validated with fhir.resources' R4B models. An unknown element is 400 `structure`, a missing
one 422 `required`, a bad value 422 `value`, each issue with its FHIRPath expression."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pydantic
from flask import request

from pharmsafe.errors import MalformedBody, UnsupportedMedia, ValidationFailed
from pharmsafe.http.jsonbody import TOO_DEEP, json_text, nested_too_deep

FHIR_MEDIA = ("application/fhir+json", "application/json")


class FhirInvalid(ValidationFailed):
    """422 with an issue code per expression (`required`, `value`, `code-invalid`, ...)."""

    def __init__(self, fields: dict[str, list[str]], issue_codes: dict[str, str],
                 message: str = "The resource has invalid elements."):
        super().__init__(fields, message)
        self.details = {"fhir_issue_codes": issue_codes}


class FhirStructure(MalformedBody):
    """400: not a FHIR resource of the expected type, or an element the model does not know."""

    def __init__(self, problem: str, fields: dict[str, list[str]] | None = None):
        super().__init__(problem)
        if fields:
            self.fields = fields


def refuse_other_media() -> None:
    """A body, when there is one, is FHIR JSON: other media are 415."""
    if (request.content_length or request.data) and request.mimetype not in FHIR_MEDIA:
        raise UnsupportedMedia("Send FHIR JSON: Content-Type application/fhir+json or application/json.")


def expression(resource_type: str, loc: tuple) -> str:
    out = resource_type
    for part in loc:
        if part == "root":  # the models' own wrapper around a contained resource, not an element
            continue
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def read_resource(model: type[pydantic.BaseModel], resource_type: str) -> dict[str, Any]:
    """The body as a dict (numbers as Decimal), once the R4B model has accepted it."""
    refuse_other_media()
    text = json_text(request.get_data(cache=True))
    if nested_too_deep(text):
        raise FhirStructure(TOO_DEEP)
    try:
        data = json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise FhirStructure(f"{exc}.") from None
    if not isinstance(data, dict) or data.get("resourceType") != resource_type:
        raise FhirStructure(f"The body must be a FHIR {resource_type} resource.")
    try:
        model.model_validate(data)
    except pydantic.ValidationError as exc:
        _refuse(exc, resource_type)
    except (KeyError, TypeError, ValueError):  # a nested resource of no type the models know
        raise FhirStructure("The body holds a resource of a type FHIR R4 does not define.") from None
    return data


def _refuse(exc: pydantic.ValidationError, resource_type: str):
    errors = exc.errors()
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    if unknown:
        raise FhirStructure("The resource has elements FHIR R4 does not define.",
                            {expression(resource_type, e["loc"]): ["Not an element of this resource."]
                             for e in unknown})
    fields: dict[str, list[str]] = {}
    codes: dict[str, str] = {}
    for e in errors:
        where = expression(resource_type, e["loc"])
        fields.setdefault(where, []).append(str(e["msg"]))
        codes[where] = "required" if e["type"].endswith("missing") else "value"
    raise FhirInvalid(fields, codes)
