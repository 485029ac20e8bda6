"""Razorpay Orders: an order created server-side, paid in Razorpay Checkout on the client, and signed
webhooks.

Checkout: `POST /v1/orders` with Basic auth (`key_id:key_secret`). Our order_id is the order's `receipt`
(at most 40 characters; ours are 25) and also the order's `notes.order_id`. Razorpay has no hosted page for
orders: the result has no redirect URL, and its `token` is the Razorpay order id that the client passes,
with the public key id, to Razorpay Checkout. We keep the Razorpay order id as the payment's provider
reference (`attach_checkout`).

What binds an event to our payment: the Razorpay order id — `payment.order_id` on payment and refund
events, the order entity's `id` on order events — which Razorpay assigned to the order our server created;
`order.paid` also carries our receipt, which our server set. A *payment's* `notes` are copied from the
Checkout options, which the buyer's browser controls: they are only a cross-check (`client_order_id`), and
an event whose payment notes name another order is recorded as failed.

Amounts: Razorpay's units are the currency's ISO subunits (paise for INR; JPY as is; KWD, BHD, OMR with
three decimals, whose last digit must be 0 — an amount that does not end in 0 is refused, never rounded).

Signatures: webhooks carry `X-Razorpay-Signature` = hex HMAC-SHA256 of the raw body keyed with the
*webhook* secret (not the API key secret); the Checkout handler's `razorpay_signature` is hex HMAC-SHA256
of `"{razorpay_order_id}|{razorpay_payment_id}"` keyed with the key secret. Both compared in constant time.
No timestamps, so no tolerance window.

Event key: the `X-Razorpay-Event-Id` header (unique per event, repeated on redelivery). If it is ever
missing: `{event}:{entity id}:{created_at}` (the refund's or dispute's id first). Status lookups are keyed
`status:{razorpay order id}:{our status}:{payment id}`, a refund's with `:{amount_refunded}` appended.

Status mapping: payment.captured, order.paid -> paid; payment.failed -> failed (one failed attempt; the
order can still be paid by another); refund.processed, payment.refunded -> refund, with the payment's
`amount_refunded` (cumulative; the refund entity's `amount` is that one refund only, so it is never used:
without the payment entity the refund has no amount and SQL records it failed); payment.dispute.created
-> dispute_opened; payment.dispute.won -> dispute_won; payment.dispute.lost -> dispute_lost;
payment.dispute.closed -> by the dispute entity's status (won or lost), else None; every other event
(refund.created before it is processed, dispute.under_review, action_required ...) -> None (ignored).
Dispute events carry the disputed payment, whose `order_id` binds them like any payment event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from thinbase.errors import ProviderError, SimulationError, WebhookPayloadError, WebhookSignatureError
from thinbase.settings import Settings

from . import _http
from ._payload import dig, from_unix, header, integer, load_object, text
from .amounts import from_provider_units, to_provider_units
from .base import CheckoutRequest, CheckoutResult, EventStatus, PaymentEvent
from .descriptor import (
    ProviderDescriptor,
    SampleEvent,
    SampleOrder,
    SampleTag,
    SampleWebhook,
    base_url,
    secrets,
)

API_BASE = "https://api.razorpay.com"
RECEIPT_LIMIT = 40

_EVENTS: dict[str, EventStatus] = {
    "payment.captured": "paid",
    "order.paid": "paid",
    "payment.failed": "failed",
    "refund.processed": "refund",
    "payment.refunded": "refund",
    "payment.dispute.created": "dispute_opened",
    "payment.dispute.won": "dispute_won",
    "payment.dispute.lost": "dispute_lost",
}
_DISPUTE_CLOSED: dict[str, EventStatus] = {"won": "dispute_won", "lost": "dispute_lost"}


def hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def checkout_signature(secret: str, *parts: str) -> str:
    """Razorpay's signature over `|`-joined ids: (order, payment) for orders, (payment, subscription) for
    subscriptions, (link, reference, status, payment) for payment links."""
    return hmac_hex(secret, "|".join(parts).encode())


def normalize_status(event: str, dispute: Any = None) -> EventStatus | None:
    """Our action for a Razorpay event; a closed dispute by its entity's `status`."""
    if event == "payment.dispute.closed":
        return _DISPUTE_CLOSED.get(text(dispute, "status") or "")
    return _EVENTS.get(event)


def to_razorpay_amount(amount_minor: int, currency: str, exponent: int) -> int:
    return to_provider_units(
        amount_minor,
        exponent,
        exponent,
        provider="razorpay",
        currency=currency,
        multiple_of=10 if exponent == 3 else 1,
    )


