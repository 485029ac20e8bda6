"""DOKU Checkout (the non-SNAP "Jokul" API): hosted checkout for IDR, HMAC-SHA256 signed requests and
notifications.

Every request we send, and every notification DOKU sends us, carries `Client-Id`, `Request-Id`,
`Request-Timestamp` and `Signature: HMACSHA256=<base64>`. The signature is an HMAC-SHA256, keyed with the
secret key, over these lines joined by "\\n" (no trailing newline):

    Client-Id:<client id>
    Request-Id:<request id>
    Request-Timestamp:<UTC, 2020-08-11T08:45:42Z>
    Request-Target:<path only>
    Digest:<base64(sha256(raw body bytes))>      (only when there is a body: POST and notifications)

For notifications `Request-Target` is the path of *our* notification URL (`notification_path`, by default
`/webhooks/doku`, the edge handler's route); keep that URL free of query strings. The scheme signs the
timestamp but DOKU documents no tolerance and re-sends notifications hours later, so none is enforced.

Checkout: `POST /checkout/v1/payment`; our order_id is DOKU's `order.invoice_number` (so notifications
name it) and our idempotency key is the `Request-Id`: DOKU answers a repeated Request-Id with the same body
and HTTP 409, which we read as the original answer. DOKU takes whole rupiah: IDR minor units (exponent 2)
are divided by 100, and an amount with sen is refused. `payment_due_date` is the time left until our
payment expires, rounded down to whole hours, so a retried create sends an identical body.

What binds an event to our payment: `order.invoice_number`, which our server sent when it created the
checkout. The signature covers the whole body through its Digest line, so no field that decides a status
is unsigned, and notifications are applied as they come.

Event key: DOKU's notification `Request-Id` header (unique per notification; redeliveries repeat it).
Status lookups (`GET /orders/v1/status/{invoice_number}`) have no such id, so they are keyed
`status:{invoice_number}:{transaction.status}:{transaction.date or "-"}`.

Status mapping (`transaction.status`): SUCCESS -> paid; FAILED -> failed; EXPIRED -> expired;
REFUNDED -> refunded; PENDING, REDIRECT, TIMEOUT -> pending; anything else -> None (ignored).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from thinbase.errors import ProviderError, WebhookSignatureError
from thinbase.settings import Settings

from . import _http
from ._payload import dig, from_iso, header, load_object, text
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

SANDBOX = "https://api-sandbox.doku.com"
PRODUCTION = "https://api.doku.com"
CHECKOUT_PATH = "/checkout/v1/payment"
STATUS_PATH = "/orders/v1/status/"

_STATUSES: dict[str, EventStatus] = {
    "SUCCESS": "paid",
    "FAILED": "failed",
    "EXPIRED": "expired",
    "REFUNDED": "refunded",
    "PENDING": "pending",
    "REDIRECT": "pending",
    "TIMEOUT": "pending",
}


def normalize_status(transaction_status: str | None) -> EventStatus | None:
    return _STATUSES.get((transaction_status or "").upper())


def digest(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def signature(
    *,
    client_id: str,
    request_id: str,
    timestamp: str,
    target: str,
    secret_key: str,
    body: bytes | None,
    timestamp_name: str = "Request-Timestamp",
) -> str:
    """The `Signature` header value for one request, response (timestamp_name="Response-Timestamp") or
    notification. `body=None` for GET requests, which sign no Digest line."""
    lines = [
        f"Client-Id:{client_id}",
        f"Request-Id:{request_id}",
        f"{timestamp_name}:{timestamp}",
        f"Request-Target:{target}",
    ]
    if body is not None:
        lines.append(f"Digest:{digest(body)}")
    mac = hmac.new(secret_key.encode(), "\n".join(lines).encode(), hashlib.sha256).digest()
    return "HMACSHA256=" + base64.b64encode(mac).decode()


def _due_minutes(expires_at: datetime, now: datetime) -> int:
    """`payment.payment_due_date`: the time left, rounded down to whole hours (whole minutes under an hour).

    Rounded down so DOKU never keeps a checkout open longer than our payment; coarse so that a retry with
    the same Request-Id sends the same body (DOKU replays only an identical request) unless an hour
    boundary passed in between.
    """
    remaining = int((expires_at - now).total_seconds() // 60)
    return remaining // 60 * 60 if remaining >= 60 else max(1, remaining)


def _timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _describe(body: Any) -> tuple[str | None, str | None]:
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    if isinstance(error, dict):
        return text(error, "code") or text(error, "type"), text(error, "message")
    messages = body.get("message")
    if isinstance(messages, list) and messages:
        return None, "; ".join(str(m) for m in messages)
    return None, text(body, "message")


class DokuProvider:
    """DOKU Checkout sessions, status lookups and HTTP notifications."""

    name = "doku"
    confirm_statuses: frozenset[EventStatus] = frozenset()  # the signature covers the whole body (Digest)

    def __init__(
        self,
        client_id: str,
        secret_key: str,
        production: bool,
        base_url: str | None,
        http: httpx.Client,
        timeout: float = 10.0,
        notification_path: str = "/webhooks/doku",
    ) -> None:
        self._client_id = client_id
        self._secret_key = secret_key
        self._base = (base_url or (PRODUCTION if production else SANDBOX)).rstrip("/")
        self._http = http
        self._timeout = timeout
        self._notification_path = notification_path

    def __repr__(self) -> str:
        return f"DokuProvider(base={self._base!r})"

    def _signed_headers(self, request_id: str, target: str, body: bytes | None) -> dict[str, str]:
        timestamp = _timestamp(datetime.now(UTC))
        headers = {
            "Client-Id": self._client_id,
            "Request-Id": request_id,
            "Request-Timestamp": timestamp,
            "Signature": signature(
                client_id=self._client_id,
                request_id=request_id,
                timestamp=timestamp,
                target=target,
                secret_key=self._secret_key,
                body=body,
            ),
            "Accept": "application/json",
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        return headers

    def create_checkout(self, request: CheckoutRequest) -> CheckoutResult:
        if request.currency != "IDR":
            raise ProviderError(
                "unsupported_currency", f"doku takes IDR only, not {request.currency}", provider=self.name
            )
        rupiah = to_provider_units(
            request.amount_minor, request.exponent, 0, provider=self.name, currency=request.currency
        )
        now = datetime.now(UTC)
        minutes = _due_minutes(request.expires_at, now)
        order: dict[str, Any] = {
            "amount": rupiah,
            "invoice_number": request.order_id,
            "currency": "IDR",
            "callback_url": request.return_url,
            "line_items": [
                {"name": request.plan_name, "price": rupiah, "quantity": 1, "sku": request.plan_code}
            ],
        }
        if request.cancel_url:
            order["callback_url_cancel"] = request.cancel_url
        customer = {"email": request.customer_email}
        if request.customer_name:
            customer["name"] = request.customer_name
        body = json.dumps(
            {"order": order, "payment": {"payment_due_date": minutes}, "customer": customer},
            separators=(",", ":"),
        ).encode()
        # DOKU allows Request-Ids up to 128 characters; a longer key of ours is hashed down, stably.
        key = request.idempotency_key
        request_id = key if len(key) <= 128 else hashlib.sha256(key.encode()).hexdigest()
        response = _http.send(
            self._http,
            self.name,
            "POST",
            self._base + CHECKOUT_PATH,
            timeout=self._timeout,
            headers=self._signed_headers(request_id, CHECKOUT_PATH, body),
            content=body,
        )
        # A repeated Request-Id with the same body is answered 409 with the original answer: a replay.
        data = _http.json_object(response, self.name, ok=(200, 201, 409), describe=_describe)
        url = text(data, "response", "payment", "url")
        if url is None:
            if response.status_code == 409:
                raise _http.error_for(response, self.name, _describe)  # a conflict, not a replay
            raise _http.bad_response(self.name, "response.payment.url", response.status_code)
        return CheckoutResult(
            provider_payment_id=text(data, "response", "order", "session_id"),
            redirect_url=url,
            token=text(data, "response", "payment", "token_id"),
            # DOKU's expired_date carries no zone; our own due date is exact.
            expires_at=now + timedelta(minutes=minutes),
        )

    def fetch_status(
        self, order_id: str, provider_payment_id: str | None, *, amount_exponent: int
    ) -> PaymentEvent | None:
        target = STATUS_PATH + quote(order_id, safe="")
        response = _http.send(
            self._http,
            self.name,
            "GET",
            self._base + target,
            timeout=self._timeout,
            headers=self._signed_headers(str(uuid.uuid4()), target, None),
        )
        if response.status_code == 404:
            return None
        data = _http.json_object(response, self.name, ok=(200,), describe=_describe)
        transaction_status = text(data, "transaction", "status")
        if transaction_status is None:
            return None
        invoice = text(data, "order", "invoice_number") or order_id
        key = f"status:{invoice}:{transaction_status}:{text(data, 'transaction', 'date') or '-'}"
        currency = (text(data, "order", "currency") or "IDR").upper()
        return self._event(key, data, {currency: amount_exponent})

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> None:
        client_id = header(headers, "Client-Id")
        request_id = header(headers, "Request-Id")
        timestamp = header(headers, "Request-Timestamp")
        received = header(headers, "Signature")
        if not (client_id and request_id and timestamp and received):
            raise WebhookSignatureError(
                "missing_signature",
                "doku notification lacks Client-Id, Request-Id, Request-Timestamp or Signature",
            )
        expected = signature(
            client_id=self._client_id,
            request_id=request_id,
            timestamp=timestamp,
            target=self._notification_path,
            secret_key=self._secret_key,
            body=body,
        )
        # The Client-Id is part of the signed text, so a foreign Client-Id cannot match; checked anyway
        # so the error says why.
        if not hmac.compare_digest(client_id.encode(), self._client_id.encode()):
            raise WebhookSignatureError("bad_signature", "doku notification is for another Client-Id")
        if not hmac.compare_digest(expected.encode(), received.strip().encode()):
            raise WebhookSignatureError("bad_signature", "doku signature does not match")

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, exponents: Mapping[str, int]
    ) -> PaymentEvent:
        data = load_object(body, self.name)
        key = header(headers, "Request-Id") or (
            f"notification:{text(data, 'order', 'invoice_number') or '-'}:"
            f"{text(data, 'transaction', 'status') or '-'}:{text(data, 'transaction', 'date') or '-'}"
        )
        return self._event(key, data, exponents)

    def _event(self, key: str, data: dict[str, Any], exponents: Mapping[str, int]) -> PaymentEvent:
        transaction_status = text(data, "transaction", "status")
        status = normalize_status(transaction_status)
        currency = (text(data, "order", "currency") or "IDR").upper()
        exponent = exponents.get(currency)
        amount = None if exponent is None else decimal_to_minor(dig(data, "order", "amount"), exponent)
        occurred = None if status == "refunded" else from_iso(dig(data, "transaction", "date"))
        return PaymentEvent(
            event_key=key,
            event_type=transaction_status or "unknown",
            order_id=text(data, "order", "invoice_number"),
            status=status,
            amount_minor=amount,
            currency=currency,
            occurred_at=occurred,
            payload=data,
        )


# -- the descriptor ---------------------------------------------------------------------------------------

# Every transaction.status normalize_status maps; a refund comes after a payment.
SAMPLE_EVENTS = (
    SampleEvent("SUCCESS", "paid", simulates=True),
    SampleEvent("PENDING", "pending", simulates=True),
    SampleEvent("REDIRECT", "pending"),
    SampleEvent("TIMEOUT", "pending"),
    SampleEvent("FAILED", "failed", simulates=True),
    SampleEvent("EXPIRED", "expired", simulates=True),
    SampleEvent("REFUNDED", "refunded", after="SUCCESS", simulates=True),  # the action of a full refund
)


def sample_webhook(
    settings: Settings, order: SampleOrder, event: SampleEvent, url: str, *, tag: SampleTag
) -> SampleWebhook:
    """A signed notification as DOKU sends it, signed for the path of `url` (its Request-Target)."""
    client_id, secret_key = secrets(settings, "DOKU_CLIENT_ID", "DOKU_SECRET_KEY")
    major = order.major
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = json.dumps(
        {
            "order": {
                "invoice_number": order.order_id,
                "amount": int(major) if major == major.to_integral_value() else str(major),
                "currency": order.currency,
            },
            "transaction": {
                "status": event.type,
                "date": now,
                "original_request_id": str(uuid.uuid4()),
            },
            "service": {"id": "VIRTUAL_ACCOUNT"},
            "channel": {"id": "VIRTUAL_ACCOUNT_SIMULATED"},
        },
        separators=(",", ":"),
    ).encode()
    request_id = f"{tag}-{uuid.uuid4()}"
    headers = {
        "Content-Type": "application/json",
        "Client-Id": client_id,
        "Request-Id": request_id,
        "Request-Timestamp": now,
        "Signature": signature(
            client_id=client_id,
            request_id=request_id,
            timestamp=now,
            target=urlsplit(url).path,
            secret_key=secret_key,
            body=body,
        ),
    }
    return SampleWebhook("doku", headers, body)


def _build(settings: Settings, http: httpx.Client) -> DokuProvider:
    return DokuProvider(
        settings.get("DOKU_CLIENT_ID").strip(),
        settings.get("DOKU_SECRET_KEY").strip(),
        settings.flag("DOKU_PRODUCTION"),
        base_url(settings, "DOKU_BASE_URL"),
        http,
    )


DESCRIPTOR = ProviderDescriptor(
    name="doku",
    label="DOKU Checkout",
    required_settings=("DOKU_CLIENT_ID", "DOKU_SECRET_KEY"),
    build=_build,
    sample_webhook=sample_webhook,
    sample_events=SAMPLE_EVENTS,
    sample_currency="IDR",
)
