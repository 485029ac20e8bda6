"""Signed webhooks built from the configured secrets, as each provider would send them (`thinbase webhooks
simulate` and `thinbase webhooks trigger`, like `stripe trigger`): testing a deployment end to end without
the provider.

Each provider's descriptor lists the events its normalizer maps and builds any of them (`sample_events` and
`sample_webhook` in the provider's module), signed with the same functions the edge app verifies with.
`simulate --status S` sends the provider's event for S; `trigger` takes the event by its own name. Event ids
carry `sim` (simulate) or `trg` (trigger) so both are recognizable in the ledger.
"""

from __future__ import annotations

from thinbase.errors import ProviderError, SimulationError
from thinbase.functions.payments.providers.base import PAYMENT_STATUSES, PaymentStatus
from thinbase.functions.payments.providers.descriptor import (
    ProviderDescriptor,
    SampleEvent,
    SampleOrder,
    SampleTag,
    SampleWebhook,
)
from thinbase.functions.payments.providers.registry import PROVIDER_NAMES, PROVIDERS
from thinbase.settings import Settings

Order = SampleOrder
SimulatedWebhook = SampleWebhook
STATUSES: tuple[PaymentStatus, ...] = PAYMENT_STATUSES


def status_named(value: str) -> PaymentStatus:
    """The PaymentStatus spelled `value` (what a CLI choice gives as text)."""
    for status in STATUSES:
        if status == value:
            return status
    raise SimulationError(f"unknown status {value!r}; one of {', '.join(STATUSES)}")


def descriptor(provider: str) -> ProviderDescriptor:
    found = PROVIDERS.get(provider)
    if found is None:
        raise SimulationError(f"unknown provider {provider!r}; one of {', '.join(PROVIDER_NAMES)}")
    return found


def events(provider: str) -> tuple[SampleEvent, ...]:
    """The events `trigger` offers for `provider`: every one its normalizer maps."""
    return descriptor(provider).sample_events


def build_event(
    provider: str, settings: Settings, order: Order, event: SampleEvent, url: str, *, tag: SampleTag = "trg"
) -> SimulatedWebhook:
    """A signed webhook of `event` about `order`, to POST to `url` (the edge app's webhook route)."""
    try:
        return descriptor(provider).sample_webhook(settings, order, event, url, tag=tag)
    except ProviderError as exc:  # an amount the provider cannot represent
        raise SimulationError(exc.message) from exc


def build(
    provider: str, settings: Settings, order: Order, status: PaymentStatus, url: str
) -> SimulatedWebhook:
    """A signed webhook for `order` reaching `status`, to POST to `url` (the edge app's webhook route)."""
    event = descriptor(provider).simulated_event(status)
    return build_event(provider, settings, order, event, url, tag="sim")
