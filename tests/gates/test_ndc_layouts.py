"""A bare 10-digit NDC (rulebook §4, §7 item 8): read in each of its three layouts (4-4-2, 5-3-2,
5-4-1, each padded to the 11-digit 5-4-2 form); it matches when exactly one layout is listed and is
contradictory data when more than one is."""
from decimal import Decimal
from importlib import resources

import pytest

from pharmsafe.gates import is_isotretinoin, lookup_ndc
from pharmsafe.gates import ndc as ndc_module
from pharmsafe.gates.ndc import (
    LAYOUTS,
    AmbiguousNdc,
    NdcProduct,
    canonical_ndc,
    is_isotretinoin_name,
    ten_digit_readings,
)


def shipped_csv() -> str:
    return resources.files("pharmsafe.reference").joinpath("isotretinoin-products.csv").read_text("utf-8")


@pytest.fixture
def contradictory_reference(monkeypatch):
    """The shipped table plus one product of a labeler "5965" (4-digit, so 05965): its package
    5965-1635-03 and the listed 59651-635-03 are both "5965163503" once the hyphens are gone."""
    extra = '5965-1635,5965-1635-03,,Hypothetical,Example Labeler,40,CAPSULE,,made up for this test\n'
    reference = ndc_module._load_reference(shipped_csv() + extra)
    monkeypatch.setattr(ndc_module, "_reference", lambda: reference)
    return reference


def test_layouts():
    assert LAYOUTS == ("4-4-2", "5-3-2", "5-4-1")


@pytest.mark.parametrize(("digits", "expected"), [
    ("0591243415", {"4-4-2": "00591243415", "5-3-2": "05912043415", "5-4-1": "05912434105"}),
    ("5965163503", {"4-4-2": "05965163503", "5-3-2": "59651063503", "5-4-1": "59651635003"}),
    ("7077115578", {"4-4-2": "07077115578", "5-3-2": "70771015578", "5-4-1": "70771155708"}),
])
def test_ten_digit_readings(digits, expected):
    assert ten_digit_readings(digits) == expected
    assert list(ten_digit_readings(digits)) == list(LAYOUTS)


@pytest.mark.parametrize("text", ["059124341", "00591243415", "0591-2434-15", "059124341a", "\uff10591243415",
                                  " 0591243415 x", "", None, 591243415])
def test_ten_digit_readings_only_of_ten_digits(text):
    assert ten_digit_readings(text) == {}


def test_canonical_ndc_still_refuses_to_guess():
    assert canonical_ndc("0591243415") is None


@pytest.mark.parametrize(("ndc", "product", "package"), [
    ("0591243415", "0591-2434", "0591-2434-15"),  # 4-4-2, a listed package
    (" 0591243415 ", "0591-2434", "0591-2434-15"),
    ("0591243499", "0591-2434", None),  # 4-4-2, an unlisted package of a listed product
    ("0245057301", "0245-0573", "0245-0573-01"),  # 4-4-2
    ("5965163503", "59651-635", "59651-635-03"),  # 5-3-2, rulebook §5 example
    ("1063100231", "10631-002", "10631-002-31"),  # 5-3-2
    ("7077115578", "70771-1557", "70771-1557-8"),  # 5-4-1, rulebook §5 example
    ("7077115579", "70771-1557", None),  # 5-4-1, an unlisted package of a listed product
    ("6923811763", "69238-1176", "69238-1176-3"),  # 5-4-1
])
def test_a_bare_ten_digit_ndc_matches_its_one_listed_layout(ndc, product, package):
    found = lookup_ndc(ndc)
    assert found is not None and found.product_ndc == product
    if package is not None:
        assert found.package_ndc == package
    assert is_isotretinoin("Accutane", ndc)


