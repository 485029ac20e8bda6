"""Midtrans Snap: hosted checkout for IDR, HTTP notifications signed with SHA-512 over fields.

Checkout: `POST {snap}/transactions` with Basic auth (server key as user name, empty password). Our
order_id *is* Midtrans' `transaction_details.order_id`, so every notification names it directly. Midtrans
takes whole rupiah only: our IDR minor units (exponent 2) are divided by 100, and an amount with sen is
refused rather than rounded. Midtrans has no idempotency header; its order_id can be used once, so a
repeated create for the same order is refused by Midtrans (`provider_duplicate_order`); the checkout
endpoint then abandons that payment (`abandon_checkout`) and starts a new order.

Signature: `signature_key = sha512_hex(order_id + status_code + gross_amount + server_key)`, taken from
the notification's own JSON strings (Midtrans signs fields, not the raw bytes; `gross_amount` is the
two-decimal string such as "10000.00" and must be used as sent). Compared in constant time. The scheme has
no timestamp, so there is no tolerance window.

Notifications are hints. The signature covers order_id, status_code and gross_amount, not
`transaction_status`, `fraud_status` or `transaction_id`: a genuine signed `pending` notification re-posted
with `transaction_status` changed still verifies. So (1) a notification whose `status_code` contradicts its
`transaction_status` is refused (200 for capture and settlement, 201 for pending, 202 for deny, cancel and
expire), and (2) before a notification's paid, refund or chargeback is applied, the webhook
route asks the status API (`GET /v2/{order_id}/status`, authenticated with our server key) and applies what
it answers instead (`confirm_statuses`).

What binds an event to our payment: `order_id`, which our server sent as `transaction_details.order_id`
when it created the Snap transaction (and which the signature covers).

Event key: Midtrans sends no event id. A notification is identified by
`{order_id}:{transaction_status}:{status_code}:{fraud_status or "-"}:{transaction_id or "-"}`.
A redelivery repeats all five values, so it gets the same key; every real change (pending -> settlement,
capture challenge -> accept, settlement -> refund, a new transaction for the same order) changes at least
one of them; a second partial refund repeats all five, so refunds append the cumulative `refund_amount`.
The status API answers with the same fields, so reconciliation derives the same key and a
later notification of an already reconciled state is a duplicate.

Status mapping (transaction_status, fraud_status):
    settlement -> paid; capture + accept (or no fraud_status) -> paid; capture + challenge -> pending;
    capture + deny -> failed; pending, authorize -> pending; deny, cancel, failure -> failed;
    expire -> expired; refund, partial_refund -> refund; chargeback, partial_chargeback -> dispute_lost
    (Midtrans reports no dispute before its chargeback, and a chargeback of a part is still a lost dispute);
    anything else -> None (ignored).

Refund amounts: a refund carries `refund_amount`, the total refunded so far (cumulative, like every
refund action: SQL keeps the greatest and decides partial or full), as a decimal string like gross_amount.
A `refund` (full) without it is taken as gross_amount; a `partial_refund` without it has no amount, which
SQL records as a failed refund_mismatch rather than guessing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from thinbase.errors import ProviderError, WebhookPayloadError, WebhookSignatureError
from thinbase.settings import Settings

from . import _http
from ._payload import dig, load_object, text
from .amounts import decimal_to_minor, to_provider_units
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

SNAP_SANDBOX = "https://app.sandbox.midtrans.com/snap/v1"
SNAP_PRODUCTION = "https://app.midtrans.com/snap/v1"
CORE_SANDBOX = "https://api.sandbox.midtrans.com"
CORE_PRODUCTION = "https://api.midtrans.com"

# Midtrans reports local times in Western Indonesia Time (GMT+7).
WIB = timezone(timedelta(hours=7))

_FAILED = frozenset({"deny", "cancel", "failure"})
_REFUNDED = frozenset({"refund", "partial_refund"})
_CHARGED_BACK = frozenset({"chargeback", "partial_chargeback"})


def normalize_status(transaction_status: str | None, fraud_status: str | None) -> EventStatus | None:
    """Our status for a Midtrans (transaction_status, fraud_status) pair; None for one we do not handle."""
    if transaction_status == "settlement":
        return "paid"
    if transaction_status == "capture":
        if fraud_status in (None, "accept"):
            return "paid"
        if fraud_status == "challenge":
            return "pending"
        if fraud_status == "deny":
            return "failed"
        return None
    if transaction_status in ("pending", "authorize"):
        return "pending"
    if transaction_status in _FAILED:
        return "failed"
    if transaction_status == "expire":
        return "expired"
    if transaction_status in _REFUNDED:
        return "refund"
    if transaction_status in _CHARGED_BACK:
        return "dispute_lost"
    return None


# What `status_code` a notification must carry for these transaction statuses (Midtrans' status codes).
_STATUS_CODES = {
    "capture": "200",
    "settlement": "200",
    "pending": "201",
    "deny": "202",
    "cancel": "202",
    "expire": "202",
}


def check_status_code(data: Mapping[str, Any]) -> None:
    """Refuse a notification whose (signed) status_code contradicts its (unsigned) transaction_status."""
    transaction_status = text(data, "transaction_status")
    expected = _STATUS_CODES.get(transaction_status or "")
    if expected is not None and text(data, "status_code") != expected:
        raise WebhookPayloadError(
            "status_code_mismatch",
            f"midtrans {transaction_status} notification carries status_code "
            f"{text(data, 'status_code')}, not {expected}",
        )


def signature_key(order_id: str, status_code: str, gross_amount: str, server_key: str) -> str:
    """Midtrans' notification signature: SHA-512 hex of the four strings, concatenated."""
    return hashlib.sha512((order_id + status_code + gross_amount + server_key).encode()).hexdigest()


