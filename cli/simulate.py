"""Signed webhooks built from the configured secrets, as each provider would send them (`thinbase webhooks
simulate` and `thinbase webhooks trigger`, like `stripe trigger`): testing a deployment end to end without
the provider.

Each provider's descriptor lists the events its normalizer maps and builds any of them (`sample_events` and
`sample_webhook` in the provider's module), signed with the same functions the edge app verifies with.
`simulate --status S` sends the provider's event for S; `trigger` takes the event by its own name. Event ids
carry `sim` (simulate) or `trg` (trigger) so both are recognizable in the ledger.

An event that names only the provider's own object (a Stripe charge or dispute: its PaymentIntent) is bound
by the edge app asking the provider, so its sample must name the object the provider knows for the order's
checkout: `locate` asks the configured provider for it first, and says plainly when it knows none.
"""

from __future__ import annotations

from dataclasses import replace

import httpx

from thinbase.errors import ProviderError, SimulationError
from thinbase.functions.payments.providers.base import Locating, PaymentEvent, PaymentStatus, Provider
from thinbase.functions.payments.providers.descriptor import (
    ProviderDescriptor,
    SampleEvent,
    SampleOrder,
    SampleTag,
    SampleWebhook,
)
from thinbase.functions.payments.providers.registry import PROVIDER_NAMES, PROVIDERS, build_providers
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


def simulated(provider: str, status: PaymentStatus) -> SampleEvent:
    """The event `simulate --status` sends to bring a payment to `status`."""
    return descriptor(provider).simulated_event(status)


def build(
    provider: str, settings: Settings, order: Order, status: PaymentStatus, url: str
) -> SimulatedWebhook:
    """A signed webhook for `order` reaching `status`, to POST to `url` (the edge app's webhook route)."""
    return build_event(provider, settings, order, simulated(provider, status), url, tag="sim")


def locate(provider: str, settings: Settings, http: httpx.Client, order: Order, event: SampleEvent) -> Order:
    """`order` with the provider's own object a `located` event must name (a Stripe PaymentIntent), asked of
    the configured provider; `order` itself for any other event. SimulationError when the provider is not
    configured here, cannot be asked, or knows none for the order's checkout."""
    found = descriptor(provider)
    if not event.located or found.sample_locate is None:
        return order
    checker = build_providers(settings, http).get(provider)
    if checker is None:
        raise SimulationError(
            f"{', '.join(found.required_settings)} must be set here: {event.name} names {provider}'s own "
            f"object for the order's checkout, which only {found.label} can say"
        )
    try:
        reference = found.sample_locate(checker, order)
    except ProviderError as exc:
        raise SimulationError(
            f"{found.label} could not be asked about {order.order_id}: {exc.message}"
        ) from exc
    if reference is None:
        raise SimulationError(
            f"{event.name} for {order.order_id} cannot be located: {found.label} knows no payment of its "
            f"checkout {order.provider_reference or '(none)'} (a checkout has one once it is paid), so the "
            "edge app could not bind the event. Pay the order's checkout first (on the fake's hosted page "
            f"when {provider.upper()}_BASE_URL points at the fake), then send it with --order"
        )
    return replace(order, locate_reference=reference)


def bound_here(checker: Provider, parsed: PaymentEvent) -> PaymentEvent:
    """`parsed` as the edge app binds it: itself, or, for an event naming only the provider's own object,
    the event `locate` binds (asking the provider, as the edge app will). SimulationError when the provider
    cannot be asked; an unbound event comes back unbound."""
    if parsed.bound or parsed.locate_reference is None or not isinstance(checker, Locating):
        return parsed
    try:
        located = checker.locate(parsed)
    except ProviderError as exc:
        raise SimulationError(
            f"{checker.name} could not be asked where the event belongs: {exc.message}"
        ) from exc
    return located if located is not None else parsed
