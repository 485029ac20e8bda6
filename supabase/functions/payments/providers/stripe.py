"""Stripe Checkout: hosted checkout sessions (mode=payment) and `Stripe-Signature` webhooks.

Checkout: `POST /v1/checkout/sessions`, form-encoded (nested keys as `a[b][0][c]`), Bearer secret key, and
our idempotency key as the `Idempotency-Key` header, so a retried create returns the same session. Our
order_id goes into `client_reference_id`, the session's `metadata[order_id]` and the PaymentIntent's
`payment_intent_data[metadata][order_id]` (the last one is what reaches `charge.refunded`). Our expiry is
sent as `expires_at` when it lies 31 minutes to 23 hours ahead; otherwise none is sent and Stripe's
default of 24 hours applies (a clamped value would change between retries of one Idempotency-Key, which
Stripe refuses; a payment paid after our own expiry is still accepted by SQL).

Amounts: Stripe's units are minor units with Stripe's own decimals per currency: zero-decimal currencies
(JPY, KRW, VND ...) are sent as is; three-decimal ones (BHD, JOD, KWD, OMR, TND) are x1000 and must end in 0
(an amount that does not is refused, never rounded); ISK is sent with two decimals although ISO gives it
none (whole krónur only, which our exponent-0 amounts always are); everything else has two decimals.

Signature: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`; each v1 is HMAC-SHA256, keyed with the
whole endpoint secret (`whsec_...` as UTF-8, not decoded), over `"{t}." + raw body`. Any v1 may match
(secret rotation); other schemes (v0) are ignored. Unlike Stripe's SDK we reject timestamps more than 300 s
old *and* more than 300 s in the future.

What binds an event to our payment: on `checkout.session.*` events the session's `id`, which Stripe
assigned to the session our server created and we keep as the payment's provider reference, and its
`client_reference_id`. `charge.*` events (refunds, disputes) name a PaymentIntent, which we never stored,
and metadata, which we do not trust for a binding: `locate` asks Stripe which Checkout Session that
PaymentIntent belongs to (`GET /v1/checkout/sessions?payment_intent=`, secret key) and binds the event to
that session as a provider reference, which SQL matches against the one stored at checkout. When Stripe
cannot be asked, the webhook answers 503 and Stripe redelivers.

Event key: Stripe's event `id` (`evt_...`): a second partial refund is a new event, so it is never taken
for a redelivery of the first. Status lookups (`GET /v1/checkout/sessions/{id}`) are keyed
`status:{session id}:{our status}`, and a refund's `status:{session id}:refund:{amount_refunded}`.

Status mapping:
    checkout.session.completed -> paid when payment_status is paid or no_payment_required, pending when
    unpaid (an async method is still running); checkout.session.async_payment_succeeded -> paid;
    checkout.session.async_payment_failed -> failed; checkout.session.expired -> expired;
    charge.refunded -> refund, with the charge's `amount_refunded` (cumulative: SQL decides partial or full);
    charge.dispute.created -> dispute_opened (also an inquiry, `warning_*`: the money is held either way);
    charge.dispute.closed -> by the dispute's status: won and warning_closed (an inquiry closed without a
    chargeback) -> dispute_won, lost -> dispute_lost, anything else -> None; every other type -> None.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from thinbase.errors import WebhookPayloadError, WebhookSignatureError
from thinbase.settings import Settings

from . import _http
from ._payload import dig, from_unix, header, integer, load_object, text, unix_seconds
from .amounts import from_provider_units, to_provider_units
from .base import CheckoutRequest, CheckoutResult, EventStatus, PaymentEvent, Provider
from .descriptor import (
    ProviderDescriptor,
    SampleEvent,
    SampleOrder,
    SampleTag,
    SampleWebhook,
    base_url,
    secrets,
)

API_BASE = "https://api.stripe.com"
TOLERANCE_SECONDS = 300

ZERO_DECIMAL = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})

# Stripe accepts expires_at between 30 minutes and 24 hours after creation. We send ours only when it is
# clearly inside (31 minutes to 23 hours ahead); see _expires_at.
_MIN_EXPIRY = timedelta(minutes=31)
_MAX_EXPIRY = timedelta(hours=23)


def stripe_exponent(currency: str) -> int:
    """How many decimals Stripe's integer amounts carry for `currency`."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def to_stripe_amount(amount_minor: int, currency: str, exponent: int) -> int:
    """Our minor units as Stripe's; ProviderError(`amount_not_representable`) if not exact."""
    provider_exponent = stripe_exponent(currency)
    return to_provider_units(
        amount_minor,
        exponent,
        provider_exponent,
        provider="stripe",
        currency=currency,
        multiple_of=10 if provider_exponent == 3 else 1,
    )


