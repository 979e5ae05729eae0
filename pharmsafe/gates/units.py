"""Lab test names, LOINC codes and units (rulebook §3 and §5), and the numbers they carry (§7 item 8).

Values arrive as the text that was recorded; they are parsed here, strictly, so that a gate can fail
closed on anything it cannot read. Conversions use Decimal and are never rounded before comparing.

A number is a non-negative decimal in plain ("35", "0.0000001") or exponent ("3E+1", "1e-7") form
with at most MAX_SIGNIFICANT_DIGITS significant digits and an exponent (the power of ten of its
leading digit, as in 3.5E+1) of at most MAX_EXPONENT either way. The limits judge the value, not how
it is written, so a number and its plain notation are always read alike.
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
    "1743-4": ALT,  # with P-5'-P
    "1920-8": AST,
    "2571-8": TRIGLYCERIDES,
    "35217-9": TRIGLYCERIDES,  # mass or moles per volume
    "2093-3": TOTAL_CHOLESTEROL,
    "35200-5": TOTAL_CHOLESTEROL,  # mass or moles per volume
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

MAX_SIGNIFICANT_DIGITS = 20
MAX_EXPONENT = 20

# ASCII digits only: Decimal() would also take "1_000", "٣٠", "NaN", "Infinity" and signs.
_DECIMAL_TEXT = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def normalize_lab_test(value: str) -> str | None:
    """The canonical test name for a name (any case) or its LOINC code; None when unknown."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text in LAB_LOINC:
        return LAB_LOINC[text]
    upper = text.upper()
    return upper if upper in LAB_TESTS else None


def decimal_from_text(text: str | None) -> Decimal | None:
    """The non-negative decimal a text writes ("35", " 5.646 ", ".5", "3E+1", "1e-7"), whatever its
    size; None for anything else, including signs, commas, underscores, NaN and infinities."""
    if not isinstance(text, str):
        return None
    stripped = text.strip()
    if not _DECIMAL_TEXT.fullmatch(stripped):
        return None
    return Decimal(stripped)


def significant_digits(value: Decimal) -> int:
    """Digits from the first non-zero one; zeros after the decimal point count ("1.50" has 3), zeros
    that only place a whole number do not ("30" and "3E+1" have 1). Zero has none before its point."""
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"{value!r} is not a finite number.")
    count = len(digits)
    if exponent >= 0:
        while count and digits[count - 1] == 0:
            count -= 1
    return count


def limits_problem(value: Decimal) -> str | None:
    """Why a finite decimal lies outside the limits, as a sentence; None when it is within them."""
    if not value.is_finite():
        return "Not a finite number."
    count = significant_digits(value)
    if count > MAX_SIGNIFICANT_DIGITS:
        return (f"Give at most {MAX_SIGNIFICANT_DIGITS} significant digits; this number has {count} "
                f"significant digits.")
    exponent = value.adjusted()
    if not -MAX_EXPONENT <= exponent <= MAX_EXPONENT:
        return (f"The number's exponent must lie between -{MAX_EXPONENT} and {MAX_EXPONENT} "
                f"(as in 3.5E+1); this one is {exponent}.")
    return None


def parse_decimal(text: str | None) -> Decimal | None:
    """A non-negative decimal in plain or exponent form within the limits ("35", "5.646", ".5",
    "3E+1"); None for anything else, including signs, commas, NaN, infinities, more than
    MAX_SIGNIFICANT_DIGITS significant digits and an exponent beyond MAX_EXPONENT either way."""
    value = decimal_from_text(text)
    if value is None or limits_problem(value) is not None:
        return None
    return value


def plain_notation(value: Decimal) -> str:
    """The decimal without an exponent, keeping the digits given: 3E+1 -> "30", 1E-7 ->
    "0.0000001", 5.60 -> "5.60" (str() would give "3E+1" and "1E-7"). A negative zero is "0"."""
    if not value.is_finite():
        raise ValueError(f"{value!r} is not a finite number.")
    if value.is_zero():
        value = value.copy_abs()
    return format(value, "f")


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


def format_decimal(value: Decimal, places: int | None = None) -> str:
    """Human display only; comparisons always use the unrounded value."""
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places))
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
