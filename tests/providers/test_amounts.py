"""Exact conversions between our minor units and providers' units: never rounded, refused instead."""

from __future__ import annotations

import pytest

from thinbase.errors import ProviderError
from thinbase.functions.payments.providers.amounts import (
    decimal_to_minor,
    from_provider_units,
    to_provider_units,
)


@pytest.mark.parametrize(
    ("amount", "exponent", "provider_exponent", "expected"),
    [
        (14_900_000, 2, 0, 149_000),  # IDR minor units -> whole rupiah (Midtrans, DOKU)
        (1_400, 0, 0, 1_400),  # JPY
        (1_400, 0, 2, 140_000),  # a zero-decimal amount for a two-decimal API
        (5_120, 3, 3, 5_120),  # KWD fils
        (900, 2, 2, 900),
    ],
)
def test_to_provider_units(amount: int, exponent: int, provider_exponent: int, expected: int) -> None:
    assert to_provider_units(amount, exponent, provider_exponent, provider="p", currency="X") == expected


@pytest.mark.parametrize(
    ("amount", "exponent", "provider_exponent", "multiple_of"),
    [(14_900_050, 2, 0, 1), (5_125, 3, 3, 10), (0, 2, 2, 1), (-100, 2, 2, 1), (1, 3, 2, 1)],
)
def test_refused(amount: int, exponent: int, provider_exponent: int, multiple_of: int) -> None:
    with pytest.raises(ProviderError) as caught:
        to_provider_units(
            amount, exponent, provider_exponent, provider="p", currency="X", multiple_of=multiple_of
        )
    assert caught.value.code == "amount_not_representable"
    assert caught.value.status is None


@pytest.mark.parametrize(
    ("units", "provider_exponent", "exponent", "expected"),
    [(149_000, 0, 2, 14_900_000), (140_000, 2, 0, 1_400), (140_050, 2, 0, None), (5_120, 3, 3, 5_120)],
)
def test_from_provider_units(units: int, provider_exponent: int, exponent: int, expected: int | None) -> None:
    assert from_provider_units(units, provider_exponent, exponent) == expected


@pytest.mark.parametrize(
    ("value", "exponent", "expected"),
    [
        ("10000.00", 2, 1_000_000),
        ("149000.00", 2, 14_900_000),
        (150000, 2, 15_000_000),
        ("1400", 0, 1_400),
        ("5.125", 3, 5_125),
        ("10000.005", 2, None),  # more precision than the currency has
        ("1e3", 0, 1_000),
        ("abc", 2, None),
        ("NaN", 2, None),
        ("Infinity", 2, None),
        (10.5, 2, None),  # floats are refused: they may already have lost precision
        (True, 2, None),
        (None, 2, None),
    ],
)
def test_decimal_to_minor(value: object, exponent: int, expected: int | None) -> None:
    assert decimal_to_minor(value, exponent) == expected
