"""The Midtrans fake: Snap checkout and the Core status API, answering with signed notifications, and the
Snap page (`redirect_url`).

Page buttons: Pay settles the transaction (`settlement`, what a bank transfer ends in) and sends that
notification; Fail sends `deny`; Cancel sends nothing (closing Snap before choosing a method creates no
transaction). Pay and Fail land on the transaction's `callbacks.finish` URL with the `order_id`,
`status_code` and `transaction_status` query parameters Snap adds; Cancel on the plain finish URL."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, ClassVar

from thinbase.fakes.payments.base import (
    BadRequest,
    FakeProvider,
    RecordedRequest,
    Reply,
    Settlement,
    is_int,
    with_query,
)
from thinbase.fakes.payments.checkout_page import CheckoutView, Outcome
from thinbase.fakes.payments.signing import midtrans_signature

ORDER_ID = re.compile(r"^[A-Za-z0-9._~-]{1,50}$")


class MidtransFake(FakeProvider):
    """Snap `POST /snap/v1/transactions` and Core `GET /v2/{order_id}/status`."""

    name = "midtrans"
    label = "Midtrans Snap (fake)"
    STATUS_CODES: ClassVar[dict[str, str]] = {
        "settlement": "200",
        "capture": "200",
        "refund": "200",
        "partial_refund": "200",
        "chargeback": "200",
        "partial_chargeback": "200",
        "pending": "201",
        "authorize": "201",
        "deny": "202",
        "cancel": "202",
        "failure": "202",
        "expire": "202",
    }

    def __init__(self, server_key: str, *, webhook_url: str | None = None, port: int = 0) -> None:
        super().__init__(webhook_url=webhook_url, port=port)
        self.server_key = server_key
        self.orders: dict[str, dict[str, Any]] = {}  # order_id -> the Snap request body
        self.statuses: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, str] = {}  # Snap token -> order_id

    def error_body(self, status: int, message: str, code: str | None) -> Any:
        return {"status_code": str(status), "error_messages": [message]}

    def handle(self, request: RecordedRequest) -> Reply:
        if request.header("authorization") != self._basic(self.server_key, ""):
            raise BadRequest(401, "Access denied, please check client or server key")
        if request.header("accept") != "application/json":
            raise BadRequest(400, "Accept must be application/json")
        if request.method == "POST" and request.path == "/snap/v1/transactions":
            return self._create(self._json(request))
        match = re.fullmatch(r"/v2/([^/]+)/status", request.path)
        if request.method == "GET" and match:
            status = self.statuses.get(match.group(1))
            if status is None:
                return 404, {"status_code": "404", "status_message": "Transaction doesn't exist."}, {}
            if status["transaction_status"] == "expire":  # the status API reports expiry as 407
                status = status | {"status_code": "407"}
                status["signature_key"] = midtrans_signature(
                    status["order_id"], "407", status["gross_amount"], self.server_key
                )
            return 200, status, {}
        raise BadRequest(404, "The requested resource is not found")

    def _create(self, body: Any) -> Reply:
        details = body.get("transaction_details") if isinstance(body, dict) else None
        if not isinstance(details, dict):
            raise BadRequest(400, "transaction_details is required")
        order_id, gross = details.get("order_id"), details.get("gross_amount")
        if not isinstance(order_id, str) or not ORDER_ID.match(order_id):
            raise BadRequest(400, "transaction_details.order_id is invalid")
        if not is_int(gross) or gross <= 0:
            raise BadRequest(400, "transaction_details.gross_amount must be a positive integer (no decimals)")
        items = body.get("item_details")
        if items is not None:
            total = sum(item.get("price", 0) * item.get("quantity", 0) for item in items)
            if total != gross or any(len(str(item.get("name", ""))) > 50 for item in items):
                raise BadRequest(
                    400, "transaction_details.gross_amount is not equal to the sum of item_details"
                )
        if order_id in self.orders:
            raise BadRequest(400, "transaction_details.order_id has already been taken")
        self.orders[order_id] = body
        token = str(uuid.uuid4())
        self.tokens[token] = order_id
        return 201, {"token": token, "redirect_url": self.page_url(token)}, {}

    def set_status(self, order_id: str, status: str, **fields: Any) -> None:
        """`status` is a transaction_status; fields override the generated ones (fraud_status ...)."""
        with self._lock:
            self.statuses[order_id] = self._notification(order_id, status, **fields)

    def _notification(self, order_id: str, status: str, **fields: Any) -> dict[str, Any]:
        created = self.orders.get(order_id, {})
        gross = _dig_int(created, "transaction_details", "gross_amount")
        data: dict[str, Any] = {
            "transaction_time": "2026-11-22 14:00:00",
            "transaction_status": status,
            "transaction_id": fields.pop("transaction_id", f"txn-{order_id}"),
            "status_message": "midtrans payment notification",
            "status_code": self.STATUS_CODES.get(status, "200"),
            "payment_type": "bank_transfer",
            "order_id": order_id,
            "merchant_id": "G000000000",
            "gross_amount": f"{gross or 0}.00",
            "currency": "IDR",
        }
        if status in ("capture", "settlement"):
            data["fraud_status"] = "accept"
        if status == "settlement":
            data["settlement_time"] = "2026-11-22 14:05:00"
        data.update(fields)
        data["signature_key"] = midtrans_signature(
            order_id, data["status_code"], data["gross_amount"], self.server_key
        )
        return data

    def notification(self, order_id: str, status: str, **fields: Any) -> tuple[dict[str, str], bytes]:
        """A signed HTTP notification (also what the status API reports from now on)."""
        self.set_status(order_id, status, **fields)
        with self._lock:
            body = json.dumps(self.statuses[order_id]).encode()
        return {"Content-Type": "application/json"}, body

    # the Snap page ------------------------------------------------------------------------------------
    def references(self) -> list[str]:
        return list(self.tokens)

    def checkout_view(self, reference: str) -> CheckoutView | None:
        order_id = self.tokens.get(reference)
        if order_id is None:
            return None
        created = self.orders.get(order_id, {})
        finish = (created.get("callbacks") or {}).get("finish")
        return CheckoutView(
            reference=reference,
            order_id=order_id,
            amount=_dig_int(created, "transaction_details", "gross_amount") or 0,
            decimals=0,  # whole rupiah
            currency="IDR",
            return_url=finish if isinstance(finish, str) else None,
            cancel_url=None,
        )

    def settle(self, view: CheckoutView, outcome: Outcome) -> Settlement:
        if outcome == "cancel":
            return Settlement([], view.return_url)
        signed = self.notification(view.order_id, "settlement" if outcome == "pay" else "deny")
        status = self.statuses[view.order_id]
        finish = None
        if view.return_url:
            finish = with_query(
                view.return_url,
                {
                    "order_id": view.order_id,
                    "status_code": status["status_code"],
                    "transaction_status": status["transaction_status"],
                },
            )
        return Settlement([signed], finish)


def _dig_int(data: Any, *path: str) -> int | None:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data if is_int(data) else None
