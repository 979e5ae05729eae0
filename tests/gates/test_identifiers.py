"""Rulebook §5 identifiers and the reference tables (NPI, LOINC, units, NDC)."""
import csv
import io
from decimal import Decimal
from importlib import resources

import pytest

from pharmsafe.gates import (
    CONTRACEPTION_METHODS,
    PRIMARY_METHODS,
    SECONDARY_METHODS,
    is_isotretinoin,
    is_valid_npi,
    lookup_ndc,
    normalize_lab_test,
)
from pharmsafe.gates.ndc import canonical_ndc
from pharmsafe.gates.npi import luhn_check_digit
from pharmsafe.gates.units import parse_decimal, unit_factor


@pytest.mark.parametrize("npi", ["1234567893", "1245319599", "1003000126", "2000000002"])
def test_valid_npis(npi):
    assert is_valid_npi(npi)


@pytest.mark.parametrize("npi", [
    "1234567890",  # wrong check digit
    "1234567894",  # wrong check digit
    "1245319598",
    "3234567893",  # first digit must be 1 or 2
    "0234567893",
    "123456789",  # 9 digits
    "12345678931",  # 11 digits
    "123456789a",
    " 1234567893",
    "１２３４５６７８９３",  # full-width digits
    "",
    None,
    1234567893,
])
def test_invalid_npis(npi):
    assert not is_valid_npi(npi)


@pytest.mark.parametrize("nine", ["123456789", "124531959", "100300012", "200000000", "199999999"])
def test_npi_check_digit_equals_luhn_over_nine_digits_plus_24(nine):
    """The rulebook's equivalent formulation: Luhn over the 9 digits, plus 24, mod 10."""
    total = 24
    for position, char in enumerate(reversed(nine)):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    assert luhn_check_digit("80840" + nine) == (10 - total % 10) % 10


@pytest.mark.parametrize(("value", "expected"), [
    ("ALT", "ALT"), ("alt", "ALT"), (" Ast ", "AST"), ("triglycerides", "TRIGLYCERIDES"),
    ("Total_Cholesterol", "TOTAL_CHOLESTEROL"), ("LDL", "LDL"),
    ("1742-6", "ALT"), ("1920-8", "AST"), ("2571-8", "TRIGLYCERIDES"), ("2093-3", "TOTAL_CHOLESTEROL"),
    ("13457-7", "LDL"), ("18262-6", "LDL"),
    ("HDL", None), ("2085-9", None), ("2106-3", None), ("", None), ("cholesterol", None), (None, None),
])
def test_normalize_lab_test(value, expected):
    assert normalize_lab_test(value) == expected


def test_lab_loinc_codes_agree_with_the_reference_table():
    raw = resources.files("pharmsafe.reference").joinpath("loinc-codes.csv").read_text("utf-8")
    uses = {"alt": "ALT", "ast": "AST", "triglycerides": "TRIGLYCERIDES", "total_cholesterol": "TOTAL_CHOLESTEROL",
            "ldl": "LDL"}
    rows = [r for r in csv.DictReader(io.StringIO(raw)) if r["use"] in uses]
    assert len(rows) == 6
    for row in rows:
        assert normalize_lab_test(row["code"]) == uses[row["use"]]


@pytest.mark.parametrize(("text", "expected"), [
    ("35", Decimal("35")), (" 5.646 ", Decimal("5.646")), (".5", Decimal("0.5")), ("80.", Decimal("80")),
    ("abc", None), ("", None), ("1,5", None), ("-5", None), ("+5", None), ("NaN", None), ("Infinity", None),
    ("5e2", Decimal("500")), ("1.2.3", None), (None, None), (35, None), ("1E+21", None),
])
def test_parse_decimal_is_strict(text, expected):
    assert parse_decimal(text) == expected


@pytest.mark.parametrize(("test", "unit", "factor"), [
    ("TRIGLYCERIDES", "mg/dL", Decimal(1)), ("TRIGLYCERIDES", "MG/DL", Decimal(1)),
    ("TRIGLYCERIDES", "mmol/L", Decimal("88.57")), ("TRIGLYCERIDES", " mmol/l ", Decimal("88.57")),
    ("TOTAL_CHOLESTEROL", "mmol/L", Decimal("38.67")), ("LDL", "mmol/L", Decimal("38.67")),
    ("ALT", "U/L", Decimal(1)), ("ALT", "iu/l", Decimal(1)), ("AST", "IU/L", Decimal(1)),
    ("ALT", "mg/dL", None), ("TRIGLYCERIDES", "U/L", None), ("TRIGLYCERIDES", "mg", None),
    ("TRIGLYCERIDES", "g/L", None), ("ALT", "ukat/L", None), ("ALT", None, None),
])
def test_unit_factor(test, unit, factor):
    assert unit_factor(test, unit) == factor