def event_key(data: Mapping[str, Any]) -> str:
    """The stable key of a notification or status answer (see the module docstring)."""
    parts = [
        text(data, "order_id") or "-",
        text(data, "transaction_status") or "-",
        text(data, "status_code") or "-",
        text(data, "fraud_status") or "-",
        text(data, "transaction_id") or "-",
    ]
    if text(data, "transaction_status") in _REFUNDED and text(data, "refund_amount"):
        parts.append(str(text(data, "refund_amount")))  # a second partial refund is a new event
    return ":".join(parts)


def _local_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=WIB)
    except ValueError:
        return None


def _describe(body: Any) -> tuple[str | None, str | None]:
    if isinstance(body, dict):
        messages = body.get("error_messages")
        if isinstance(messages, list) and messages:
            return text(body, "status_code"), "; ".join(str(m) for m in messages)
        return text(body, "status_code"), text(body, "status_message")
    return None, None


class MidtransProvider:
    """Midtrans Snap checkouts, status lookups and HTTP notifications."""

    name = "midtrans"
    # See the module docstring.
    confirm_statuses: frozenset[EventStatus] = frozenset({"paid", "refund", "dispute_lost"})

    def __init__(
        self,
        server_key: str,
        client_key: str,
        production: bool,
        base_url: str | None,
        http: httpx.Client,
        timeout: float = 10.0,
    ) -> None:
        self._server_key = server_key
        self.client_key = client_key  # public; Snap.js in the browser needs it
        if base_url:
            root = base_url.rstrip("/")
            self._snap_base, self._core_base = f"{root}/snap/v1", root
        elif production:
            self._snap_base, self._core_base = SNAP_PRODUCTION, CORE_PRODUCTION
        else:
            self._snap_base, self._core_base = SNAP_SANDBOX, CORE_SANDBOX
        self._http = http
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"MidtransProvider(snap={self._snap_base!r})"

    def _headers(self) -> dict[str, str]:
        token = base64.b64encode(f"{self._server_key}:".encode()).decode()
        return {
            "Authorization": f"Basic {token}",
            "Accept": "application/json",
            "Content-Type": "application/json",
        }

    def create_checkout(self, request: CheckoutRequest) -> CheckoutResult:
        if request.currency != "IDR":
            raise ProviderError(
                "unsupported_currency", f"midtrans takes IDR only, not {request.currency}", provider=self.name
            )
        rupiah = to_provider_units(
            request.amount_minor, request.exponent, 0, provider=self.name, currency=request.currency
        )
        now = datetime.now(UTC)
        # Whole minutes, rounded down, so Midtrans never keeps a checkout open longer than our payment.
        minutes = max(1, int((request.expires_at - now).total_seconds() // 60))
        customer: dict[str, str] = {"email": request.customer_email}
        if request.customer_name:
            customer["first_name"] = request.customer_name[:255]
        body = {
            "transaction_details": {"order_id": request.order_id, "gross_amount": rupiah},
            "item_details": [
                {"id": request.plan_code, "price": rupiah, "quantity": 1, "name": request.plan_name[:50]}
            ],
            "customer_details": customer,
            "callbacks": {"finish": request.return_url},
            "expiry": {"unit": "minute", "duration": minutes},
            "custom_field1": request.plan_code,
        }
        response = _http.send(
            self._http,
            self.name,
            "POST",
            f"{self._snap_base}/transactions",
            timeout=self._timeout,
            headers=self._headers(),
            content=json.dumps(body).encode(),
        )
        if response.status_code == 400 and b"already been taken" in response.content:
            raise ProviderError(
                "provider_duplicate_order",
                f"midtrans already has a transaction for order {request.order_id}",
                400,
                provider=self.name,
            )
        data = _http.json_object(response, self.name, ok=(200, 201), describe=_describe)
        token, redirect_url = text(data, "token"), text(data, "redirect_url")
        if token is None or redirect_url is None:
            raise _http.bad_response(self.name, "token and redirect_url", response.status_code)
        return CheckoutResult(
            provider_payment_id=None,  # Midtrans assigns a transaction_id only once the customer pays
            redirect_url=redirect_url,
            token=token,
            expires_at=now + timedelta(minutes=minutes),
        )

    def fetch_status(
        self, order_id: str, provider_payment_id: str | None, *, amount_exponent: int
    ) -> PaymentEvent | None:
        response = _http.send(
            self._http,
            self.name,
            "GET",
            f"{self._core_base}/v2/{quote(order_id, safe='')}/status",
            timeout=self._timeout,
            headers=self._headers(),
        )
        if response.status_code == 404:
            return None  # Snap: nothing exists until the customer picks a payment method
        data = _http.json_object(response, self.name, ok=(200, 201), describe=_describe)
        # The status API can answer HTTP 200 with an error in the body; 407 is "expired", a real status.
        body_code = text(data, "status_code") or ""
        if body_code == "404":
            return None
        if body_code.isascii() and body_code.isdigit() and int(body_code) >= 400 and body_code != "407":
            _, detail = _describe(data)
            raise ProviderError(
                "provider_rejected",
                f"midtrans status answered {body_code}: {_http.shorten(detail or 'no message')}",
                int(body_code),
                provider=self.name,
                provider_code=body_code,
            )
        currency = text(data, "currency") or "IDR"
        return self._event(data, {currency: amount_exponent})

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> None:
        data = load_object(body, self.name)
        fields = [data.get(name) for name in ("order_id", "status_code", "gross_amount", "signature_key")]
        if not all(isinstance(value, str) and value for value in fields):
            raise WebhookSignatureError(
                "missing_signature",
                "midtrans notification lacks order_id, status_code, gross_amount or signature_key",
            )
        order_id, status_code, gross_amount, received = (str(value) for value in fields)
        expected = signature_key(order_id, status_code, gross_amount, self._server_key)
        if not hmac.compare_digest(expected.encode(), received.encode()):
            raise WebhookSignatureError("bad_signature", "midtrans signature_key does not match")

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, exponents: Mapping[str, int]
    ) -> PaymentEvent:
        data = load_object(body, self.name)
        check_status_code(data)
        return self._event(data, exponents)

    def _event(self, data: dict[str, Any], exponents: Mapping[str, int]) -> PaymentEvent:
        transaction_status = text(data, "transaction_status")
        status = normalize_status(transaction_status, text(data, "fraud_status"))
        currency = (text(data, "currency") or "IDR").upper()
        exponent = exponents.get(currency)
        amount_field = "gross_amount"
        if status == "refund" and (data.get("refund_amount") is not None or transaction_status != "refund"):
            amount_field = "refund_amount"  # cumulative; see the module docstring
        amount = None if exponent is None else decimal_to_minor(dig(data, amount_field), exponent)
        if status == "paid":
            occurred = _local_time(data.get("settlement_time")) or _local_time(data.get("transaction_time"))
        elif status in ("refund", "dispute_lost"):
            occurred = None  # transaction_time is when the payment started; this happened now-ish
        else:
            occurred = _local_time(data.get("transaction_time"))
        return PaymentEvent(
            event_key=event_key(data),
            event_type=transaction_status or "unknown",
            order_id=text(data, "order_id"),
            status=status,
            amount_minor=amount,
            currency=currency,
            occurred_at=occurred,
            payload=data,
        )


# -- the descriptor ---------------------------------------------------------------------------------------

# Every (transaction_status, fraud_status) normalize_status maps; the variant is a fraud_status other than
# accept. A refund or chargeback comes after a settlement.
SAMPLE_EVENTS = (
    SampleEvent("settlement", "paid", simulates=True),
    SampleEvent("capture", "paid"),
    SampleEvent("capture", "pending", variant="challenge"),
    SampleEvent("capture", "failed", variant="deny"),
    SampleEvent("pending", "pending", simulates=True),
    SampleEvent("authorize", "pending"),
    SampleEvent("deny", "failed", simulates=True),
    SampleEvent("cancel", "failed"),
    SampleEvent("failure", "failed"),
    SampleEvent("expire", "expired", simulates=True),
    SampleEvent("refund", "refund", after="settlement", simulates=True, reaches="refunded"),
    SampleEvent("partial_refund", "refund", after="settlement", reaches="partially_refunded"),
    SampleEvent("chargeback", "dispute_lost", after="settlement", reaches="charged_back"),
    SampleEvent("partial_chargeback", "dispute_lost", after="settlement", reaches="charged_back"),
)

# The status_code a notification of each transaction_status carries (check_status_code holds the first six).
_SAMPLE_STATUS_CODES = {
    "settlement": "200",
    "capture": "200",
    "pending": "201",
    "authorize": "201",
    "deny": "202",
    "cancel": "202",
    "failure": "202",
    "expire": "202",
}
_CARD = frozenset({"capture", "authorize", "chargeback", "partial_chargeback"})  # card-only statuses


def sample_webhook(
    settings: Settings, order: SampleOrder, event: SampleEvent, url: str, *, tag: SampleTag
) -> SampleWebhook:
    """A signed HTTP notification as Midtrans sends it. Its paid, refund and chargeback are applied only as
    Midtrans' status API confirms them (a sample cannot pay an order the status API does not know)."""
    (server_key,) = secrets(settings, "MIDTRANS_SERVER_KEY")
    transaction_status = event.type
    status_code = _SAMPLE_STATUS_CODES.get(transaction_status, "200")
    gross = f"{order.major:.2f}"
    now = datetime.now(WIB).strftime("%Y-%m-%d %H:%M:%S")
    data: dict[str, Any] = {
        "transaction_time": now,
        "transaction_status": transaction_status,
        "transaction_id": f"{tag}-{uuid.uuid4()}",
        "status_message": f"thinbase {'simulated' if tag == 'sim' else 'triggered'} notification",
        "status_code": status_code,
        "payment_type": "credit_card" if transaction_status in _CARD else "bank_transfer",
        "order_id": order.order_id,
        "merchant_id": "SIMULATED",
        "gross_amount": gross,
        "currency": order.currency,
        "fraud_status": event.variant or "accept",
    }
    if event.status == "paid":
        data["settlement_time"] = now
    if transaction_status in ("refund", "partial_refund"):
        minor = order.amount_minor if transaction_status == "refund" else order.amount_minor // 2
        data["refund_amount"] = f"{Decimal(minor).scaleb(-order.exponent):.2f}"
    data["signature_key"] = signature_key(order.order_id, status_code, gross, server_key)
    return SampleWebhook("midtrans", {"Content-Type": "application/json"}, json.dumps(data).encode())


def _build(settings: Settings, http: httpx.Client) -> MidtransProvider:
    return MidtransProvider(
        settings.get("MIDTRANS_SERVER_KEY").strip(),
        settings.get("MIDTRANS_CLIENT_KEY").strip(),
        settings.flag("MIDTRANS_PRODUCTION"),
        base_url(settings, "MIDTRANS_BASE_URL"),
        http,
    )


DESCRIPTOR = ProviderDescriptor(
    name="midtrans",
    label="Midtrans Snap",
    required_settings=("MIDTRANS_SERVER_KEY",),
    build=_build,
    sample_webhook=sample_webhook,
    sample_events=SAMPLE_EVENTS,
    sample_currency="IDR",
)
