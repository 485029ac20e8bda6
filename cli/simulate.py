"""Signed webhooks built from the configured secrets, as each provider would send them (`thinbase webhooks
simulate`, like `stripe trigger`): testing a deployment end to end without the provider.

Signing reuses the provider modules' own schemes (the same functions the edge app verifies with), and
every body is one that provider's `parse_webhook` normalizes to the requested status, which `build` checks
before anything is sent when the provider is fully configured. Event ids carry `sim` so simulated events
are recognizable in the ledger.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from thinbase.errors import ProviderError, SimulationError
from thinbase.functions.payments.providers import doku, lemonsqueezy, midtrans, razorpay, stripe
from thinbase.functions.payments.providers.amounts import to_provider_units
from thinbase.functions.payments.providers.base import PaymentStatus
from thinbase.settings import Settings

PROVIDERS = ("midtrans", "doku", "stripe", "lemonsqueezy", "razorpay")
STATUSES: tuple[PaymentStatus, ...] = ("pending", "paid", "failed", "expired", "refunded")



@dataclass(frozen=True)
class SimulatedWebhook:
    provider: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Order:
    order_id: str
    amount_minor: int
    currency: str
    exponent: int
    # The payment's provider reference (payments.provider_payment_id: a Stripe session, a Razorpay order),
    # which binds the provider's events to the payment; None before the checkout was created.
    provider_reference: str | None = None


def _secret(settings: Settings, *names: str) -> list[str]:
    values = [settings.get(name).strip() for name in names]
    missing = [name for name, value in zip(names, values, strict=True) if not value]
    if missing:
        raise SimulationError(
            f"{', '.join(missing)} not set: the webhook is signed with the configured secret"
        )
    return values


def _major(order: Order) -> Decimal:
    return Decimal(order.amount_minor).scaleb(-order.exponent)


def _unsupported(provider: str, status: str) -> SimulationError:
    return SimulationError(f"{provider} sends no webhook meaning {status}")


def _stripe(settings: Settings, order: Order, status: PaymentStatus) -> SimulatedWebhook:
    (secret,) = _secret(settings, "STRIPE_WEBHOOK_SECRET")
    units = stripe.to_stripe_amount(order.amount_minor, order.currency, order.exponent)
    now = int(time.time())
    session_id = order.provider_reference or f"cs_sim_{uuid.uuid4().hex[:20]}"
    obj: dict[str, Any] = {
        "id": session_id,
        "object": "checkout.session",
        "client_reference_id": order.order_id,
        "metadata": {"order_id": order.order_id},
        "amount_total": units,
        "currency": order.currency.lower(),
        "status": "complete",
        "payment_status": "unpaid",
    }
    if status == "paid":
        event_type, obj["payment_status"] = "checkout.session.completed", "paid"
    elif status == "pending":
        event_type = "checkout.session.completed"
    elif status == "failed":
        event_type = "checkout.session.async_payment_failed"
    elif status == "expired":
        event_type, obj["status"] = "checkout.session.expired", "expired"
    else:
        event_type = "charge.refunded"
        obj = {
            "id": f"ch_sim_{uuid.uuid4().hex[:20]}",
            "object": "charge",
            "amount": units,
            "amount_refunded": units,
            "currency": order.currency.lower(),
            "refunded": True,
            "metadata": {"order_id": order.order_id},
            "created": now,
        }
    body = json.dumps(
        {
            "id": f"evt_sim_{uuid.uuid4().hex[:20]}",
            "object": "event",
            "type": event_type,
            "created": now,
            "livemode": False,
            "data": {"object": obj},
        }
    ).encode()
    signature = stripe.compute_signature(secret, now, body)
    return SimulatedWebhook(
        "stripe", {"Content-Type": "application/json", "Stripe-Signature": f"t={now},v1={signature}"}, body
    )


_MIDTRANS = {
    "paid": ("settlement", "200"),
    "pending": ("pending", "201"),
    "failed": ("deny", "202"),
    "expired": ("expire", "202"),
    "refunded": ("refund", "200"),
}


def _midtrans(settings: Settings, order: Order, status: PaymentStatus) -> SimulatedWebhook:
    (server_key,) = _secret(settings, "MIDTRANS_SERVER_KEY")
    transaction_status, status_code = _MIDTRANS[status]
    gross = f"{_major(order):.2f}"
    now = datetime.now(midtrans.WIB).strftime("%Y-%m-%d %H:%M:%S")
    data: dict[str, Any] = {
        "transaction_time": now,
        "transaction_status": transaction_status,
        "transaction_id": f"sim-{uuid.uuid4()}",
        "status_message": "thinbase simulated notification",
        "status_code": status_code,
        "payment_type": "bank_transfer",
        "order_id": order.order_id,
        "merchant_id": "SIMULATED",
        "gross_amount": gross,
        "currency": order.currency,
        "fraud_status": "accept",
    }
    if status == "paid":
        data["settlement_time"] = now
    data["signature_key"] = midtrans.signature_key(order.order_id, status_code, gross, server_key)
    return SimulatedWebhook("midtrans", {"Content-Type": "application/json"}, json.dumps(data).encode())


_DOKU = {
    "paid": "SUCCESS",
    "pending": "PENDING",
    "failed": "FAILED",
    "expired": "EXPIRED",
    "refunded": "REFUNDED",
}


def _doku(settings: Settings, order: Order, status: PaymentStatus, path: str) -> SimulatedWebhook:
    client_id, secret_key = _secret(settings, "DOKU_CLIENT_ID", "DOKU_SECRET_KEY")
    major = _major(order)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = json.dumps(
        {
            "order": {
                "invoice_number": order.order_id,
                "amount": int(major) if major == major.to_integral_value() else str(major),
                "currency": order.currency,
            },
            "transaction": {"status": _DOKU[status], "date": now, "original_request_id": str(uuid.uuid4())},
            "service": {"id": "VIRTUAL_ACCOUNT"},
            "channel": {"id": "VIRTUAL_ACCOUNT_SIMULATED"},
        },
        separators=(",", ":"),
    ).encode()
    request_id = f"sim-{uuid.uuid4()}"
    signature = doku.signature(
        client_id=client_id,
        request_id=request_id,
        timestamp=now,
        target=path,
        secret_key=secret_key,
        body=body,
    )
    headers = {
        "Content-Type": "application/json",
        "Client-Id": client_id,
        "Request-Id": request_id,
        "Request-Timestamp": now,
        "Signature": signature,
    }
    return SimulatedWebhook("doku", headers, body)


def _lemonsqueezy(settings: Settings, order: Order, status: PaymentStatus) -> SimulatedWebhook:
    (secret,) = _secret(settings, "LEMONSQUEEZY_WEBHOOK_SECRET")
    if status == "expired":
        raise _unsupported("lemonsqueezy", status)
    cents = to_provider_units(
        order.amount_minor,
        order.exponent,
        lemonsqueezy.CENTS,
        provider="lemonsqueezy",
        currency=order.currency,
    )
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    refunded = status == "refunded"
    event_name = "order_refunded" if refunded else "order_created"
    attributes = {
        "store_id": settings.get("LEMONSQUEEZY_STORE_ID") or "0",
        "identifier": str(uuid.uuid4()),
        "currency": order.currency,
        "subtotal": cents,
        "tax": 0,
        "total": cents,
        "status": status,
        "refunded": refunded,
        "refunded_amount": cents if refunded else 0,
        "refunded_at": now if refunded else None,
        "created_at": now,
        "updated_at": now,
    }
    body = json.dumps(
        {
            "meta": {
                "event_name": event_name,
                "custom_data": {"order_id": order.order_id},
                "test_mode": True,
            },
            "data": {"type": "orders", "id": str(uuid.uuid4().int % 10**9), "attributes": attributes},
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Event-Name": event_name,
        "X-Signature": lemonsqueezy.compute_signature(secret, body),
    }
    return SimulatedWebhook("lemonsqueezy", headers, body)


_RAZORPAY = {"paid": "payment.captured", "failed": "payment.failed", "refunded": "refund.processed"}


def _razorpay(settings: Settings, order: Order, status: PaymentStatus) -> SimulatedWebhook:
    (secret,) = _secret(settings, "RAZORPAY_WEBHOOK_SECRET")
    event = _RAZORPAY.get(status)
    if event is None:
        raise _unsupported("razorpay", status)
    if order.provider_reference is None:
        # Razorpay's events name the Razorpay order our checkout created; without one nothing binds them.
        raise SimulationError(f"{order.order_id} has no Razorpay order yet: start its checkout first")
    units = razorpay.to_razorpay_amount(order.amount_minor, order.currency, order.exponent)
    now = int(time.time())
    payment = {
        "id": f"pay_sim{uuid.uuid4().hex[:11]}",
        "entity": "payment",
        "amount": units,
        "currency": order.currency,
        "status": {"paid": "captured", "failed": "failed"}.get(status, "refunded"),
        "order_id": order.provider_reference,
        "method": "upi",
        "captured": status != "failed",
        "amount_refunded": units if status == "refunded" else 0,
        "notes": {"order_id": order.order_id},
        "created_at": now,
    }
    payload: dict[str, Any] = {"payment": {"entity": payment}}
    if status == "refunded":
        payload["refund"] = {
            "entity": {
                "id": f"rfnd_sim{uuid.uuid4().hex[:10]}",
                "entity": "refund",
                "amount": units,
                "currency": order.currency,
                "payment_id": payment["id"],
                "notes": {"order_id": order.order_id},
                "status": "processed",
            }
        }
    body = json.dumps(
        {
            "entity": "event",
            "account_id": "acc_simulated",
            "event": event,
            "contains": list(payload),
            "payload": payload,
            "created_at": now,
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Razorpay-Signature": razorpay.hmac_hex(secret, body),
        "X-Razorpay-Event-Id": f"evt_sim{uuid.uuid4().hex[:11]}",
    }
    return SimulatedWebhook("razorpay", headers, body)


def build(
    provider: str, settings: Settings, order: Order, status: PaymentStatus, url: str
) -> SimulatedWebhook:
    """A signed webhook for `order` reaching `status`, to POST to `url` (the edge app's webhook route)."""
    try:
        if provider == "stripe":
            return _stripe(settings, order, status)
        if provider == "midtrans":
            return _midtrans(settings, order, status)
        if provider == "doku":
            return _doku(settings, order, status, urlsplit(url).path)
        if provider == "lemonsqueezy":
            return _lemonsqueezy(settings, order, status)
        if provider == "razorpay":
            return _razorpay(settings, order, status)
    except ProviderError as exc:
        raise SimulationError(exc.message) from exc
    raise SimulationError(f"unknown provider {provider!r}; one of {', '.join(PROVIDERS)}")