def test_the_strength_of_a_bare_ten_digit_ndc_is_known():
    assert lookup_ndc("0591243415").strength_mg == Decimal("20")
    assert lookup_ndc("5965163503").strength_mg == Decimal("35")
    assert lookup_ndc("7077115578").strength_mg == Decimal("10")


@pytest.mark.parametrize("ndc", ["0245057101", "1234567890", "0000000000", "9999999999"])
def test_a_bare_ten_digit_ndc_with_no_listed_layout_is_not_listed(ndc):
    assert lookup_ndc(ndc) is None
    assert not is_isotretinoin("Accutane", ndc)


def _listed_keys(reference):
    for key in reference.packages:
        yield key[:9]
    yield from reference.products


def _bare_strings_reading_to(product9: str):
    """Every bare 10-digit NDC that one of the layouts reads into the product ``product9``."""
    if product9[0] == "0":
        yield from (product9[1:] + f"{n:02d}" for n in range(100))  # 4-4-2
    if product9[5] == "0":
        yield from (product9[:5] + product9[6:] + f"{n:02d}" for n in range(100))  # 5-3-2
    yield from (product9 + str(n) for n in range(10))  # 5-4-1


def test_no_bare_ten_digit_ndc_is_ambiguous_in_the_shipped_reference():
    """Every 10-digit string that could reach a listed row, in any layout, reaches exactly one."""
    reference = ndc_module._reference()
    strings = {s for key in set(_listed_keys(reference)) for s in _bare_strings_reading_to(key)}
    assert len(strings) > 1000
    for text in sorted(strings):
        assert lookup_ndc(text) is not None, text  # raises AmbiguousNdc if two layouts were listed


def test_every_listed_package_resolves_without_its_hyphens():
    reference = ndc_module._reference()
    packages = [e.package_ndc for e in reference.packages.values()]
    assert len(packages) == 43
    for package in packages:
        bare = package.replace("-", "")
        assert len(bare) == 10
        assert lookup_ndc(bare).package_ndc == package, package


def test_two_listed_layouts_are_contradictory(contradictory_reference):
    with pytest.raises(AmbiguousNdc) as raised:
        lookup_ndc("5965163503")
    error = raised.value
    assert isinstance(error, ValueError)
    assert error.ndc == "5965163503"
    assert [c.package_ndc for c in error.candidates] == ["5965-1635-03", "59651-635-03"]
    assert error.layouts == ("4-4-2", "5-3-2")
    assert all(isinstance(c, NdcProduct) for c in error.candidates)
    message = str(error)
    assert "5965163503" in message and "5965-1635-03" in message and "59651-635-03" in message
    assert "4-4-2" in message and "5-3-2" in message


def test_two_listed_products_by_layout_are_contradictory_too(contradictory_reference):
    """An unlisted package in both layouts still names two listed products."""
    with pytest.raises(AmbiguousNdc) as raised:
        lookup_ndc("5965163599")
    assert [c.product_ndc for c in raised.value.candidates] == ["5965-1635", "59651-635"]


def test_hyphenated_and_eleven_digit_forms_are_never_ambiguous(contradictory_reference):
    assert lookup_ndc("5965-1635-03").proprietary_name == "Hypothetical"
    assert lookup_ndc("59651-635-03").strength_mg == Decimal("35")
    assert lookup_ndc("05965163503").proprietary_name == "Hypothetical"
    assert lookup_ndc("59651063503").strength_mg == Decimal("35")


def test_is_isotretinoin_does_not_raise_on_an_ambiguous_ndc(contradictory_reference):
    """Every listed row is isotretinoin, so an NDC that reads as two of them is isotretinoin."""
    assert is_isotretinoin("Accutane", "5965163503") is True
    assert is_isotretinoin(None, "5965163503") is True
    assert is_isotretinoin("isotretinoin", "5965163503") is True
    assert is_isotretinoin_name("5965163503") is False


def test_the_shipped_reference_is_back_after_patching():
    assert lookup_ndc("5965163503").product_ndc == "59651-635"