def test_conversion_is_unrounded():
    assert parse_decimal("5.646") * unit_factor("TRIGLYCERIDES", "mmol/L") == Decimal("500.06622")
    assert parse_decimal("7.758") * unit_factor("TOTAL_CHOLESTEROL", "mmol/L") == Decimal("300.00186")


@pytest.mark.parametrize(("ndc", "strength", "name"), [
    ("0591-2434-15", Decimal("20"), "Isotretinoin"),
    ("00591-2434-15", Decimal("20"), "Isotretinoin"),  # 11-digit hyphenated
    ("00591243415", Decimal("20"), "Isotretinoin"),  # 11-digit unhyphenated
    ("0591-2434", Decimal("20"), "Isotretinoin"),  # product NDC
    ("59651-635-03", Decimal("35"), "ISOTRETINOIN"),  # rulebook §5 example
    ("70771-1557-8", Decimal("10"), "Isotretinoin"),  # rulebook §5 example, 5-4-1
    ("61748-0303-13", Decimal("30"), "Myorisan"),  # as the catalog prints it
    ("10631-002-31", Decimal("8"), "Absorica LD"),
    ("0555-1055-99", Decimal("20"), "Claravis"),  # unlisted package of a listed product
    ("0555-1057", None, "Claravis"),  # product-only row without strength
    ("10631-003-31", None, None),
    ("0591243415", Decimal("20"), "Isotretinoin"),  # bare 10 digits, read as 4-4-2
])
def test_lookup_ndc_finds_listed_products(ndc, strength, name):
    found = lookup_ndc(ndc)
    assert found is not None
    assert found.strength_mg == strength
    assert found.proprietary_name == name


@pytest.mark.parametrize("ndc", [
    "0245-0571-01",  # rulebook §5 example, not in the (incomplete) reference list
    "1234-5678-90", "1234567890", "0245057101", "0591-2434-155", "0591_2434_15", "", None, "59651-635-03-1",
])
def test_lookup_ndc_misses(ndc):
    assert lookup_ndc(ndc) is None


def test_every_reference_row_resolves():
    raw = resources.files("pharmsafe.reference").joinpath("isotretinoin-products.csv").read_text("utf-8")
    rows = list(csv.DictReader(io.StringIO(raw)))
    assert len(rows) == 48
    for row in rows:
        assert lookup_ndc(row["product_ndc"]) is not None
        if row["package_ndc"]:
            assert lookup_ndc(row["package_ndc"]).product_ndc == row["product_ndc"]


@pytest.mark.parametrize(("ndc", "expected"), [
    ("0591-2434-15", ("package", "00591243415")),
    ("10631-002-31", ("package", "10631000231")),
    ("69238-1176-3", ("package", "69238117603")),
    ("0591-2434", ("product", "005912434")),
    ("10631-002", ("product", "106310002")),
    ("00591243415", ("package", "00591243415")),
    ("0591-243-15", None),  # 4-3-2 is not an NDC layout
])
def test_canonical_ndc(ndc, expected):
    assert canonical_ndc(ndc) == expected


@pytest.mark.parametrize(("drug", "ndc", "expected"), [
    ("Isotretinoin", None, True),
    ("ISOTRETINOIN", None, True),
    ("  isotretinoin ", None, True),
    ("Absorica LD", None, True),
    ("absorica   ld", None, True),
    ("Claravis", None, True),
    ("Zenatane", None, True),
    ("Amnesteem", None, True),
    ("Accutane", "0591-2434-15", True),  # unlisted brand, listed NDC
    ("Accutane", None, False),
    ("Tretinoin", None, False),
    ("Tretinoin", "1234-5678-90", False),
    ("isotretinoin cream", None, False),
    ("", None, False),
])
def test_is_isotretinoin(drug, ndc, expected):
    assert is_isotretinoin(drug, ndc) is expected


def test_contraception_method_codes():
    assert PRIMARY_METHODS == {"iud", "implant", "tubal_sterilization", "partner_vasectomy", "hormonal_pill",
                               "hormonal_patch", "hormonal_ring", "hormonal_injection"}
    assert SECONDARY_METHODS == {"male_condom", "diaphragm", "cervical_cap", "vaginal_sponge"}
    assert CONTRACEPTION_METHODS == PRIMARY_METHODS | SECONDARY_METHODS | {"abstinence"}
    assert isinstance(CONTRACEPTION_METHODS, frozenset)