def _describe(body: Any) -> tuple[str | None, str | None]:
    error = dig(body, "error")
    if isinstance(error, dict):
        return text(error, "code"), text(error, "description")
    return None, None


def _amount(entity: Any, field: str, exponents: Mapping[str, int]) -> tuple[int | None, str | None]:
    currency = (text(entity, "currency") or "").upper() or None
    units = integer(entity, field)
    if currency is None or units is None or currency not in exponents:
        return None, currency
    return from_provider_units(units, exponents[currency], exponents[currency]), currency


class RazorpayProvider:
    """Razorpay orders, payment lookups and signed webhooks."""

    name = "razorpay"
    confirm_statuses: frozenset[EventStatus] = frozenset()  # the signature covers the whole body

    def __init__(
        self,
        key_id: str,
        key_secret: str,
        webhook_secret: str,
        base_url: str | None,
        http: httpx.Client,
        timeout: float = 10.0,
    ) -> None:
        self.key_id = key_id  # public; Razorpay Checkout in the browser needs it
        self._key_secret = key_secret
        self._webhook_secret = webhook_secret
        self._base = (base_url or API_BASE).rstrip("/")
        self._http = http
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"RazorpayProvider(base={self._base!r}, key_id={self.key_id!r})"

    def _headers(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.key_id}:{self._key_secret}".encode()).decode()
        return {"Authorization": f"Basic {token}", "Accept": "application/json"}

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> httpx.Response:
        return _http.send(
            self._http,
            self.name,
            "GET",
            self._base + path,
            timeout=self._timeout,
            headers=self._headers(),
            params=params,
        )

    def create_checkout(self, request: CheckoutRequest) -> CheckoutResult:
        if len(request.order_id) > RECEIPT_LIMIT:
            raise ProviderError(
                "order_id_too_long",
                f"razorpay receipts hold at most {RECEIPT_LIMIT} characters",
                provider=self.name,
            )
        body = {
            "amount": to_razorpay_amount(request.amount_minor, request.currency, request.exponent),
            "currency": request.currency,
            "receipt": request.order_id,
            "notes": {"order_id": request.order_id, "plan_code": request.plan_code},
        }
        response = _http.send(
            self._http,
            self.name,
            "POST",
            f"{self._base}/v1/orders",
            timeout=self._timeout,
            headers=self._headers() | {"Content-Type": "application/json"},
            content=json.dumps(body).encode(),
        )
        data = _http.json_object(response, self.name, ok=(200,), describe=_describe)
        razorpay_order_id = text(data, "id")
        if razorpay_order_id is None:
            raise _http.bad_response(self.name, "the order id", response.status_code)
        return CheckoutResult(
            provider_payment_id=razorpay_order_id, redirect_url=None, token=razorpay_order_id, expires_at=None
        )

    def fetch_status(
        self, order_id: str, provider_payment_id: str | None, *, amount_exponent: int
    ) -> PaymentEvent | None:
        razorpay_order_id = provider_payment_id
        if not razorpay_order_id:
            response = self._get("/v1/orders", {"receipt": order_id})
            listing = _http.json_object(response, self.name, ok=(200,), describe=_describe)
            items = listing.get("items")
            if not isinstance(items, list) or not items:
                return None
            razorpay_order_id = text(items[0], "id")
            if razorpay_order_id is None:
                raise _http.bad_response(self.name, "the order id", response.status_code)
        response = self._get(f"/v1/orders/{quote(razorpay_order_id, safe='')}/payments")
        # Razorpay answers an unknown id with 400 "The id provided does not exist".
        if response.status_code == 404 or (
            response.status_code == 400 and b"does not exist" in response.content
        ):
            return None
        listing = _http.json_object(response, self.name, ok=(200,), describe=_describe)
        payments = [item for item in listing.get("items") or [] if isinstance(item, dict)]
        chosen, status = _summarize(payments)
        if chosen is None or status is None:
            return None
        currency = (text(chosen, "currency") or "").upper()
        field = "amount_refunded" if status == "refund" else "amount"
        amount, currency_code = _amount(chosen, field, {currency: amount_exponent})
        key = f"status:{razorpay_order_id}:{status}:{text(chosen, 'id') or '-'}"
        if status == "refund":  # each cumulative amount is its own state
            key += f":{integer(chosen, 'amount_refunded')}"
        return PaymentEvent(
            event_key=key,
            event_type=f"payment.{text(chosen, 'status') or 'unknown'}",
            order_id=order_id,
            status=status,
            amount_minor=amount,
            currency=currency_code,
            occurred_at=from_unix(chosen.get("created_at")) if status == "paid" else None,
            payload=chosen,
            provider_reference=razorpay_order_id,
        )

    def verify_checkout_signature(
        self, razorpay_order_id: str, razorpay_payment_id: str, signature: str
    ) -> None:
        """Check the `razorpay_signature` the Checkout handler returns to the client."""
        expected = checkout_signature(self._key_secret, razorpay_order_id, razorpay_payment_id)
        if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
            raise WebhookSignatureError("bad_signature", "razorpay checkout signature does not match")

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> None:
        received = header(headers, "X-Razorpay-Signature")
        if not received:
            raise WebhookSignatureError("missing_signature", "no X-Razorpay-Signature header")
        expected = hmac_hex(self._webhook_secret, body)
        if not hmac.compare_digest(expected.encode(), received.strip().encode()):
            raise WebhookSignatureError("bad_signature", "X-Razorpay-Signature does not match the body")

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, exponents: Mapping[str, int]
    ) -> PaymentEvent:
        data = load_object(body, self.name)
        event = text(data, "event")
        if event is None:
            raise WebhookPayloadError("malformed_body", "razorpay webhook lacks event")
        payment = dig(data, "payload", "payment", "entity")
        order = dig(data, "payload", "order", "entity")
        refund = dig(data, "payload", "refund", "entity")
        dispute = dig(data, "payload", "dispute", "entity")
        status = normalize_status(event, dispute)
        if status == "refund":
            # Cumulative, from the payment: see the module docstring.
            amount, currency = _amount(payment, "amount_refunded", exponents)
        elif payment is not None:
            amount, currency = _amount(payment, "amount", exponents)
        else:
            amount, currency = _amount(order, "amount_paid", exponents)
        entity_id = text(refund or dispute or payment or order, "id") or "-"
        key = (
            header(headers, "X-Razorpay-Event-Id") or f"{event}:{entity_id}:{text(data, 'created_at') or '-'}"
        )
        return PaymentEvent(
            event_key=key,
            event_type=event,
            order_id=text(order, "receipt"),  # set by our server's POST /v1/orders
            status=status,
            amount_minor=amount,
            currency=currency,
            occurred_at=from_unix(data.get("created_at")),
            payload=data,
            provider_reference=text(payment, "order_id") or text(order, "id"),
            client_order_id=text(payment, "notes", "order_id"),
        )


