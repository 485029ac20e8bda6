"""The Razorpay fake: Orders, their payments, signed webhooks, and a checkout page per order.

Razorpay orders have no hosted page URL: our checkout answers with the Razorpay order id as `token`, which
a client hands to Razorpay Checkout. The fake serves its page for an order at `page_url(order id)`,
`{fake.url}/checkout/{razorpay order id}`. Page buttons: Pay captures a payment and sends
`payment.captured` then `order.paid`; Fail records a failed attempt and sends `payment.failed`; Cancel
sends nothing. Our order carries no return URL, so every button lands on the fake's /_fake/return page."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from thinbase.fakes.payments.base import (
    THREE_DECIMAL,
    BadRequest,
    FakeProvider,
    RecordedRequest,
    Reply,
    Settlement,
    is_int,
    iso_decimals,
)
from thinbase.fakes.payments.checkout_page import CheckoutView, Outcome
from thinbase.fakes.payments.signing import hex_hmac


class RazorpayFake(FakeProvider):
    """`POST /v1/orders`, `GET /v1/orders?receipt=`, `GET /v1/orders/{id}/payments`."""

    name = "razorpay"
    label = "Razorpay Checkout (fake)"

    def __init__(
        self,
        key_id: str,
        key_secret: str,
        webhook_secret: str,
        *,
        webhook_url: str | None = None,
        port: int = 0,
    ) -> None:
        super().__init__(webhook_url=webhook_url, port=port)
        self.key_id = key_id
        self.key_secret = key_secret
        self.webhook_secret = webhook_secret
        self.orders: dict[str, dict[str, Any]] = {}  # Razorpay order id -> order
        self.payments: dict[str, list[dict[str, Any]]] = {}  # Razorpay order id -> payments

    def error_body(self, status: int, message: str, code: str | None) -> Any:
        default = "SERVER_ERROR" if status >= 500 else "BAD_REQUEST_ERROR"
        return {"error": {"code": code or default, "description": message, "source": "NA", "step": "NA"}}

    def handle(self, request: RecordedRequest) -> Reply:
        if request.header("authorization") != self._basic(self.key_id, self.key_secret):
            raise BadRequest(401, "Authentication failed")
        if request.method == "POST" and request.path == "/v1/orders":
            return 200, self._create(self._json(request)), {}
        if request.method == "GET" and request.path == "/v1/orders":
            receipt = request.query.get("receipt", [None])[0]
            items = [o for o in self.orders.values() if receipt is None or o["receipt"] == receipt]
            return 200, {"entity": "collection", "count": len(items), "items": items}, {}
        match = re.fullmatch(r"/v1/orders/([^/]+)/payments", request.path)
        if request.method == "GET" and match:
            if match.group(1) not in self.orders:
                raise BadRequest(400, "The id provided does not exist")
            items = self.payments.get(match.group(1), [])
            return 200, {"entity": "collection", "count": len(items), "items": items}, {}
        raise BadRequest(404, "The requested URL was not found on the server.", "NOT_FOUND")

    def _create(self, body: Any) -> dict[str, Any]:
        amount, currency = body.get("amount"), body.get("currency")
        if not is_int(amount):
            raise BadRequest(400, "The amount must be an integer.")
        if amount < 100:
            raise BadRequest(400, "The amount must be at least INR 1.00")
        if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
            raise BadRequest(400, "The currency is invalid.")
        if currency in THREE_DECIMAL and amount % 10:
            raise BadRequest(400, "The last digit of a three decimal currency amount must be 0")
        receipt, notes = body.get("receipt"), body.get("notes", {})
        if not isinstance(receipt, str) or len(receipt) > 40:
            raise BadRequest(400, "The receipt may not be greater than 40 characters.")
        if not isinstance(notes, dict) or len(notes) > 15:
            raise BadRequest(400, "notes may hold at most 15 keys")
        order_id = f"order_{uuid.uuid4().hex[:14]}"
        order = {
            "id": order_id,
            "entity": "order",
            "amount": amount,
            "amount_paid": 0,
            "amount_due": amount,
            "currency": currency,
            "receipt": receipt,
            "offer_id": None,
            "status": "created",
            "attempts": 0,
            "notes": notes,
            "created_at": int(time.time()),
        }
        self.orders[order_id] = order
        return order

    def order_for(self, order_id: str) -> dict[str, Any]:
        with self._lock:
            for order in self.orders.values():
                if order["receipt"] == order_id:
                    return order
        raise KeyError(order_id)

    def set_status(self, order_id: str, status: str, **fields: Any) -> None:
        """Add a payment attempt with `status` (created, authorized, captured, failed, refunded) to our order;
        fields override the payment's (refund_status, amount_refunded ...)."""
        order = self.order_for(order_id)
        payment: dict[str, Any] = {
            "id": fields.pop("payment_id", f"pay_{uuid.uuid4().hex[:14]}"),
            "entity": "payment",
            "amount": order["amount"],
            "currency": order["currency"],
            "status": status,
            "order_id": order["id"],
            "method": "upi",
            "captured": status in ("captured", "refunded"),
            "amount_refunded": order["amount"] if status == "refunded" else 0,
            "refund_status": "full" if status == "refunded" else None,
            "notes": {"order_id": order_id},
            "created_at": int(time.time()),
        }
        payment.update(fields)
        with self._lock:
            self.payments.setdefault(order["id"], []).append(payment)
            if status in ("captured", "refunded"):
                order["status"], order["amount_paid"], order["amount_due"] = "paid", order["amount"], 0

    def webhook(
        self, event: str, order_id: str, *, event_id: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """A signed webhook about our order's latest payment (order.paid also carries the order)."""
        order = self.order_for(order_id)
        with self._lock:
            payments = self.payments.get(order["id"], [])
            payment = payments[-1] if payments else None
        payload: dict[str, Any] = {}
        if payment is not None:
            payload["payment"] = {"entity": payment}
        if event.startswith("order."):
            payload["order"] = {"entity": order}
        if event.startswith("refund.") and payment is not None:
            payload["refund"] = {
                "entity": {
                    "id": f"rfnd_{uuid.uuid4().hex[:14]}",
                    "entity": "refund",
                    "amount": payment["amount"],
                    "currency": payment["currency"],
                    "payment_id": payment["id"],
                    "notes": {},
                    "status": "processed",
                }
            }
        body = json.dumps(
            {
                "entity": "event",
                "account_id": "acc_fake",
                "event": event,
                "contains": list(payload),
                "payload": payload,
                "created_at": int(time.time()),
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Razorpay-Signature": hex_hmac(self.webhook_secret, body),
            "X-Razorpay-Event-Id": event_id or f"evt_{uuid.uuid4().hex[:14]}",
        }
        return headers, body

    # the checkout page --------------------------------------------------------------------------------
    def references(self) -> list[str]:
        return list(self.orders)

    def checkout_view(self, reference: str) -> CheckoutView | None:
        order = self.orders.get(reference)
        if order is None:
            return None
        return CheckoutView(
            reference=reference,
            order_id=str(order["receipt"]),
            amount=int(order["amount"]),
            decimals=iso_decimals(order["currency"]),  # Razorpay's units are the ISO subunits
            currency=str(order["currency"]),
            return_url=None,
            cancel_url=None,
        )

    def settle(self, view: CheckoutView, outcome: Outcome) -> Settlement:
        if outcome == "cancel":
            return Settlement([], None)
        if outcome == "fail":
            self.set_status(view.order_id, "failed")
            return Settlement([self.webhook("payment.failed", view.order_id)], None)
        self.set_status(view.order_id, "captured")
        events = ("payment.captured", "order.paid")
        return Settlement([self.webhook(event, view.order_id) for event in events], None)
