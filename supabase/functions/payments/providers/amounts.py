"""Converting our amounts (integer minor units, ISO 4217 exponent) to and from each provider's units.

Every conversion is exact or refused: a payment must never be charged a rounded amount, because the
webhook's amount is compared with the stored one and a mismatch fails the payment.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from .errors import ProviderError


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


def from_provider_units(units: int, provider_exponent: int, exponent: int) -> int | None:
    """The provider's integer units back in our minor units; None when that is not exact."""
    shift = exponent - provider_exponent
    if shift >= 0:
        return units * _scale(shift)
    whole, remainder = divmod(units, _scale(-shift))
    return None if remainder else whole


def decimal_to_minor(value: object, exponent: int) -> int | None:
    """A decimal amount in major units ("10000.00", 150000) as our minor units; None if not exact/readable.

    Only str and int are accepted: a JSON float may already have lost precision.
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    try:
        amount = Decimal(value) * (Decimal(10) ** exponent)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount != amount.to_integral_value():
        return None
    return int(amount)
