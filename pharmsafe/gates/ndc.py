"""The isotretinoin product reference (rulebook §4; pharmsafe/reference/README.md).

The table is loaded once from the package's own copy. NDCs are compared in the FDA's 11-digit
5-4-2 form so that "61748-303-13", "61748-0303-13" and "61748030313" are the same package. A package
NDC that is not listed still matches when its product NDC is: the product code fixes the drug and
its strength, the package code only the pack size.

A bare 10-digit NDC has lost the hyphens that say its layout, so it is read in each of the three
(4-4-2, 5-3-2, 5-4-1; rulebook §7 item 8): it matches when exactly one reading is listed, and is
contradictory data (AmbiguousNdc) when more than one is.
"""
from __future__ import annotations

import csv
import functools
import io
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources

_HYPHENATED = re.compile(r"([0-9]{4,5})-([0-9]{3,4})(?:-([0-9]{1,2}))?")
_PACKAGE_11 = re.compile(r"[0-9]{11}")
_PRODUCT_9 = re.compile(r"[0-9]{9}")
_BARE_10 = re.compile(r"[0-9]{10}")

# The layouts of a 10-digit NDC (labeler-product-package digits), in the order they are reported.
LAYOUTS = ("4-4-2", "5-3-2", "5-4-1")

INGREDIENT = "isotretinoin"


@dataclass(frozen=True)
class NdcProduct:
    product_ndc: str
    package_ndc: str | None
    proprietary_name: str | None
    labeler: str | None
    strength_mg: Decimal | None
    # The RxNorm concept (SCD) of the listed product, when the reference gives one.
    rxcui: str | None = None


class AmbiguousNdc(ValueError):
    """A bare 10-digit NDC that reads as more than one listed product: contradictory data, never a
    guess. ``candidates`` are the listed rows it reads as, ``layouts`` the layout of each."""

    def __init__(self, ndc: str, candidates: tuple[NdcProduct, ...], layouts: tuple[str, ...]):
        self.ndc = ndc
        self.candidates = candidates
        self.layouts = layouts
        readings = "; ".join(
            f"as {layout} it is {_hyphenated(ndc.strip(), layout)}, listed as {_describe(entry)}"
            for layout, entry in zip(layouts, candidates, strict=True))
        super().__init__(f"NDC {ndc.strip()} has 10 digits without hyphens and reads as more than one listed "
                         f"product: {readings}. Give the NDC with its hyphens or in its 11-digit form.")


def _describe(entry: NdcProduct) -> str:
    name = entry.proprietary_name or "a product"
    strength = f" {entry.strength_mg} mg" if entry.strength_mg is not None else ""
    return f"{entry.package_ndc or entry.product_ndc} ({name}{strength})"


@dataclass(frozen=True)
class _Reference:
    packages: dict[str, NdcProduct]
    products: dict[str, NdcProduct]
    names: frozenset[str]


def _normalize_name(name: str) -> str:
    return " ".join(name.split()).casefold()


def canonical_ndc(ndc: str) -> tuple[str, str] | None:
    """("package", 11 digits) or ("product", 9 digits); None when the text is not an NDC form with a
    single reading (a bare 10-digit NDC could be any of three layouts: see ten_digit_readings)."""
    if not isinstance(ndc, str):
        return None
    text = ndc.strip()
    match = _HYPHENATED.fullmatch(text)
    if match:
        labeler, product, package = match.groups()
        if package is None:
            if len(labeler) + len(product) not in (8, 9):
                return None
            return "product", labeler.zfill(5) + product.zfill(4)
        if len(labeler) + len(product) + len(package) not in (10, 11):
            return None
        return "package", labeler.zfill(5) + product.zfill(4) + package.zfill(2)
    if _PACKAGE_11.fullmatch(text):
        return "package", text
    if _PRODUCT_9.fullmatch(text):
        return "product", text
    return None


def _hyphenated(digits: str, layout: str) -> str:
    sizes = [int(n) for n in layout.split("-")]
    labeler, product = digits[:sizes[0]], digits[sizes[0]:sizes[0] + sizes[1]]
    return f"{labeler}-{product}-{digits[sizes[0] + sizes[1]:]}"


def ten_digit_readings(ndc: str) -> dict[str, str]:
    """For a bare 10-digit NDC, the 11-digit 5-4-2 package NDC it is in each layout, by layout name
    in LAYOUTS order; {} for any other text. "0591243415" -> {"4-4-2": "00591243415",
    "5-3-2": "05912043415", "5-4-1": "05912434105"}."""
    if not isinstance(ndc, str):
        return {}
    text = ndc.strip()
    if not _BARE_10.fullmatch(text):
        return {}
    return {
        "4-4-2": "0" + text,
        "5-3-2": text[:5] + "0" + text[5:],
        "5-4-1": text[:9] + "0" + text[9:],
    }


