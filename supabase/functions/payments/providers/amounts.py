"""Converting our amounts (integer minor units, ISO 4217 exponent) to and from each provider's units.

Every conversion is exact or refused: a payment must never be charged a rounded amount, because the
webhook's amount is compared with the stored one and a mismatch fails the payment.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from thinbase.errors import ProviderError

# amount_minor is a bigint: an amount beyond it is none any payment can have, and the database refuses it.
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


def _scale(digits: int) -> int:
    """10 to the power of a non-negative `digits` (typed as int, which `10**n` is not for mypy)."""
    return int(10**digits)


def to_provider_units(
    amount_minor: int,
    exponent: int,
    provider_exponent: int,
    *,
    provider: str,
    currency: str,
    multiple_of: int = 1,
) -> int:
    """`amount_minor` (10^-exponent units) in the provider's 10^-provider_exponent units.

    Raises ProviderError(`amount_not_representable`) when the amount has more precision than the provider
    takes (e.g. IDR with sen for Midtrans), or the provider's units must be a multiple of `multiple_of`
    (three-decimal currencies at Stripe and Razorpay end in 0).
    """
    if amount_minor <= 0:
        raise ProviderError(
            "amount_not_representable", f"{provider} needs a positive amount", provider=provider
        )
    shift = provider_exponent - exponent
    if shift >= 0:
        units = amount_minor * _scale(shift)
    else:
        units, remainder = divmod(amount_minor, _scale(-shift))
        if remainder:
            raise ProviderError(
                "amount_not_representable",
                f"{provider} takes {currency} amounts with {provider_exponent} decimals; "
                f"{amount_minor} minor units (exponent {exponent}) cannot be sent without rounding",
                provider=provider,
            )
    if units % multiple_of:
        raise ProviderError(
            "amount_not_representable",
            f"{provider} takes {currency} amounts only in multiples of {multiple_of} of its units",
            provider=provider,
        )
    return units


def _in_range(amount: int) -> int | None:
    return amount if BIGINT_MIN <= amount <= BIGINT_MAX else None


def from_provider_units(units: int, provider_exponent: int, exponent: int) -> int | None:
    """The provider's integer units back in our minor units; None when that is not exact, or beyond bigint."""
    shift = exponent - provider_exponent
    if shift >= 0:
        return _in_range(units * _scale(shift))
    whole, remainder = divmod(units, _scale(-shift))
    return None if remainder else _in_range(whole)


def decimal_to_minor(value: object, exponent: int) -> int | None:
    """A decimal amount in major units ("10000.00", 150000) as our minor units; None if not exact/readable,
    or beyond bigint.

    Only str (ASCII: Decimal also reads Arabic-Indic digits, which no provider writes) and int are accepted:
    a JSON float may already have lost precision. The size is checked before any arithmetic: "1e999999"
    overflows decimal's context (decimal.Overflow, a 500 before), and 20 or more integer digits are beyond
    bigint anyway. Within that, quantizing to the currency's exponent is exact (at most 19 + 4 digits, under
    the context's 28), so a remainder below the minor unit, even one past the 28th digit, refuses the amount
    instead of being rounded away.
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    if isinstance(value, str) and not value.isascii():
        return None
    try:
        major = Decimal(value)
        if not major.is_finite() or (major and major.adjusted() >= 19):
            return None
        whole = major.quantize(Decimal(1).scaleb(-exponent))
    except InvalidOperation:
        return None
    if whole != major:
        return None
    return _in_range(int(whole.scaleb(exponent)))