def _summarize(payments: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, EventStatus | None]:
    """The payment that decides an order's state, and that state: refunded (in part or in full) beats paid
    beats pending (authorized, not yet captured) beats failed (every attempt failed)."""
    for payment in payments:
        if payment.get("status") == "refunded" or payment.get("refund_status") in ("partial", "full"):
            return payment, "refund"
    for payment in payments:
        if payment.get("status") == "captured":
            return payment, "paid"
    for payment in payments:
        if payment.get("status") in ("created", "authorized"):
            return payment, "pending"
    if payments and all(payment.get("status") == "failed" for payment in payments):
        return payments[0], "failed"
    return None, None


# -- the descriptor ---------------------------------------------------------------------------------------

# Every event normalize_status maps (refund.created and refund.failed are not: only a processed refund
# moves money back); payment.dispute.closed by the dispute's status (won, lost). Refunds and disputes come
# after a captured payment, a dispute's end after it was opened.
_CAPTURED = "payment.captured"
_DISPUTED = "payment.dispute.created"
SAMPLE_EVENTS = (
    SampleEvent(_CAPTURED, "paid", simulates=True),
    SampleEvent("order.paid", "paid"),
    SampleEvent("payment.failed", "failed", simulates=True),
    SampleEvent("refund.processed", "refund", after=_CAPTURED, simulates=True, reaches="refunded"),
    SampleEvent("payment.refunded", "refund", after=_CAPTURED, reaches="refunded"),
    SampleEvent(_DISPUTED, "dispute_opened", after=_CAPTURED, reaches="disputed"),
    SampleEvent("payment.dispute.won", "dispute_won", after=_DISPUTED, reaches="paid"),
    SampleEvent("payment.dispute.lost", "dispute_lost", after=_DISPUTED, reaches="charged_back"),
    SampleEvent("payment.dispute.closed", "dispute_won", variant="won", after=_DISPUTED, reaches="paid"),
    SampleEvent(
        "payment.dispute.closed", "dispute_lost", variant="lost", after=_DISPUTED, reaches="charged_back"
    ),
)
# A dispute entity's status for each dispute event.
_DISPUTE_STATUS = {_DISPUTED: "open", "payment.dispute.won": "won", "payment.dispute.lost": "lost"}


