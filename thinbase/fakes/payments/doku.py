"""The DOKU fake: Checkout and the order status API, HMAC-signed in both directions, and the checkout page
(`response.payment.url`).

Page buttons: Pay sends a `SUCCESS` notification, Fail a `FAILED` one, Cancel none; each is signed for the
path of the fake's `webhook_url` (DOKU signs notifications for the merchant's notification URL). Pay and
Fail land on the order's `callback_url`, Cancel on its `callback_url_cancel` (else `callback_url`)."""

from __future__ import annotations

import hmac
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from thinbase.fakes.payments.base import BadRequest, FakeProvider, RecordedRequest, Reply, Settlement, is_int
from thinbase.fakes.payments.checkout_page import CheckoutView, Outcome
from thinbase.fakes.payments.signing import doku_headers


class DokuFake(FakeProvider):
    """`POST /checkout/v1/payment` and `GET /orders/v1/status/{invoice_number}`, HMAC-signed both ways."""

    name = "doku"
    label = "DOKU Checkout (fake)"
    TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def __init__(
        self, client_id: str, secret_key: str, *, webhook_url: str | None = None, port: int = 0
    ) -> None:
        super().__init__(webhook_url=webhook_url, port=port)
        self.client_id = client_id
        self.secret_key = secret_key
        self.orders: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self._seen: dict[str, tuple[bytes, Any]] = {}  # Request-Id -> (body, answer)
        self.tokens: dict[str, str] = {}  # payment token -> invoice_number

    def error_body(self, status: int, message: str, code: str | None) -> Any:
        return {
            "error": {"code": code or "invalid_request", "message": message, "type": "invalid_request_error"}
        }

    def _check_signature(self, request: RecordedRequest, with_body: bool) -> str:
        request_id = request.header("request-id") or ""
        timestamp = request.header("request-timestamp") or ""
        if request.header("client-id") != self.client_id or not request_id or len(request_id) > 128:
            raise BadRequest(401, "Invalid Client-Id or Request-Id", "invalid_header")
        if not self.TIMESTAMP.match(timestamp):
            raise BadRequest(400, "Request-Timestamp must be ISO 8601 UTC without milliseconds")
        expected = doku_headers(
            client_id=self.client_id,
            secret_key=self.secret_key,
            request_id=request_id,
            timestamp=timestamp,
            target=request.path,
            body=request.body if with_body else None,
        )["Signature"]
        if not hmac.compare_digest(expected, request.header("signature") or ""):
            raise BadRequest(401, "Invalid Header Signature", "invalid_signature")
        return request_id

    def handle(self, request: RecordedRequest) -> Reply:
        if request.method == "POST" and request.path == "/checkout/v1/payment":
            request_id = self._check_signature(request, with_body=True)
            seen = self._seen.get(request_id)
            if seen is not None:
                if seen[0] == request.body:
                    return 409, seen[1], {}
                raise BadRequest(400, "Request-Id was used with another body", "duplicate_request_id")
            answer = self._create(self._json(request))
            self._seen[request_id] = (request.body, answer)
            return 200, answer, {}
        if request.method == "GET" and request.path.startswith("/orders/v1/status/"):
            self._check_signature(request, with_body=False)
            status = self.statuses.get(request.path.removeprefix("/orders/v1/status/"))
            if status is None:
                raise BadRequest(404, "Transaction not found", "not_found")
            return 200, status, {}
        raise BadRequest(404, "Not found", "not_found")

    def _create(self, body: Any) -> Any:
        order = body.get("order") if isinstance(body, dict) else None
        payment = body.get("payment") if isinstance(body, dict) else None
        if not isinstance(order, dict):
            raise BadRequest(400, "order is required")
        amount, invoice = order.get("amount"), order.get("invoice_number")
        if not is_int(amount) or amount <= 0 or len(str(amount)) > 12:
            raise BadRequest(400, "order.amount must be an integer in IDR without decimals")
        if not isinstance(invoice, str) or not 0 < len(invoice) <= 64:
            raise BadRequest(400, "order.invoice_number is invalid")
        due = payment.get("payment_due_date", 60) if isinstance(payment, dict) else 60
        if not is_int(due) or due <= 0:
            raise BadRequest(400, "payment.payment_due_date must be minutes")
        self.orders[invoice] = body
        token = uuid.uuid4().hex
        self.tokens[token] = invoice
        expires = (datetime.now(UTC) + timedelta(hours=7, minutes=due)).strftime("%Y%m%d%H%M%S")
        return {
            "message": ["SUCCESS"],
            "response": {
                "order": {
                    "amount": str(amount),
                    "invoice_number": invoice,
                    "currency": "IDR",
                    "session_id": token,
                },
                "payment": {
                    "payment_method_types": [],
                    "payment_due_date": due,
                    "token_id": token,
                    "url": self.page_url(token),
                    "expired_date": expires,
                },
            },
        }

    def set_status(self, order_id: str, status: str, **fields: Any) -> None:
        """`status` is a DOKU transaction.status (SUCCESS, FAILED, EXPIRED, REFUNDED, PENDING ...)."""
        order = self.orders.get(order_id, {}).get("order", {})
        data: dict[str, Any] = {
            "order": {"invoice_number": order_id, "amount": fields.pop("amount", order.get("amount", 0))},
            "transaction": {
                "status": status,
                "date": fields.pop("date", "2026-11-22T07:00:00Z"),
                "original_request_id": fields.pop("original_request_id", str(uuid.uuid4())),
            },
            "service": {"id": "VIRTUAL_ACCOUNT"},
            "channel": {"id": "VIRTUAL_ACCOUNT_BCA"},
        }
        data.update(fields)
        with self._lock:
            self.statuses[order_id] = data

    def notification(
        self,
        order_id: str,
        status: str,
        *,
        target: str = "/webhooks/doku",
        request_id: str | None = None,
        timestamp: str | None = None,
        **fields: Any,
    ) -> tuple[dict[str, str], bytes]:
        """A signed notification for `target` (the path of our notification URL)."""
        self.set_status(order_id, status, **fields)
        with self._lock:
            body = json.dumps(self.statuses[order_id], separators=(",", ":")).encode()
        headers = doku_headers(
            client_id=self.client_id,
            secret_key=self.secret_key,
            request_id=request_id or str(uuid.uuid4()),
            timestamp=timestamp or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            target=target,
            body=body,
        )
        return headers | {"Content-Type": "application/json"}, body

    # the checkout page --------------------------------------------------------------------------------
    def references(self) -> list[str]:
        return list(self.tokens)

    def checkout_view(self, reference: str) -> CheckoutView | None:
        invoice = self.tokens.get(reference)
        if invoice is None:
            return None
        order = self.orders[invoice]["order"]
        return_url, cancel_url = order.get("callback_url"), order.get("callback_url_cancel")
        return CheckoutView(
            reference=reference,
            order_id=invoice,
            amount=int(order["amount"]),
            decimals=0,  # whole rupiah
            currency=str(order.get("currency") or "IDR"),
            return_url=return_url if isinstance(return_url, str) else None,
            cancel_url=cancel_url if isinstance(cancel_url, str) else None,
        )

    def settle(self, view: CheckoutView, outcome: Outcome) -> Settlement:
        if outcome == "cancel":
            return Settlement([], view.cancel_url or view.return_url)
        target = urlsplit(self.webhook_url).path if self.webhook_url else "/webhooks/doku"
        status = "SUCCESS" if outcome == "pay" else "FAILED"
        return Settlement([self.notification(view.order_id, status, target=target)], view.return_url)