def _expires_at(ours: datetime, now: datetime) -> datetime | None:
    """The `expires_at` to send: ours when it is 31 minutes to 23 hours ahead, else None (Stripe's default,
    24 hours). Never a value derived from the clock: a retry under the same Idempotency-Key must send the
    same parameters, and a payment with the usual 24-hour expiry stays on the "None" side for its first hour.
    """
    return ours if now + _MIN_EXPIRY <= ours <= now + _MAX_EXPIRY else None


def form_encode(params: Mapping[str, Any]) -> bytes:
    """Stripe's form encoding: nested mappings as `a[b]`, lists always indexed, None skipped."""
    pairs: list[tuple[str, str]] = []

    def add(prefix: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, Mapping):
            for key, item in value.items():
                add(f"{prefix}[{key}]", item)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                add(f"{prefix}[{index}]", item)
        elif isinstance(value, bool):
            pairs.append((prefix, "true" if value else "false"))
        else:
            pairs.append((prefix, str(value)))

    for key, value in params.items():
        add(key, value)
    return urlencode(pairs).encode()


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The v1 signature Stripe sends for `body` at `timestamp`."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def parse_signature_header(value: str) -> tuple[int, list[str]]:
    """(timestamp, v1 signatures) from a Stripe-Signature header; WebhookSignatureError if unusable."""
    timestamp: int | None = None
    signatures: list[str] = []
    for item in value.split(","):
        scheme, sep, content = item.strip().partition("=")
        if not sep:
            continue
        if scheme == "t" and (seconds := unix_seconds(content)) is not None:
            timestamp = seconds
        elif scheme == "v1":
            signatures.append(content)
    if timestamp is None:
        raise WebhookSignatureError("malformed_signature", "Stripe-Signature has no usable timestamp")
    if not signatures:
        raise WebhookSignatureError("missing_signature", "Stripe-Signature has no v1 signature")
    return timestamp, signatures


_DISPUTE_CLOSED: dict[str, EventStatus] = {
    "won": "dispute_won",
    "warning_closed": "dispute_won",
    "lost": "dispute_lost",
}


def normalize_status(event_type: str, obj: Mapping[str, Any]) -> EventStatus | None:
    if event_type == "checkout.session.completed":
        payment_status = obj.get("payment_status")
        if payment_status in ("paid", "no_payment_required"):
            return "paid"
        return "pending" if payment_status == "unpaid" else None
    if event_type == "charge.dispute.closed":
        return _DISPUTE_CLOSED.get(text(obj, "status") or "")
    fixed: dict[str, EventStatus] = {
        "checkout.session.async_payment_succeeded": "paid",
        "checkout.session.async_payment_failed": "failed",
        "checkout.session.expired": "expired",
        "charge.refunded": "refund",
        "charge.dispute.created": "dispute_opened",
    }
    return fixed.get(event_type)


def _object_id(value: Any) -> str | None:
    """An expandable field's id: the id itself, or the expanded object's `id`."""
    return text(value, "id") if isinstance(value, dict) else text({"id": value}, "id")


def _describe(body: Any) -> tuple[str | None, str | None]:
    error = dig(body, "error")
    if isinstance(error, dict):
        return text(error, "code") or text(error, "type"), text(error, "message")
    return None, None


def _amount(
    obj: Mapping[str, Any], field: str, exponents: Mapping[str, int]
) -> tuple[int | None, str | None]:
    currency = (text(obj, "currency") or "").upper() or None
    units = integer(obj, field)
    if currency is None or units is None or currency not in exponents:
        return None, currency
    return from_provider_units(units, stripe_exponent(currency), exponents[currency]), currency


