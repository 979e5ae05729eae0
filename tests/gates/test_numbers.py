"""Numbers as recorded (rulebook §3, §7 item 8): plain decimals and exponent forms are read, within
20 significant digits and an exponent of at most 20 either way; anything else is unreadable."""
from decimal import Decimal

import pytest

from pharmsafe.gates import Status
from pharmsafe.gates.units import (
    MAX_EXPONENT,
    MAX_SIGNIFICANT_DIGITS,
    decimal_from_text,
    limits_problem,
    parse_decimal,
    plain_notation,
    significant_digits,
)

from .builders import lab, make_facts, normal_labs, run

FAIL = Status.FAIL


def test_the_limits_are_twenty():
    assert (MAX_SIGNIFICANT_DIGITS, MAX_EXPONENT) == (20, 20)


@pytest.mark.parametrize(("text", "expected"), [
    ("3E+1", Decimal("30")),
    ("3e1", Decimal("30")),
    ("1e-7", Decimal("0.0000001")),
    ("1.5E+2", Decimal("150")),
    ("2.50e0", Decimal("2.50")),
    ("5.e2", Decimal("500")),
    (".5E1", Decimal("5")),
    ("0e5", Decimal("0")),
    (" 4E+1 ", Decimal("40")),
])
def test_exponent_forms_are_read(text, expected):
    assert parse_decimal(text) == expected


@pytest.mark.parametrize("text", [
    "e5", "5e", "5e+", "5E1.5", "5 e2", "-3E+1", "+3E+1", "1_000", "\u0663\u0660", "Infinity", "inf", "NaN",
    "sNaN", "0x1F", "3E+1E+1", "",
])
def test_other_forms_are_unreadable(text):
    assert decimal_from_text(text) is None
    assert parse_decimal(text) is None


@pytest.mark.parametrize(("text", "readable"), [
    # 20 significant digits read; 21 do not, however they are written.
    ("12345678901234567891", True),
    ("123456789012345678912", False),
    ("0.12345678901234567891", True),
    ("0.123456789012345678912", False),
    ("1.2345678901234567891E+5", True),
    ("1.23456789012345678912E+5", False),
    ("1.0000000000000000000", True),  # 20 digits: zeros after the point count
    ("1.00000000000000000000", False),  # 21
    ("100000000000000000000", True),  # 1E+20 written out: the zeros only place the 1
    ("0000000000000000000000001", True),  # leading zeros are not significant
    # Exponent (the power of ten of the leading digit) from -20 to 20.
    ("1E+20", True),
    ("1E+21", False),
    ("10E+20", False),  # that is 1E+21
    ("9.9999999999999999999E+20", True),
    ("1000000000000000000000", False),  # 1E+21 written out
    ("1E-20", True),
    ("1E-21", False),
    ("0.1E-20", False),  # that is 1E-21
    ("0.00000000000000000001", True),  # 1E-20 written out
    ("0.000000000000000000001", False),  # 1E-21 written out
    ("0E-20", True),
    ("0E-21", False),
    ("1E+999999999999", False),
    ("1E-999999999999", False),
])
def test_limits(text, readable):
    assert decimal_from_text(text) is not None
    assert (parse_decimal(text) is not None) is readable
    assert (limits_problem(decimal_from_text(text)) is None) is readable


def test_limits_problem_says_which_limit():
    assert "21 significant digits" in limits_problem(Decimal("123456789012345678912"))
    assert "exponent" in limits_problem(Decimal("1E+21")) and "21" in limits_problem(Decimal("1E+21"))
    assert "-21" in limits_problem(Decimal("1E-21"))


@pytest.mark.parametrize(("text", "digits"), [
    ("35", 2), ("30", 1), ("3E+1", 1), ("30.0", 3), ("0.0000001", 1), ("1.50", 3), ("0", 0), ("0.000", 1),
    ("100", 1), ("1.5E+3", 2),
    ("1.500E+3", 2),  # 1500, a whole number: as "1500" it has 2
    ("1.5000E+3", 5),  # 1500.0
    ("15000E-1", 5),
])
def test_significant_digits(text, digits):
    assert significant_digits(Decimal(text)) == digits


@pytest.mark.parametrize(("value", "text"), [
    (Decimal("3E+1"), "30"),
    (Decimal("1E-7"), "0.0000001"),
    (Decimal("0.0000001"), "0.0000001"),  # str() would give '1E-7'
    (Decimal("5.60"), "5.60"),  # the precision given is kept
    (Decimal("1.50E+1"), "15.0"),
    (Decimal("1E+20"), "100000000000000000000"),
    (Decimal("1E-20"), "0.00000000000000000001"),
    (Decimal("35"), "35"),
])
def test_plain_notation(value, text):
    assert plain_notation(value) == text
    assert "E" not in text.upper()


@pytest.mark.parametrize("text", [
    "3E+1", "1e-7", "1.2345678901234567891E+5", "1E+20", "9.9999999999999999999E+20", "1E-20", "1.50E+1",
    "0E-20", "0e5", "12345678901234567891E-39",
])
def test_plain_notation_reads_back_alike(text):
    """Converting once to plain notation never changes the value or its verdict."""
    value = parse_decimal(text)
    plain = plain_notation(value)
    assert parse_decimal(plain) == value
    assert significant_digits(Decimal(plain)) == significant_digits(value)


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_plain_notation_refuses_what_is_not_finite(value):
    with pytest.raises(ValueError):
        plain_notation(value)


def test_rows_stored_in_exponent_form_are_read():
    """A value or limit stored before conversion existed ('3E+1', '1E+2') is read, not defaulted."""
    kept = tuple(r for r in normal_labs() if r.test != "ALT")
    facts = make_facts(lab_results=kept + (lab(31, "ALT", "1E+2", "U/L", reference_upper="3E+1"),))
    result = run("labs", facts)
    assert (result.status, result.code) == (FAIL, "ALT_CRITICAL")
    assert "(30 U/L)" in result.message


def test_a_value_beyond_the_limits_is_unparsable():
    kept = tuple(r for r in normal_labs() if r.test != "ALT")
    facts = make_facts(lab_results=kept + (lab(31, "ALT", "1E+21", "U/L"),))
    result = run("labs", facts)
    assert (result.status, result.code) == (FAIL, "LAB_VALUE_UNPARSABLE")
