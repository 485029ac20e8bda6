"""What the rest of thinbase knows about a payment provider: one `ProviderDescriptor`, defined at the end of
the provider's own module as `DESCRIPTOR`. The registry finds every descriptor and derives each list of
providers from them (which are built, which the checkout offers, which the CLI accepts, what `doctor`
checks, how `webhooks simulate` signs a sample), so adding a provider is one module, one migration (its row
in `public.payment_providers`) and its tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import httpx

from thinbase.errors import SimulationError
from thinbase.settings import Settings

from .base import PaymentStatus, Provider


@dataclass(frozen=True)
class SampleOrder:
    """The payment a sample webhook is about."""

    order_id: str
    amount_minor: int
    currency: str
    exponent: int
    # The payment's provider reference (payments.provider_payment_id: a Stripe session, a Razorpay order),
    # which binds the provider's events to the payment; None before the checkout was created.
    provider_reference: str | None = None

    @property
    def major(self) -> Decimal:
        """The amount in major units (10000.00)."""
        return Decimal(self.amount_minor).scaleb(-self.exponent)


@dataclass(frozen=True)
class SampleWebhook:
    """A webhook as the provider sends it: signed with the configured secret, ready to POST."""

    provider: str
    headers: dict[str, str]
    body: bytes


# (settings, order, status, the URL it will be posted to) -> the signed webhook. Raises SimulationError
# for a status the provider never reports, or a secret that is not set.
SampleBuilder = Callable[[Settings, SampleOrder, PaymentStatus, str], SampleWebhook]


@dataclass(frozen=True)
class ProviderDescriptor:
    name: str  # as in payments.provider and the webhook route: /webhooks/{name}
    label: str  # for people: "Stripe Checkout"
    required_settings: tuple[str, ...]  # all present: the provider is built; some only: doctor fails
    build: Callable[[Settings, httpx.Client], Provider]
    sample_webhook: SampleBuilder
    # A warning about a configured provider that will still fail (doctor): (detail, hint), or None.
    warning: Callable[[Settings], tuple[str, str] | None] = lambda settings: None

    def configured(self, settings: Settings) -> bool:
        return all(settings.get(name).strip() for name in self.required_settings)


def secrets(settings: Settings, *names: str) -> list[str]:
    """The settings a sample is signed with; SimulationError naming the missing ones."""
    values = [settings.get(name).strip() for name in names]
    missing = [name for name, value in zip(names, values, strict=True) if not value]
    if missing:
        raise SimulationError(
            f"{', '.join(missing)} not set: the webhook is signed with the configured secret"
        )
    return values


def unsupported(provider: str, status: str) -> SimulationError:
    return SimulationError(f"{provider} sends no webhook meaning {status}")


def base_url(settings: Settings, name: str) -> str | None:
    """A `*_BASE_URL` setting: a sandbox, a proxy or a local fake instead of the provider's API."""
    return settings.get(name).strip() or None
