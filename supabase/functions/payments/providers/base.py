"""The shapes every provider module shares: what we ask for, what we get back, and what a provider tells us.

A provider module turns our `CheckoutRequest` into its own API call, and turns whatever it reports later
(a signed webhook, or the answer of its status API) into one `PaymentEvent`. SQL
(`apply_payment_event`) decides what that event does to a payment; the provider layer never does.

Amounts in these shapes are always ours: integer minor units of an ISO 4217 currency whose exponent comes
from the `currencies` table. Each provider module converts to and from its own units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, get_args, runtime_checkable

# A payment's status (payments.status): the one list every other list of payment statuses derives from (the
# CLI's filters, reports).
PaymentStatus = Literal[
    "pending", "paid", "partially_refunded", "refunded", "disputed", "charged_back", "failed", "expired"
]
PAYMENT_STATUSES: tuple[PaymentStatus, ...] = get_args(PaymentStatus)

# What an event reports (apply_payment_event's `status`): a normalized action, which SQL turns into the
# payment's next status. `refund` carries the provider's cumulative refunded amount as `amount_minor`;
# `refunded` (a full refund, whatever the amount) is what DOKU's status inquiry can say.
EventStatus = Literal[
    "pending",
    "paid",
    "failed",
    "expired",
    "refund",
    "refunded",
    "dispute_opened",
    "dispute_won",
    "dispute_lost",
]
EVENT_STATUSES: tuple[EventStatus, ...] = get_args(EventStatus)


@dataclass(frozen=True)
class CheckoutRequest:
    """A checkout to open at a provider for one pending payment."""

    order_id: str  # ours; goes into the provider's reference/metadata so webhooks map back to it
    amount_minor: int
    currency: str  # ISO 4217, upper case
    exponent: int  # ISO 4217 exponent of `currency`, from our currencies table
    plan_code: str
    plan_name: str
    customer_email: str
    customer_name: str | None
    return_url: str
    cancel_url: str | None
    idempotency_key: str
    expires_at: datetime  # aware; when our payment expires


@dataclass(frozen=True)
class CheckoutResult:
    """What the provider gave back: where to send the customer and/or a token for its client-side widget."""

    provider_payment_id: str | None
    redirect_url: str | None
    token: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class PaymentEvent:
    """One thing a provider reported, normalized.

    `status` is None for an event type we do not handle: the webhook is answered 200 and recorded as
    ignored, never refused (providers disable endpoints that keep failing). `event_key` is unique per
    provider event and identical on every redelivery of it; the webhook ledger deduplicates on it.

    What binds the event to our payment is only ever something our server set when it created the
    checkout (README, "What binds an event to a payment"):
    - `order_id`: our order id, read only from a field our server set (Midtrans order_id, DOKU invoice
      number, Stripe client_reference_id or PaymentIntent metadata, Lemon Squeezy custom data of our API
      checkout, Razorpay receipt); None when the event has no such field.
    - `provider_reference`: the provider's id of the object our server created (a Razorpay order, a
      Stripe Checkout Session), stored on the payment at checkout; when set, SQL finds the payment by it.
    - `client_order_id`: our order id as a field the buyer's client can set names it (Razorpay payment
      notes). Never used to find a payment; SQL fails an event whose client field disagrees.
    """

    event_key: str
    event_type: str
    order_id: str | None
    status: EventStatus | None
    amount_minor: int | None
    currency: str | None
    occurred_at: datetime | None
    payload: dict[str, Any] = field(repr=False)
    provider_reference: str | None = None
    client_order_id: str | None = None
    # The provider's id of an object our server did not create (a Stripe PaymentIntent, which charges and
    # disputes name): not a binding, only what the provider's API can map to one (`Locating.locate`).
    locate_reference: str | None = None

    @property
    def bound(self) -> bool:
        """Whether the event names a payment through something our server set."""
        return self.order_id is not None or self.provider_reference is not None

    def apply_arguments(self, provider: str) -> dict[str, Any]:
        """The named arguments of `apply_payment_event` for this event (webhooks, replays, reconciliation)."""
        return {
            "provider": provider,
            "event_key": self.event_key,
            "event_type": self.event_type,
            "order_id": self.order_id,
            "status": self.status,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "occurred_at": self.occurred_at.isoformat() if self.occurred_at else None,
            "payload": self.payload,
            "provider_reference": self.provider_reference,
            "client_order_id": self.client_order_id,
        }


class Provider(Protocol):
    """What the edge handler and the CLI need from a payment provider."""

    name: str  # its descriptor's name (registry.PROVIDER_NAMES)
    # Statuses a notification cannot prove, because its signature does not cover the fields that decide
    # them (Midtrans signs order_id, status_code and gross_amount, not transaction_status). The webhook
    # route applies such an event only as the provider's status API confirms it (`fetch_status`).
    confirm_statuses: frozenset[EventStatus]

    def create_checkout(self, request: CheckoutRequest) -> CheckoutResult:
        """Open a checkout. Raises ProviderError (ProviderTimeout when the provider did not answer)."""
        ...

    def fetch_status(
        self, order_id: str, provider_payment_id: str | None, *, amount_exponent: int
    ) -> PaymentEvent | None:
        """Ask the provider where a payment stands (reconciliation); None when it knows nothing yet."""
        ...

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> None:
        """Check the signature over the raw body; raise WebhookSignatureError if it does not hold."""
        ...

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, exponents: Mapping[str, int]
    ) -> PaymentEvent:
        """Normalize a verified webhook. `exponents` maps currency codes to their exponent.

        Raises WebhookPayloadError for a body we cannot read.
        """
        ...


@runtime_checkable
class Locating(Protocol):
    """A provider whose events may name only an object of its own (`PaymentEvent.locate_reference`)."""

    def locate(self, event: PaymentEvent) -> PaymentEvent | None:
        """The event bound to the checkout our server created for that object, asked of the provider's API;
        None when the provider knows no checkout of ours for it. Raises ProviderError when it cannot be asked
        (the webhook answers 503, so the provider redelivers)."""
        ...
