"""OperationOutcome: how every failure under /fhir/R4 is answered (INTEROP.md §5). Plain dicts."""
from __future__ import annotations

from typing import Any

FHIR_JSON = "application/fhir+json"

# The HTTP status of a failure, as FHIR's issue type (IssueType), when nothing more precise is known.
ISSUE_CODES = {
    400: "structure",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    412: "multiple-matches",
    413: "too-long",
    415: "not-supported",
    422: "value",
    429: "throttled",
    500: "exception",
    503: "transient",
}


# API error codes (docs/api.md) a more precise issue type names, whatever their status.
ISSUE_CODES_BY_ERROR = {"duplicate": "duplicate", "not_supported": "not-supported", "business_rule": "business-rule",
                        "code_invalid": "code-invalid"}


def operation_outcome(status: int, code: str, message: str, *, base_url: str,
                      fields: dict[str, list[str]] | None = None,
                      issue_codes: dict[str, str] | None = None) -> dict[str, Any]:
    """One issue per problem: ``details.coding`` carries the API's error code (docs/api.md) in
    ``{base}/fhir/CodeSystem/error-code``, ``details.text`` the sentence, ``expression`` where it is;
    ``issue_codes`` may name a more precise issue type per expression."""
    default = ISSUE_CODES_BY_ERROR.get(code) or ISSUE_CODES.get(status, "processing")

    def issue(text: str, where: str | None = None) -> dict[str, Any]:
        kind = (issue_codes or {}).get(where or "", default)
        item: dict[str, Any] = {"severity": "error", "code": kind, "details": {
            "coding": [{"system": f"{base_url}/fhir/CodeSystem/error-code", "code": code}], "text": text}}
        if where and where != "_schema":
            item["expression"] = [where]
        return item

    issues = [issue(text, where) for where, texts in (fields or {}).items() for text in texts if text]
    return {"resourceType": "OperationOutcome", "issue": issues or [issue(message)]}