def _sample_id(prefix: str, tag: SampleTag) -> str:
    """A Razorpay-shaped id (`pay_` + 14 characters) that starts with the tag."""
    return f"{prefix}_{tag}{uuid.uuid4().hex[:11]}"


def sample_webhook(
    settings: Settings, order: SampleOrder, event: SampleEvent, url: str, *, tag: SampleTag
) -> SampleWebhook:
    """A signed event as Razorpay sends it, about the Razorpay order the checkout created."""
    (secret,) = secrets(settings, "RAZORPAY_WEBHOOK_SECRET")
    if order.provider_reference is None:
        # Razorpay's events name the Razorpay order our checkout created; without one nothing binds them.
        raise SimulationError(f"{order.order_id} has no Razorpay order yet: start its checkout first")
    units = to_razorpay_amount(order.amount_minor, order.currency, order.exponent)
    now = int(time.time())
    failed, refunded = event.status == "failed", event.status == "refund"
    payment: dict[str, Any] = {
        "id": _sample_id("pay", tag),
        "entity": "payment",
        "amount": units,
        "currency": order.currency,
        "status": "failed" if failed else "refunded" if refunded else "captured",
        "order_id": order.provider_reference,
        "method": "upi",
        "captured": not failed,
        "amount_refunded": units if refunded else 0,
        "refund_status": "full" if refunded else None,
        "notes": {"order_id": order.order_id},
        "created_at": now,
    }
    if failed:
        payment |= {
            "error_code": "BAD_REQUEST_ERROR",
            "error_description": "Payment failed",
            "error_reason": "payment_failed",
        }
    payload: dict[str, Any] = {"payment": {"entity": payment}}
    if event.type == "order.paid":
        payload["order"] = {
            "entity": {
                "id": order.provider_reference,
                "entity": "order",
                "amount": units,
                "amount_paid": units,
                "amount_due": 0,
                "currency": order.currency,
                "receipt": order.order_id,
                "status": "paid",
                "attempts": 1,
                "notes": {"order_id": order.order_id},
                "created_at": now - 60,
            }
        }
    if event.type.startswith("payment.dispute."):
        payload["dispute"] = {
            "entity": {
                "id": _sample_id("disp", tag),
                "entity": "dispute",
                "payment_id": payment["id"],
                "amount": units,
                "currency": order.currency,
                "amount_deducted": units if event.status == "dispute_lost" else 0,
                "reason_code": "chargeback",
                "status": event.variant or _DISPUTE_STATUS[event.type],
                "phase": "chargeback",
                "created_at": now,
            }
        }
    if refunded:
        payload["refund"] = {
            "entity": {
                "id": _sample_id("rfnd", tag),
                "entity": "refund",
                "amount": units,
                "currency": order.currency,
                "payment_id": payment["id"],
                "notes": {"order_id": order.order_id},
                "status": "processed",
                "created_at": now,
            }
        }
    body = json.dumps(
        {
            "entity": "event",
            "account_id": "acc_simulated",
            "event": event.type,
            "contains": list(payload),
            "payload": payload,
            "created_at": now,
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Razorpay-Signature": hmac_hex(secret, body),
        "X-Razorpay-Event-Id": _sample_id("evt", tag),
    }
    return SampleWebhook("razorpay", headers, body)


def _build(settings: Settings, http: httpx.Client) -> RazorpayProvider:
    return RazorpayProvider(
        settings.get("RAZORPAY_KEY_ID").strip(),
        settings.get("RAZORPAY_KEY_SECRET").strip(),
        settings.get("RAZORPAY_WEBHOOK_SECRET").strip(),
        base_url(settings, "RAZORPAY_BASE_URL"),
        http,
    )


DESCRIPTOR = ProviderDescriptor(
    name="razorpay",
    label="Razorpay Orders",
    required_settings=("RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET", "RAZORPAY_WEBHOOK_SECRET"),
    build=_build,
    sample_webhook=sample_webhook,
    sample_events=SAMPLE_EVENTS,
    sample_currency="INR",
    sample_reference=lambda tag: _sample_id("order", tag),  # the Razorpay order our checkout would create
)