class StripeProvider:
    """Stripe Checkout sessions, session lookups and signed webhooks."""

    name = "stripe"
    confirm_statuses: frozenset[EventStatus] = frozenset()  # the signature covers the whole body

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str,
        base_url: str | None,
        http: httpx.Client,
        timeout: float = 10.0,
        api_version: str | None = None,
    ) -> None:
        self._secret_key = secret_key
        self._webhook_secret = webhook_secret
        self._base = (base_url or API_BASE).rstrip("/")
        self._http = http
        self._timeout = timeout
        self._api_version = api_version

    def __repr__(self) -> str:
        return f"StripeProvider(base={self._base!r})"

    def _headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._secret_key}", "Accept": "application/json"}
        if self._api_version:
            headers["Stripe-Version"] = self._api_version
        return headers

    def create_checkout(self, request: CheckoutRequest) -> CheckoutResult:
        units = to_stripe_amount(request.amount_minor, request.currency, request.exponent)
        now = datetime.now(UTC)
        expires_at = _expires_at(request.expires_at, now)
        tags = {"order_id": request.order_id, "plan_code": request.plan_code}
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": request.currency.lower(),
                        "unit_amount": units,
                        "product_data": {"name": request.plan_name},
                    },
                    "quantity": 1,
                }
            ],
            "client_reference_id": request.order_id,
            "metadata": tags,
            "payment_intent_data": {"metadata": tags},
            "customer_email": request.customer_email,
            "success_url": request.return_url,
            "cancel_url": request.cancel_url,
            "expires_at": int(expires_at.timestamp()) if expires_at else None,
        }
        headers = self._headers() | {
            "Content-Type": "application/x-www-form-urlencoded",
            "Idempotency-Key": request.idempotency_key,
        }
        response = _http.send(
            self._http,
            self.name,
            "POST",
            f"{self._base}/v1/checkout/sessions",
            timeout=self._timeout,
            headers=headers,
            content=form_encode(params),
        )
        data = _http.json_object(response, self.name, ok=(200,), describe=_describe)
        session_id, url = text(data, "id"), text(data, "url")
        if session_id is None or url is None:
            raise _http.bad_response(self.name, "the session id and url", response.status_code)
        return CheckoutResult(
            provider_payment_id=session_id,
            redirect_url=url,
            token=None,
            expires_at=from_unix(data.get("expires_at")) or expires_at or now + timedelta(hours=24),
        )

    def fetch_status(
        self, order_id: str, provider_payment_id: str | None, *, amount_exponent: int
    ) -> PaymentEvent | None:
        if provider_payment_id is None:
            return None  # Stripe cannot look a session up by our reference; the session id is the key
        response = _http.send(
            self._http,
            self.name,
            "GET",
            f"{self._base}/v1/checkout/sessions/{quote(provider_payment_id, safe='')}",
            timeout=self._timeout,
            headers=self._headers(),
            params={"expand[]": "payment_intent.latest_charge"},
        )
        if response.status_code == 404:
            return None
        session = _http.json_object(response, self.name, ok=(200,), describe=_describe)
        charge = dig(session, "payment_intent", "latest_charge")
        status: EventStatus
        if session.get("status") == "expired":
            status = "expired"
        elif session.get("status") == "complete" and session.get("payment_status") in (
            "paid",
            "no_payment_required",
        ):
            # Any refund, full or partial, as charge.refunded is treated: its cumulative amount.
            refunded = dig(charge, "refunded") is True or (integer(charge, "amount_refunded") or 0) > 0
            status = "refund" if refunded else "paid"
        elif dig(session, "payment_intent", "status") == "canceled" or (
            session.get("status") == "complete"
            and dig(session, "payment_intent", "status") == "requires_payment_method"
        ):
            status = "failed"  # the async payment failed; the customer would need a new checkout
        else:
            status = "pending"
        currency = (text(session, "currency") or "").upper()
        if status == "refund":
            amount, currency_code = _amount(charge or {}, "amount_refunded", {currency: amount_exponent})
            key = f"status:{provider_payment_id}:refund:{integer(charge, 'amount_refunded')}"
        else:
            amount, currency_code = _amount(session, "amount_total", {currency: amount_exponent})
            key = f"status:{provider_payment_id}:{status}"
        return PaymentEvent(
            event_key=key,
            event_type=f"checkout.session.{session.get('status') or 'unknown'}",
            order_id=text(session, "client_reference_id")
            or text(session, "metadata", "order_id")
            or order_id,
            status=status,
            amount_minor=amount,
            currency=currency_code,
            occurred_at=from_unix(dig(charge, "created")) if status == "paid" else None,
            payload=session,
            provider_reference=provider_payment_id,
        )

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> None:
        value = header(headers, "Stripe-Signature")
        if not value:
            raise WebhookSignatureError("missing_signature", "no Stripe-Signature header")
        timestamp, signatures = parse_signature_header(value)
        expected = compute_signature(self._webhook_secret, timestamp, body).encode()
        if not any(hmac.compare_digest(expected, candidate.encode()) for candidate in signatures):
            raise WebhookSignatureError("bad_signature", "no Stripe v1 signature matches the body")
        current = time.time() if now is None else now
        if timestamp < current - TOLERANCE_SECONDS:
            raise WebhookSignatureError("stale_timestamp", "Stripe-Signature timestamp is too old")
        if timestamp > current + TOLERANCE_SECONDS:
            raise WebhookSignatureError("future_timestamp", "Stripe-Signature timestamp is in the future")

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, exponents: Mapping[str, int]
    ) -> PaymentEvent:
        event = load_object(body, self.name)
        event_id, event_type = text(event, "id"), text(event, "type")
        if event_id is None or event_type is None:
            raise WebhookPayloadError("malformed_body", "stripe event lacks id or type")
        obj = dig(event, "data", "object")
        if not isinstance(obj, dict):
            raise WebhookPayloadError("malformed_body", "stripe event lacks data.object")
        status = normalize_status(event_type, obj)
        amount_field = {"charge.refunded": "amount_refunded"}.get(
            event_type, "amount" if event_type.startswith("charge.") else "amount_total"
        )
        amount, currency = _amount(obj, amount_field, exponents)
        order_id = reference = intent = None
        if event_type.startswith("checkout.session."):
            # Both set only by our secret-key call that created the session (see the module docstring).
            order_id, reference = text(obj, "client_reference_id"), text(obj, "id")
        elif event_type.startswith("charge."):
            intent = _object_id(obj.get("payment_intent"))  # bound by `locate`, never by metadata
        return PaymentEvent(
            event_key=event_id,
            event_type=event_type,
            order_id=order_id,
            status=status,
            amount_minor=amount,
            currency=currency,
            occurred_at=from_unix(event.get("created")),
            payload=event,
            provider_reference=reference,
            locate_reference=intent,
        )

    def payment_intent_of(self, session_id: str) -> str | None:
        """The PaymentIntent of one of our Checkout Sessions (`GET /v1/checkout/sessions/{id}`); None when
        Stripe knows no such session or it has none yet (a session gets one once it is paid). What
        `webhooks simulate` and `trigger` put in a charge sample, so the edge app's `locate` can bind it."""
        response = _http.send(
            self._http,
            self.name,
            "GET",
            f"{self._base}/v1/checkout/sessions/{quote(session_id, safe='')}",
            timeout=self._timeout,
            headers=self._headers(),
        )
        if response.status_code == 404:
            return None
        session = _http.json_object(response, self.name, ok=(200,), describe=_describe)
        return _object_id(session.get("payment_intent"))

    def locate(self, event: PaymentEvent) -> PaymentEvent | None:
        """The event bound to the Checkout Session its PaymentIntent belongs to (see the module docstring)."""
        if event.locate_reference is None:
            return None
        response = _http.send(
            self._http,
            self.name,
            "GET",
            f"{self._base}/v1/checkout/sessions",
            timeout=self._timeout,
            headers=self._headers(),
            params={"payment_intent": event.locate_reference, "limit": "1"},
        )
        listing = _http.json_object(response, self.name, ok=(200,), describe=_describe)
        sessions = listing.get("data")
        session = sessions[0] if isinstance(sessions, list) and sessions else None
        session_id = text(session, "id")
        if session_id is None:
            return None  # no session of this account's: not a checkout of ours
        return replace(event, order_id=text(session, "client_reference_id"), provider_reference=session_id)