def _strength(text: str) -> Decimal | None:
    try:
        return Decimal(text) if text.strip() else None
    except InvalidOperation:
        return None


@functools.cache
def _reference() -> _Reference:
    return _load_reference(
        resources.files("pharmsafe.reference").joinpath("isotretinoin-products.csv").read_text("utf-8"))


def _load_reference(raw: str) -> _Reference:
    """The reference built from the CSV text (the columns of isotretinoin-products.csv)."""
    packages: dict[str, NdcProduct] = {}
    products: dict[str, NdcProduct] = {}
    names = {INGREDIENT}
    for row in csv.DictReader(io.StringIO(raw)):
        entry = NdcProduct(
            product_ndc=row["product_ndc"].strip(),
            package_ndc=row["package_ndc"].strip() or None,
            proprietary_name=row["proprietary_name"].strip() or None,
            labeler=row["labeler"].strip() or None,
            strength_mg=_strength(row["strength_mg"]),
            rxcui=(row.get("rxcui") or "").strip() or None,
        )
        if entry.proprietary_name:
            names.add(_normalize_name(entry.proprietary_name))
        product_key = canonical_ndc(entry.product_ndc)
        if product_key:
            products.setdefault(product_key[1], entry)
        if entry.package_ndc:
            package_key = canonical_ndc(entry.package_ndc)
            if package_key:
                packages.setdefault(package_key[1], entry)
    return _Reference(packages, products, frozenset(names))


def _listed_package(ref: _Reference, digits: str) -> NdcProduct | None:
    return ref.packages.get(digits) or ref.products.get(digits[:9])


def lookup_ndc(ndc: str | None) -> NdcProduct | None:
    """The reference row for a package or product NDC, or None when it is not listed. A bare
    10-digit NDC matches when exactly one of its layouts is listed (as a package, or its product);
    when more than one is, this raises AmbiguousNdc."""
    if not ndc or not isinstance(ndc, str):
        return None
    readings = ten_digit_readings(ndc)
    if readings:
        return _lookup_ten_digits(ndc, readings)
    key = canonical_ndc(ndc)
    if key is None:
        return None
    ref = _reference()
    kind, digits = key
    if kind == "package":
        return _listed_package(ref, digits)
    return ref.products.get(digits)


def _lookup_ten_digits(ndc: str, readings: dict[str, str]) -> NdcProduct | None:
    ref = _reference()
    found: dict[str, NdcProduct] = {}
    for layout, digits in readings.items():
        entry = _listed_package(ref, digits)
        if entry is not None and entry not in found.values():
            found[layout] = entry
    if len(found) > 1:
        raise AmbiguousNdc(ndc, tuple(found.values()), tuple(found))
    return next(iter(found.values()), None)


def listed_rxcuis() -> frozenset[str]:
    """The RxNorm concepts of the listed products."""
    ref = _reference()
    return frozenset(p.rxcui for p in (*ref.packages.values(), *ref.products.values()) if p.rxcui)


def strength_of_rxcui(rxcui: str) -> Decimal | None:
    """The strength of a listed RxNorm concept (SCD), None when it is not listed or the reference
    gives it more than one."""
    ref = _reference()
    found = {p.strength_mg for p in (*ref.packages.values(), *ref.products.values())
             if p.rxcui == rxcui and p.strength_mg is not None}
    return next(iter(found)) if len(found) == 1 else None


def rxcuis_of_strength(strength_mg: Decimal) -> frozenset[str]:
    """The RxNorm concepts of the listed products of this strength."""
    ref = _reference()
    return frozenset(p.rxcui for p in (*ref.packages.values(), *ref.products.values())
                     if p.rxcui and p.strength_mg == strength_mg)


def is_isotretinoin_name(drug: str | None) -> bool:
    """The ingredient or one of the reference's proprietary names, case- and spacing-insensitive."""
    return isinstance(drug, str) and _normalize_name(drug) in _reference().names


def is_isotretinoin(drug: str | None, ndc: str | None) -> bool:
    """Isotretinoin identified by name or by a listed NDC (rulebook §4). An NDC that reads as more
    than one listed product is still isotretinoin, since every listed row is; whether it may be
    dispensed is the prescription gate's to say."""
    if is_isotretinoin_name(drug):
        return True
    try:
        return lookup_ndc(ndc) is not None
    except AmbiguousNdc:
        return True
