"""Lemon Squeezy: hosted checkouts (JSON:API) and `X-Signature` webhooks.

Checkout: `POST /v1/checkouts` with a Bearer API key and `application/vnd.api+json`. A checkout must name a
store and a variant: the variant for a plan comes from `variant_ids` (setting
`LEMONSQUEEZY_VARIANT_<PLAN_CODE>`, e.g. `LEMONSQUEEZY_VARIANT_PRO`) or `default_variant_id`
(`LEMONSQUEEZY_VARIANT_ID`); our price is sent as `custom_price`, so one variant can serve every plan. Our
order_id goes into `checkout_data.custom`, which comes back in every order webhook as
`meta.custom_data.order_id` (as a string, like every custom value). Lemon Squeezy has no idempotency key.

What binds an event to our payment: `meta.custom_data.order_id`, which our server's API call put in the
checkout (`checkout_data.custom`). Lemon Squeezy's order events carry no id of that checkout, so custom
data is the only binding it offers. A buyer who instead pays through a variant's public buy link can
pass custom data of their own (`?checkout[custom][order_id]=`), so the amount check is the cross-check:
such an order pays one order of ours of exactly that price, never a second one, because every event of one
Lemon Squeezy order maps through the same field.

Amounts: Lemon Squeezy documents its amounts as integer "cents" of the store currency and has no notion of
other exponents, so only two-decimal currencies are accepted (JPY, KWD ... are refused rather than risking
a price off by 100x). The store's currency is fixed in its dashboard: payments must use that currency, or
the webhook's amount check fails the payment. The paid amount compared is `subtotal` (our custom_price,
before the tax Lemon Squeezy adds as merchant of record).

Signature: `X-Signature` = hex HMAC-SHA256 of the raw body, keyed with the webhook's signing secret,
compared in constant time. No timestamp, so no tolerance window.

Event key: Lemon Squeezy sends no event id (a `meta.webhook_id` appears only in third-party fixtures), so
the key is `{event_name}:{data.id}:{data.attributes.updated_at}`: a redelivery repeats all three, while
the same order changing again (order_created, then order_refunded) differs in name and update time.
Status lookups (`GET /v1/orders/{id}`, possible only with a Lemon Squeezy order id) are keyed
`status:{order id}:{our status}` (a refund's with `:{refunded_amount}` appended); the checkout id we keep
after create cannot be looked up to an order, so for a payment without a webhook yet the lookup answers
None.

Status mapping: order_created -> the order's `status` (paid -> paid, pending -> pending, failed and
fraudulent -> failed, refunded and partial_refund -> refund); order_refunded -> refund; every other event
(subscriptions, license keys ...) -> None (ignored). Lemon Squeezy is the merchant of record and sends no
dispute events. A refund carries the order's `refunded_amount`, the total refunded so far (cumulative): SQL
keeps the greatest and decides whether it is partial or full. A second partial refund is a new
`order_refunded` with a later `updated_at`, hence a new event key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from thinbase.errors import ProviderError, WebhookPayloadError, WebhookSignatureError
from thinbase.settings import Settings

from . import _http
from ._payload import dig, from_iso, header, integer, load_object, text
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

API_BASE = "https://api.lemonsqueezy.com"
JSON_API = "application/vnd.api+json"
CENTS = 2  # Lemon Squeezy's amounts are integer cents

_ORDER_STATUSES: dict[str, EventStatus] = {
    "paid": "paid",
    "pending": "pending",
    "failed": "failed",
    "fraudulent": "failed",
    "refunded": "refund",
    "partial_refund": "refund",
}


def compute_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def normalize_status(event_name: str, order_status: str | None) -> EventStatus | None:
    if event_name == "order_created":
        return _ORDER_STATUSES.get(order_status or "")
    if event_name == "order_refunded":
        return "refund"
    return None


def _describe(body: Any) -> tuple[str | None, str | None]:
    errors = dig(body, "errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return text(first, "code") or text(first, "status"), text(first, "detail") or text(first, "title")
    return None, None


class LemonSqueezyProvider:
    """Lemon Squeezy checkouts, order lookups and signed webhooks."""

    name = "lemonsqueezy"
    confirm_statuses: frozenset[EventStatus] = frozenset()  # the signature covers the whole body

    def __init__(
        self,
        api_key: str,
        store_id: str,
        webhook_secret: str,
        base_url: str | None,
        http: httpx.Client,
        timeout: float = 10.0,
        variant_ids: Mapping[str, str] | None = None,
        default_variant_id: str | None = None,
    ) -> None:
        self._api_key = api_key
        self._store_id = store_id
        self._webhook_secret = webhook_secret
        self._base = (base_url or API_BASE).rstrip("/")
        self._http = http
        self._timeout = timeout
        self._variant_ids = dict(variant_ids or {})
        self._default_variant_id = default_variant_id

    def __repr__(self) -> str:
        return f"LemonSqueezyProvider(base={self._base!r}, store={self._store_id!r})"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}", "Accept": JSON_API, "Content-Type": JSON_API}

    def create_checkout(self, request: CheckoutRequest) -> CheckoutResult:
        if request.exponent != CENTS:
            raise ProviderError(
                "unsupported_currency",
                f"lemonsqueezy prices are in cents; {request.currency} (exponent {request.exponent}) is not",
                provider=self.name,
            )
        variant = self._variant_ids.get(request.plan_code) or self._default_variant_id
        if not variant:
            raise ProviderError(
                "provider_not_configured",
                f"no Lemon Squeezy variant for plan {request.plan_code} "
                f"(set LEMONSQUEEZY_VARIANT_{request.plan_code} or LEMONSQUEEZY_VARIANT_ID)",
                provider=self.name,
            )
        cents = to_provider_units(
            request.amount_minor, request.exponent, CENTS, provider=self.name, currency=request.currency
        )
        checkout_data: dict[str, Any] = {
            "email": request.customer_email,
            "custom": {"order_id": request.order_id, "plan_code": request.plan_code},
        }
        if request.customer_name:
            checkout_data["name"] = request.customer_name
        body = {
            "data": {
                "type": "checkouts",
                "attributes": {
                    "custom_price": cents,
                    "product_options": {"name": request.plan_name, "redirect_url": request.return_url},
                    "checkout_data": checkout_data,
                    "expires_at": request.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
                "relationships": {
                    "store": {"data": {"type": "stores", "id": self._store_id}},
                    "variant": {"data": {"type": "variants", "id": variant}},
                },
            }
        }
        response = _http.send(
            self._http,
            self.name,
            "POST",
            f"{self._base}/v1/checkouts",
            timeout=self._timeout,
            headers=self._headers(),
            content=json.dumps(body).encode(),
        )
        data = _http.json_object(response, self.name, ok=(200, 201), describe=_describe)
        checkout_id, url = text(data, "data", "id"), text(data, "data", "attributes", "url")
        if checkout_id is None or url is None:
            raise _http.bad_response(self.name, "data.id and data.attributes.url", response.status_code)
        return CheckoutResult(
            provider_payment_id=checkout_id,
            redirect_url=url,
            token=None,
            expires_at=from_iso(dig(data, "data", "attributes", "expires_at")) or request.expires_at,
        )

    def fetch_status(
        self, order_id: str, provider_payment_id: str | None, *, amount_exponent: int
    ) -> PaymentEvent | None:
        if not provider_payment_id or not provider_payment_id.isdigit():
            return None  # only Lemon Squeezy order ids (numeric) can be looked up; checkout ids cannot
        response = _http.send(
            self._http,
            self.name,
            "GET",
            f"{self._base}/v1/orders/{quote(provider_payment_id, safe='')}",
            timeout=self._timeout,
            headers=self._headers(),
        )
        if response.status_code == 404:
            return None
        data = _http.json_object(response, self.name, ok=(200,), describe=_describe)
        attributes = dig(data, "data", "attributes")
        if not isinstance(attributes, dict):
            raise _http.bad_response(self.name, "data.attributes", response.status_code)
        status = normalize_status("order_created", text(attributes, "status"))
        if status is None:
            return None
        currency = (text(attributes, "currency") or "").upper() or None
        key = f"status:{provider_payment_id}:{status}"
        if status == "refund":  # each cumulative amount is its own state
            key += f":{integer(attributes, 'refunded_amount')}"
        return PaymentEvent(
            event_key=key,
            event_type=f"order.{text(attributes, 'status')}",
            order_id=order_id,
            status=status,
            amount_minor=self._amount(attributes, status, {currency: amount_exponent} if currency else {}),
            currency=currency,
            occurred_at=from_iso(attributes.get("created_at")) if status == "paid" else None,
            payload=data,
        )

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> None:
        received = header(headers, "X-Signature")
        if not received:
            raise WebhookSignatureError("missing_signature", "no X-Signature header")
        expected = compute_signature(self._webhook_secret, body)
        if not hmac.compare_digest(expected.encode(), received.strip().encode()):
            raise WebhookSignatureError("bad_signature", "lemonsqueezy X-Signature does not match the body")

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, exponents: Mapping[str, int]
    ) -> PaymentEvent:
        payload = load_object(body, self.name)
        event_name = text(payload, "meta", "event_name") or header(headers, "X-Event-Name")
        resource_id = text(payload, "data", "id")
        attributes = dig(payload, "data", "attributes")
        if not event_name or resource_id is None or not isinstance(attributes, dict):
            raise WebhookPayloadError("malformed_body", "lemonsqueezy webhook lacks event_name or data")
        status = normalize_status(event_name, text(attributes, "status"))
        currency = (text(attributes, "currency") or "").upper() or None
        if status == "paid":
            occurred = from_iso(attributes.get("created_at"))
        elif status == "refund":
            occurred = from_iso(attributes.get("refunded_at"))
        else:
            occurred = from_iso(attributes.get("updated_at"))
        return PaymentEvent(
            event_key=f"{event_name}:{resource_id}:{text(attributes, 'updated_at') or '-'}",
            event_type=event_name,
            order_id=text(payload, "meta", "custom_data", "order_id"),
            status=status,
            amount_minor=self._amount(attributes, status, exponents) if status else None,
            currency=currency,
            occurred_at=occurred,
            payload=payload,
        )

    @staticmethod
    def _amount(
        attributes: Mapping[str, Any], status: str | None, exponents: Mapping[str, int]
    ) -> int | None:
        currency = (text(attributes, "currency") or "").upper()
        field = "refunded_amount" if status == "refund" else "subtotal"
        cents = integer(attributes, field)
        if cents is None or currency not in exponents:
            return None
        return from_provider_units(cents, CENTS, exponents[currency])


# -- the descriptor ---------------------------------------------------------------------------------------

VARIANT_PREFIX = "LEMONSQUEEZY_VARIANT_"


def variants(settings: Settings) -> dict[str, str]:
    """Plan code -> variant id, from LEMONSQUEEZY_VARIANT_<PLAN_CODE> settings."""
    return {
        key.removeprefix(VARIANT_PREFIX): value.strip()
        for key, value in settings.env.items()
        if key.startswith(VARIANT_PREFIX) and key != "LEMONSQUEEZY_VARIANT_ID" and value.strip()
    }


# Every (event_name, order status) normalize_status maps; the variant is an order_created order's status
# other than paid (for order_refunded: partial_refund, a refund of a part; refunded_amount is cumulative).
# Lemon Squeezy reports no expiry and no disputes. Refunds come after the order was paid.
SAMPLE_EVENTS = (
    SampleEvent("order_created", "paid", simulates=True),
    SampleEvent("order_created", "pending", variant="pending", simulates=True),
    SampleEvent("order_created", "failed", variant="failed", simulates=True),
    SampleEvent("order_created", "failed", variant="fraudulent"),
    SampleEvent("order_created", "refund", variant="refunded", after="order_created", reaches="refunded"),
    SampleEvent(
        "order_created",
        "refund",
        variant="partial_refund",
        after="order_created",
        reaches="partially_refunded",
    ),
    SampleEvent("order_refunded", "refund", after="order_created", simulates=True, reaches="refunded"),
    SampleEvent(
        "order_refunded",
        "refund",
        variant="partial_refund",
        after="order_created",
        reaches="partially_refunded",
    ),
)


def sample_webhook(
    settings: Settings, order: SampleOrder, event: SampleEvent, url: str, *, tag: SampleTag
) -> SampleWebhook:
    """A signed order event as Lemon Squeezy sends it."""
    (secret,) = secrets(settings, "LEMONSQUEEZY_WEBHOOK_SECRET")
    cents = to_provider_units(
        order.amount_minor, order.exponent, CENTS, provider="lemonsqueezy", currency=order.currency
    )
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    order_status = event.variant or ("refunded" if event.type == "order_refunded" else "paid")
    refunded_cents = {"refunded": cents, "partial_refund": cents // 2}.get(order_status, 0)
    attributes = {
        "store_id": settings.get("LEMONSQUEEZY_STORE_ID") or "0",
        "identifier": f"{tag}-{uuid.uuid4()}",
        "order_number": uuid.uuid4().int % 10**6,
        "currency": order.currency,
        "subtotal": cents,
        "tax": 0,
        "total": cents,
        "status": order_status,
        "refunded": refunded_cents > 0,
        "refunded_amount": refunded_cents,
        "refunded_at": now if refunded_cents else None,
        "test_mode": True,
        "created_at": now,
        "updated_at": now,
    }
    body = json.dumps(
        {
            "meta": {
                "event_name": event.type,
                "custom_data": {"order_id": order.order_id},
                "test_mode": True,
            },
            "data": {"type": "orders", "id": str(uuid.uuid4().int % 10**9), "attributes": attributes},
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Event-Name": event.type,
        "X-Signature": compute_signature(secret, body),
    }
    return SampleWebhook("lemonsqueezy", headers, body)


def _build(settings: Settings, http: httpx.Client) -> LemonSqueezyProvider:
    return LemonSqueezyProvider(
        settings.get("LEMONSQUEEZY_API_KEY").strip(),
        settings.get("LEMONSQUEEZY_STORE_ID").strip(),
        settings.get("LEMONSQUEEZY_WEBHOOK_SECRET").strip(),
        base_url(settings, "LEMONSQUEEZY_BASE_URL"),
        http,
        variant_ids=variants(settings),
        default_variant_id=settings.get("LEMONSQUEEZY_VARIANT_ID").strip() or None,
    )


def _warning(settings: Settings) -> tuple[str, str] | None:
    if settings.get("LEMONSQUEEZY_VARIANT_ID").strip() or variants(settings):
        return None
    return "no variant: checkouts fail", "set LEMONSQUEEZY_VARIANT_ID or LEMONSQUEEZY_VARIANT_<PLAN>"


DESCRIPTOR = ProviderDescriptor(
    name="lemonsqueezy",
    label="Lemon Squeezy",
    required_settings=("LEMONSQUEEZY_API_KEY", "LEMONSQUEEZY_STORE_ID", "LEMONSQUEEZY_WEBHOOK_SECRET"),
    build=_build,
    sample_webhook=sample_webhook,
    sample_events=SAMPLE_EVENTS,
    sample_currency="USD",
    warning=_warning,
)
