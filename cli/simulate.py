"""Signed webhooks built from the configured secrets, as each provider would send them (`thinbase webhooks
simulate`, like `stripe trigger`): testing a deployment end to end without the provider.

Each provider's descriptor builds its own sample (`sample_webhook` in the provider's module), signed with
the same functions the edge app verifies with. Event ids carry `sim` so simulated events are recognizable
in the ledger.
"""

from __future__ import annotations

from thinbase.errors import ProviderError, SimulationError
from thinbase.functions.payments.providers.base import PaymentStatus
from thinbase.functions.payments.providers.descriptor import SampleOrder, SampleWebhook
from thinbase.functions.payments.providers.registry import PROVIDER_NAMES, PROVIDERS
from thinbase.settings import Settings

Order = SampleOrder
SimulatedWebhook = SampleWebhook
# What a sample can bring a payment to (refunded: a full refund); not every status a payment can have.
STATUSES: tuple[PaymentStatus, ...] = ("pending", "paid", "failed", "expired", "refunded")


def status_named(value: str) -> PaymentStatus:
    """The PaymentStatus spelled `value` (what a CLI choice gives as text)."""
    for status in STATUSES:
        if status == value:
            return status
    raise SimulationError(f"unknown status {value!r}; one of {', '.join(STATUSES)}")


def build(
    provider: str, settings: Settings, order: Order, status: PaymentStatus, url: str
) -> SimulatedWebhook:
    """A signed webhook for `order` reaching `status`, to POST to `url` (the edge app's webhook route)."""
    descriptor = PROVIDERS.get(provider)
    if descriptor is None:
        raise SimulationError(f"unknown provider {provider!r}; one of {', '.join(PROVIDER_NAMES)}")
    try:
        return descriptor.sample_webhook(settings, order, status, url)
    except ProviderError as exc:  # an amount the provider cannot represent
        raise SimulationError(exc.message) from exc
