"""The Lemon Squeezy fake: JSON:API checkouts and orders, signed webhooks, and the checkout page
(`data.attributes.url`).

Page buttons: Pay creates the order paid and sends `order_created`; Fail creates it `failed` and sends
`order_created` with that status (Lemon Squeezy's order statuses include failed; its webhooks have no
separate failure event for one-off orders); Cancel sends nothing. Lemon Squeezy takes one return URL,
`product_options.redirect_url`, so every button lands there. Amounts are cents of the store's currency
(`store_currency`)."""

from __future__ import annotations

import itertools
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from thinbase.fakes.payments.base import BadRequest, FakeProvider, RecordedRequest, Reply, Settlement, is_int
from thinbase.fakes.payments.checkout_page import CheckoutView, Outcome
from thinbase.fakes.payments.signing import hex_hmac


class LemonSqueezyFake(FakeProvider):
    """`POST /v1/checkouts` (JSON:API) and `GET /v1/orders/{id}`."""

    name = "lemonsqueezy"
    label = "Lemon Squeezy checkout (fake)"
    JSON_API = "application/vnd.api+json"
    store_currency = "USD"  # a store's currency is fixed in its dashboard

    def __init__(
        self,
        api_key: str,
        store_id: str,
        webhook_secret: str,
        variants: set[str] | None = None,
        *,
        webhook_url: str | None = None,
        port: int = 0,
    ) -> None:
        super().__init__(webhook_url=webhook_url, port=port)
        self.api_key = api_key
        self.store_id = store_id
        self.webhook_secret = webhook_secret
        self.variants = variants if variants is not None else {"1"}
        self.checkouts: dict[str, dict[str, Any]] = {}
        self.ls_orders: dict[str, dict[str, Any]] = {}  # Lemon Squeezy order id -> order resource
        self._ours: dict[str, str] = {}  # our order_id -> Lemon Squeezy order id
        self._ids = itertools.count(1000)

    def error_body(self, status: int, message: str, code: str | None) -> Any:
        return {
            "jsonapi": {"version": "1.0"},
            "errors": [{"status": str(status), "title": code or "Error", "detail": message}],
        }

    def handle(self, request: RecordedRequest) -> Reply:
        if request.header("authorization") != f"Bearer {self.api_key}":
            raise BadRequest(401, "Unauthenticated.", "Unauthorized")
        if request.header("accept") != self.JSON_API:
            raise BadRequest(406, "Accept must be application/vnd.api+json", "Not Acceptable")
        if request.method == "POST" and request.path == "/v1/checkouts":
            return 201, self._create(self._json(request, self.JSON_API)), {"Content-Type": self.JSON_API}
        match = re.fullmatch(r"/v1/orders/([^/]+)", request.path)
        if request.method == "GET" and match:
            order = self.ls_orders.get(match.group(1))
            if order is None:
                raise BadRequest(404, "The requested resource could not be found.", "Not Found")
            return 200, {"jsonapi": {"version": "1.0"}, "data": order}, {"Content-Type": self.JSON_API}
        raise BadRequest(404, "Not found", "Not Found")

    def _create(self, body: Any) -> Any:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or data.get("type") != "checkouts":
            raise BadRequest(422, "data.type must be checkouts", "Unprocessable Entity")
        relationships = data.get("relationships") or {}
        store = (relationships.get("store") or {}).get("data") or {}
        variant = (relationships.get("variant") or {}).get("data") or {}
        if store != {"type": "stores", "id": self.store_id}:
            raise BadRequest(422, "store relationship is required", "Unprocessable Entity")
        if variant.get("type") != "variants" or variant.get("id") not in self.variants:
            raise BadRequest(404, "The related variant does not exist.", "Not Found")
        attributes = data.get("attributes") or {}
        price = attributes.get("custom_price")
        if price is not None and (not is_int(price) or price < 0):
            raise BadRequest(422, "custom_price must be a positive integer in cents", "Unprocessable Entity")
        checkout_id = str(uuid.uuid4())
        resource = {
            "type": "checkouts",
            "id": checkout_id,
            "attributes": {
                "store_id": int(self.store_id) if self.store_id.isdigit() else self.store_id,
                "variant_id": int(variant["id"]),
                "custom_price": price,
                "product_options": attributes.get("product_options") or {},
                "checkout_data": attributes.get("checkout_data") or {},
                "expires_at": attributes.get("expires_at"),
                "url": self.page_url(checkout_id),
            },
        }
        self.checkouts[checkout_id] = resource
        return {"jsonapi": {"version": "1.0"}, "data": resource}

    def checkout_for(self, order_id: str) -> dict[str, Any]:
        with self._lock:
            for checkout in self.checkouts.values():
                custom = checkout["attributes"]["checkout_data"].get("custom") or {}
                if custom.get("order_id") == order_id:
                    return checkout
        raise KeyError(order_id)

    def set_status(self, order_id: str, status: str, **fields: Any) -> None:
        """Create or update the Lemon Squeezy order for our order with `status` (pending, paid, failed,
        refunded ...); its id is `ls_order_id(order_id)`."""
        checkout = self.checkout_for(order_id)
        price = checkout["attributes"]["custom_price"] or 0
        existing = self.ls_orders.get(self._ours.get(order_id, ""))
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self._lock:
            if existing is None:
                ls_id = str(next(self._ids))
                existing = {
                    "type": "orders",
                    "id": ls_id,
                    "attributes": {
                        "store_id": self.store_id,
                        "identifier": str(uuid.uuid4()),
                        "order_number": int(ls_id),
                        "user_email": checkout["attributes"]["checkout_data"].get("email"),
                        "currency": fields.pop("currency", self.store_currency),
                        "subtotal": price,
                        "tax": fields.pop("tax", 0),
                        "total": price,
                        "status": status,
                        "refunded": False,
                        "refunded_at": None,
                        "refunded_amount": 0,
                        "created_at": now,
                        "updated_at": now,
                    },
                }
                existing["attributes"]["total"] += existing["attributes"]["tax"]
                self.ls_orders[ls_id] = existing
                self._ours[order_id] = ls_id
            attributes = existing["attributes"]
            attributes["status"], attributes["updated_at"] = status, now
            if status == "refunded":
                attributes.update(refunded=True, refunded_at=now, refunded_amount=attributes["subtotal"])
            attributes.update(fields)

    def ls_order_id(self, order_id: str) -> str:
        with self._lock:
            return self._ours[order_id]

    def webhook(self, event_name: str, order_id: str, **fields: Any) -> tuple[dict[str, str], bytes]:
        """A signed webhook for the order: order_created / order_refunded (call set_status first)."""
        with self._lock:
            resource = json.loads(json.dumps(self.ls_orders[self._ours[order_id]]))
        body = json.dumps(
            {
                "meta": {"event_name": event_name, "custom_data": {"order_id": order_id}, **fields},
                "data": resource,
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Event-Name": event_name,
            "X-Signature": hex_hmac(self.webhook_secret, body),
        }
        return headers, body

    # the checkout page --------------------------------------------------------------------------------
    def references(self) -> list[str]:
        return list(self.checkouts)

    def checkout_view(self, reference: str) -> CheckoutView | None:
        checkout = self.checkouts.get(reference)
        if checkout is None:
            return None
        attributes = checkout["attributes"]
        redirect = (attributes.get("product_options") or {}).get("redirect_url")
        return CheckoutView(
            reference=reference,
            order_id=str((attributes["checkout_data"].get("custom") or {}).get("order_id") or ""),
            amount=int(attributes.get("custom_price") or 0),
            decimals=2,  # cents
            currency=self.store_currency,
            return_url=redirect if isinstance(redirect, str) else None,
            cancel_url=None,
        )

    def settle(self, view: CheckoutView, outcome: Outcome) -> Settlement:
        if outcome == "cancel":
            return Settlement([], view.return_url)
        self.set_status(view.order_id, "paid" if outcome == "pay" else "failed")
        return Settlement([self.webhook("order_created", view.order_id)], view.return_url)