# -- the descriptor ---------------------------------------------------------------------------------------


# Every event type normalize_status maps (checkout.session.completed with payment_status no_payment_required
# is left out: it means a zero total, which no payment of ours has). Charge and dispute events name the
# session's PaymentIntent (`located`): the edge app binds them by asking Stripe, so their samples carry the
# one Stripe knows for the order's session (`_sample_locate`).
_PAID = "checkout.session.completed"
_DISPUTED = "charge.dispute.created"
SAMPLE_EVENTS = (
    SampleEvent(_PAID, "paid", simulates=True),
    SampleEvent(_PAID, "pending", variant="unpaid", simulates=True),
    SampleEvent("checkout.session.async_payment_succeeded", "paid"),
    SampleEvent("checkout.session.async_payment_failed", "failed", simulates=True),
    SampleEvent("checkout.session.expired", "expired", simulates=True),
    SampleEvent("charge.refunded", "refund", after=_PAID, simulates=True, reaches="refunded", located=True),
    SampleEvent(
        "charge.refunded",
        "refund",
        variant="partial",
        after=_PAID,
        reaches="partially_refunded",
        located=True,
    ),
    SampleEvent(_DISPUTED, "dispute_opened", after=_PAID, reaches="disputed", located=True),
    SampleEvent(
        "charge.dispute.closed", "dispute_won", variant="won", after=_DISPUTED, reaches="paid", located=True
    ),
    SampleEvent(
        "charge.dispute.closed",
        "dispute_won",
        variant="warning_closed",
        after=_DISPUTED,
        reaches="paid",
        located=True,
    ),
    SampleEvent(
        "charge.dispute.closed",
        "dispute_lost",
        variant="lost",
        after=_DISPUTED,
        reaches="charged_back",
        located=True,
    ),
)


