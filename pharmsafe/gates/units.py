"""Lab test names, LOINC codes and units (rulebook §3 and §5).

Values arrive as the text that was recorded; they are parsed here, strictly, so that a gate can fail
closed on anything it cannot read. Conversions use Decimal and are never rounded before comparing.
"""
from __future__ import annotations

import re
from decimal import Decimal

ALT = "ALT"
AST = "AST"
TRIGLYCERIDES = "TRIGLYCERIDES"
TOTAL_CHOLESTEROL = "TOTAL_CHOLESTEROL"
LDL = "LDL"

LAB_TESTS = (ALT, AST, TRIGLYCERIDES, TOTAL_CHOLESTEROL, LDL)

LAB_LOINC = {
    "1742-6": ALT,
    "1920-8": AST,
    "2571-8": TRIGLYCERIDES,
    "2093-3": TOTAL_CHOLESTEROL,
    "13457-7": LDL,  # calculated
    "18262-6": LDL,  # direct assay
}

LAB_LABELS = {
    ALT: "ALT",
    AST: "AST",
    TRIGLYCERIDES: "triglycerides",
    TOTAL_CHOLESTEROL: "total cholesterol",
    LDL: "LDL cholesterol",
}

MG_DL = "mg/dL"
U_L = "U/L"

# mg/dL per mmol/L: triglycerides 88.57, cholesterol (total and LDL) 38.67.
_LIPID_UNITS = {
    TRIGLYCERIDES: {"mg/dl": Decimal(1), "mmol/l": Decimal("88.57")},
    TOTAL_CHOLESTEROL: {"mg/dl": Decimal(1), "mmol/l": Decimal("38.67")},
    LDL: {"mg/dl": Decimal(1), "mmol/l": Decimal("38.67")},
}
_ENZYME_UNITS = {"u/l": Decimal(1), "iu/l": Decimal(1)}

CANONICAL_UNITS = {ALT: U_L, AST: U_L, TRIGLYCERIDES: MG_DL, TOTAL_CHOLESTEROL: MG_DL, LDL: MG_DL}

_DECIMAL_TEXT = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def normalize_lab_test(value: str) -> str | None:
    """The canonical test name for a name (any case) or its LOINC code; None when unknown."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text in LAB_LOINC:
        return LAB_LOINC[text]
    upper = text.upper()
    return upper if upper in LAB_TESTS else None


def parse_decimal(text: str | None) -> Decimal | None:
    """A non-negative plain decimal ("35", "5.646", ".5"); None for anything else, including
    exponents, signs, commas, NaN and infinities."""
    if not isinstance(text, str):
        return None
    stripped = text.strip()
    if not _DECIMAL_TEXT.fullmatch(stripped):
        return None
    return Decimal(stripped)


def unit_factor(test: str, unit: str | None) -> Decimal | None:
    """The factor converting ``unit`` to the test's canonical unit (mg/dL or U/L), or None when the
    unit is not one the rulebook accepts for that test. Matching is case-insensitive."""
    if not isinstance(unit, str):
        return None
    key = unit.strip().lower()
    if test in _LIPID_UNITS:
        return _LIPID_UNITS[test].get(key)
    if test in (ALT, AST):
        return _ENZYME_UNITS.get(key)
    return None


def to_canonical(test: str, value: str, unit: str) -> Decimal | None:
    """The value in the test's canonical unit, or None when the value or unit is unusable."""
    amount = parse_decimal(value)
    factor = unit_factor(test, unit)
    if amount is None or factor is None:
        return None
    return amount * factor


def format_decimal(value: Decimal, places: int | None = None) -> str:
    """Human display only; comparisons always use the unrounded value."""
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places))
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
