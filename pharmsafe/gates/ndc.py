"""The isotretinoin product reference (rulebook §4; pharmsafe/reference/README.md).

The table is loaded once from the package's own copy. NDCs are compared in the FDA's 11-digit
5-4-2 form so that "61748-303-13", "61748-0303-13" and "61748030313" are the same package. A package
NDC that is not listed still matches when its product NDC is: the product code fixes the drug and
its strength, the package code only the pack size.
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

INGREDIENT = "isotretinoin"


@dataclass(frozen=True)
class NdcProduct:
    product_ndc: str
    package_ndc: str | None
    proprietary_name: str | None
    labeler: str | None
    strength_mg: Decimal | None


@dataclass(frozen=True)
class _Reference:
    packages: dict[str, NdcProduct]
    products: dict[str, NdcProduct]
    names: frozenset[str]


def _normalize_name(name: str) -> str:
    return " ".join(name.split()).casefold()


def canonical_ndc(ndc: str) -> tuple[str, str] | None:
    """("package", 11 digits) or ("product", 9 digits); None when the text is not an NDC form we
    can read without ambiguity (a bare 10-digit NDC could be any of three layouts)."""
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


def _strength(text: str) -> Decimal | None:
    try:
        return Decimal(text) if text.strip() else None
    except InvalidOperation:
        return None


@functools.cache
def _reference() -> _Reference:
    raw = resources.files("pharmsafe.reference").joinpath("isotretinoin-products.csv").read_text("utf-8")
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


def lookup_ndc(ndc: str | None) -> NdcProduct | None:
    """The reference row for a package or product NDC, or None when it is not listed."""
    if not ndc:
        return None
    key = canonical_ndc(ndc)
    if key is None:
        return None
    ref = _reference()
    kind, digits = key
    if kind == "package":
        return ref.packages.get(digits) or ref.products.get(digits[:9])
    return ref.products.get(digits)


def is_isotretinoin_name(drug: str | None) -> bool:
    """The ingredient or one of the reference's proprietary names, case- and spacing-insensitive."""
    return isinstance(drug, str) and _normalize_name(drug) in _reference().names


def is_isotretinoin(drug: str | None, ndc: str | None) -> bool:
    """Isotretinoin identified by name or by a listed NDC (rulebook §4)."""
    return is_isotretinoin_name(drug) or lookup_ndc(ndc) is not None