def _sample_id(prefix: str, tag: SampleTag) -> str:
    return f"{prefix}_{tag}_{uuid.uuid4().hex[:20]}"


def _sample_locate(provider: Provider, order: SampleOrder) -> str | None:
    """The PaymentIntent Stripe knows for the order's Checkout Session (None: no session, or not paid)."""
    if order.provider_reference is None or not isinstance(provider, StripeProvider):
        return None
    return provider.payment_intent_of(order.provider_reference)


def _sample_object(
    order: SampleOrder, event: SampleEvent, units: int, intent: str, now: int, tag: SampleTag
) -> dict[str, Any]:
    """The event's data.object: the order's session, its charge, or a dispute of that charge."""
    currency = order.currency.lower()
    tags = {"order_id": order.order_id}
    if event.type.startswith("checkout.session."):
        expired = event.type == "checkout.session.expired"
        return {
            "id": order.provider_reference or _sample_id("cs", tag),
            "object": "checkout.session",
            "mode": "payment",
            "client_reference_id": order.order_id,
            "metadata": tags,
            "amount_subtotal": units,
            "amount_total": units,
            "currency": currency,
            "status": "expired" if expired else "complete",
            "payment_status": "paid" if event.status == "paid" else "unpaid",
            "payment_intent": None if expired else intent,
            "livemode": False,
            "created": now - 60,
            "expires_at": now + 86340,
        }
    if event.type.startswith("charge.dispute."):
        return {
            "id": _sample_id("du", tag),
            "object": "dispute",
            "amount": units,
            "currency": currency,
            "charge": _sample_id("ch", tag),
            "payment_intent": intent,
            "reason": "fraudulent",
            "status": event.variant or "needs_response",
            "is_charge_refundable": False,
            "livemode": False,
            "created": now,
        }
    # charge.refunded; `amount_refunded` is cumulative (half of it for the partial sample)
    refunded = units if event.variant is None else units // 2
    return {
        "id": _sample_id("ch", tag),
        "object": "charge",
        "amount": units,
        "amount_captured": units,
        "amount_refunded": refunded,
        "currency": currency,
        "captured": True,
        "paid": True,
        "refunded": refunded == units,
        "status": "succeeded",
        "payment_intent": intent,
        "metadata": tags,
        "livemode": False,
        "created": now,
    }


def sample_webhook(
    settings: Settings, order: SampleOrder, event: SampleEvent, url: str, *, tag: SampleTag
) -> SampleWebhook:
    """A signed event as Stripe sends it: a Checkout Session event about the order's own session (one made
    up when it has none), or a charge or dispute event about the session's PaymentIntent (the one Stripe
    knows, `order.locate_reference`, else a made-up one that the edge app cannot locate)."""
    (secret,) = secrets(settings, "STRIPE_WEBHOOK_SECRET")
    units = to_stripe_amount(order.amount_minor, order.currency, order.exponent)
    now = int(time.time())
    intent = order.locate_reference or _sample_id("pi", tag)
    obj = _sample_object(order, event, units, intent, now, tag)
    body = json.dumps(
        {
            "id": _sample_id("evt", tag),
            "object": "event",
            "api_version": "2024-06-20",
            "type": event.type,
            "created": now,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": obj},
        }
    ).encode()
    signature = compute_signature(secret, now, body)
    headers = {"Content-Type": "application/json", "Stripe-Signature": f"t={now},v1={signature}"}
    return SampleWebhook("stripe", headers, body)


def _build(settings: Settings, http: httpx.Client) -> StripeProvider:
    return StripeProvider(
        settings.get("STRIPE_SECRET_KEY").strip(),
        settings.get("STRIPE_WEBHOOK_SECRET").strip(),
        base_url(settings, "STRIPE_BASE_URL"),
        http,
    )


DESCRIPTOR = ProviderDescriptor(
    name="stripe",
    label="Stripe Checkout",
    required_settings=("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"),
    build=_build,
    sample_webhook=sample_webhook,
    sample_events=SAMPLE_EVENTS,
    sample_currency="USD",
    sample_reference=lambda tag: _sample_id("cs", tag),  # the Checkout Session our checkout would create
    sample_locate=_sample_locate,
)
