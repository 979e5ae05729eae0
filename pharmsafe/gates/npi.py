"""NPI check digit (rulebook §5; CMS NPI check-digit note).

An NPI is 10 digits, the first 1 or 2, the last a Luhn check digit computed over the card-issuer
prefix 80840 followed by the first 9 digits.
"""
from __future__ import annotations

import re

_NPI = re.compile(r"[12][0-9]{9}")
_PREFIX = "80840"


def luhn_check_digit(payload: str) -> int:
    """The digit that, appended to ``payload``, makes a valid Luhn number."""
    total = 0
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def is_valid_npi(npi: str) -> bool:
    """True for a well-formed NPI with a correct check digit (``1234567893`` is valid)."""
    if not isinstance(npi, str) or not _NPI.fullmatch(npi):
        return False
    return luhn_check_digit(_PREFIX + npi[:9]) == int(npi[9])
