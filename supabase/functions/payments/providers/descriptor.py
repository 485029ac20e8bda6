"""What the rest of thinbase knows about a payment provider: one `ProviderDescriptor`, defined at the end of
the provider's own module as `DESCRIPTOR`. The registry finds every descriptor and derives each list of
providers from them (which are built, which the checkout offers, which the CLI accepts, what `doctor`
checks, how `webhooks simulate` and `webhooks trigger` sign a sample), so adding a provider is one module, one
migration (its row in `public.payment_providers`) and its tests.

Samples: each descriptor lists the webhooks its provider sends that our normalizer maps (`sample_events`), and
one builder (`sample_webhook`) makes a signed, realistic body for any of them. `webhooks trigger` offers every
listed event; `webhooks simulate --status S` sends the one event marked `simulates` that brings a payment to
S. An event type a later feature handles (a renewal) is one more `SampleEvent` line, plus a branch in the
builder if its body differs.

An event that names only an object of the provider's own (a Stripe charge or dispute names a PaymentIntent,
which the edge app binds by asking Stripe: `Locating.locate`) needs that object as the provider knows it for
the order's checkout: the descriptor's `sample_locate` asks the provider for it
(`SampleOrder.locate_reference`) before such a sample is built, so the edge app can bind it; a made-up one
could never be located.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

import httpx

from thinbase.errors import SimulationError
from thinbase.settings import Settings

from .base import PAYMENT_STATUSES, EventStatus, PaymentStatus, Provider


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
    # The provider's own object a `located` event names (a Stripe PaymentIntent), as the provider knows it
    # for this order's checkout (`ProviderDescriptor.sample_locate`); None: not asked.
    locate_reference: str | None = None

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


@dataclass(frozen=True)
class SampleEvent:
    """One webhook the provider sends that our normalizer maps to `status`."""

    type: str  # the provider's event type (Stripe `charge.refunded`, Midtrans `settlement`, DOKU `SUCCESS`)
    status: EventStatus  # what the normalizer makes of it: the normalized action (`refund`, `dispute_lost`)
    # Where one type maps to several outcomes by a field of the body (Stripe payment_status or a dispute's
    # status, Midtrans fraud_status, a Lemon Squeezy order's status), that field's value; for a refund in part
    # of a provider whose refund events look alike, `partial`. None for the usual one.
    variant: str | None = None
    # For a fresh order, the event sent first (by name): a refund is only applied to a paid payment, a closed
    # dispute to a disputed one.
    after: str | None = None
    # What `webhooks simulate --status <reaches>` sends: at most one event per status and provider.
    simulates: bool = False
    # The payment's status once the event is applied after its `after` chain (a refund of all of it:
    # refunded; of a part: partially_refunded); None where that is `status` itself (paid, failed ...).
    reaches: PaymentStatus | None = None
    # Whether the event names only the provider's own object, which the edge app binds by asking the
    # provider (a Stripe charge or dispute; see the module docstring).
    located: bool = False

    def __post_init__(self) -> None:
        if self.reaches is None and self.status not in PAYMENT_STATUSES:
            raise ValueError(f"{self.name}: say which payment status {self.status!r} reaches")

    @property
    def payment_status(self) -> PaymentStatus:
        """The payment's status after this event (see `reaches`)."""
        if self.reaches is not None:
            return self.reaches
        for status in PAYMENT_STATUSES:  # checked in __post_init__
            if status == self.status:
                return status
        raise AssertionError(self.status)

    @property
    def name(self) -> str:
        """What `webhooks trigger PROVIDER EVENT` takes: the type, or TYPE:VARIANT."""
        return f"{self.type}:{self.variant}" if self.variant else self.type


# Event ids, transaction ids and Request-Ids of samples carry this, so the ledger shows where they came from.
SampleTag = Literal["sim", "trg"]


class SampleBuilder(Protocol):
    """(settings, order, event, the URL it will be posted to) -> the signed webhook. Raises SimulationError
    for a secret that is not set or an order nothing binds (a Razorpay order without its Razorpay order)."""

    def __call__(
        self, settings: Settings, order: SampleOrder, event: SampleEvent, url: str, *, tag: SampleTag
    ) -> SampleWebhook: ...


@dataclass(frozen=True)
class ProviderDescriptor:
    name: str  # as in payments.provider and the webhook route: /webhooks/{name}
    label: str  # for people: "Stripe Checkout"
    required_settings: tuple[str, ...]  # all present: the provider is built; some only: doctor fails
    build: Callable[[Settings, httpx.Client], Provider]
    sample_webhook: SampleBuilder
    sample_events: tuple[SampleEvent, ...]
    # The currency a fresh order of `webhooks trigger` is in (one the provider takes).
    sample_currency: str
    # The provider reference a checkout stores on the payment (payments.provider_payment_id: a Stripe
    # session, a Razorpay order), made up for a fresh order of `webhooks trigger`; None where the
    # provider's events bind by our order id alone.
    sample_reference: Callable[[SampleTag], str] | None = None
    # For `located` events: (the provider built from the settings, the order) -> the provider's object the
    # event must name for the edge app to bind it to the order's checkout (Stripe: the PaymentIntent of the
    # order's Checkout Session, asked of Stripe), or None when the provider knows none (a made-up or unpaid
    # session). Raises ProviderError when the provider cannot be asked.
    sample_locate: Callable[[Provider, SampleOrder], str | None] | None = None
    # A warning about a configured provider that will still fail (doctor): (detail, hint), or None.
    warning: Callable[[Settings], tuple[str, str] | None] = lambda settings: None

    def configured(self, settings: Settings) -> bool:
        return all(settings.get(name).strip() for name in self.required_settings)

    def sample_event(self, name: str) -> SampleEvent:
        """The listed event called `name`; SimulationError naming the valid ones."""
        for event in self.sample_events:
            if event.name == name:
                return event
        raise SimulationError(
            f"{self.name} sends no event {name!r} that thinbase maps; one of "
            + ", ".join(event.name for event in self.sample_events)
        )

    def simulated_event(self, status: PaymentStatus) -> SampleEvent:
        """What `webhooks simulate --status` sends for `status`; SimulationError if the provider never
        reports it."""
        for event in self.sample_events:
            if event.simulates and event.payment_status == status:
                return event
        raise unsupported(self.name, status)


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
