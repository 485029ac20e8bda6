"""The Stripe fake: Checkout Sessions (form-encoded, Idempotency-Key), signed events, and the session's
hosted page (`url`).

Page buttons: Pay completes the session paid and sends `checkout.session.completed`; Fail completes it
unpaid with a PaymentIntent that needs a new payment method, the way an asynchronous payment (a bank
debit) fails, and sends `checkout.session.completed` (unpaid) then `checkout.session.async_payment_failed`
(a card decline sends no webhook at all: Checkout keeps the customer on its page); Cancel sends nothing, the
session stays open. Pay and Fail land on the session's `success_url` ({CHECKOUT_SESSION_ID} filled in),
Cancel on its `cancel_url`."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from thinbase.fakes.payments.base import (
    THREE_DECIMAL,
    ZERO_DECIMAL,
    BadRequest,
    FakeProvider,
    RecordedRequest,
    Reply,
    Settlement,
)
from thinbase.fakes.payments.checkout_page import CheckoutView, Outcome
from thinbase.fakes.payments.signing import stripe_header


class StripeFake(FakeProvider):
    """`POST /v1/checkout/sessions` (form-encoded, Idempotency-Key), `GET /v1/checkout/sessions/{id}` and
    `GET /v1/checkout/sessions?payment_intent=` (the search Stripe's `locate` makes). A session gets its
    PaymentIntent (`pi_` + the session id's tail) once it completes: paid on the page or by `set_status`."""

    name = "stripe"
    label = "Stripe Checkout (fake)"

    def __init__(
        self, secret_key: str, webhook_secret: str, *, webhook_url: str | None = None, port: int = 0
    ) -> None:
        super().__init__(webhook_url=webhook_url, port=port)
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.sessions: dict[str, dict[str, Any]] = {}
        self._idempotency: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self._intent_metadata: dict[str, dict[str, str]] = {}  # what payment_intent_data[metadata] asked for

    def error_body(self, status: int, message: str, code: str | None) -> Any:
        kind = "api_error" if status >= 500 else "invalid_request_error"
        return {"error": {"type": kind, "code": code, "message": message}}

    def handle(self, request: RecordedRequest) -> Reply:
        if request.header("authorization") != f"Bearer {self.secret_key}":
            raise BadRequest(401, "Invalid API Key provided", "api_key_invalid")
        if request.method == "POST" and request.path == "/v1/checkout/sessions":
            if request.header("content-type") != "application/x-www-form-urlencoded":
                raise BadRequest(400, "Content-Type must be application/x-www-form-urlencoded")
            key = request.header("idempotency-key")
            if key and key in self._idempotency:
                body, session = self._idempotency[key]
                if body != request.body:
                    raise BadRequest(
                        400, "Keys for idempotent requests can only be used with the same parameters"
                    )
                return 200, session, {"Idempotent-Replayed": "true"}
            session = self._create(request.form())
            if key:
                self._idempotency[key] = (request.body, session)
            return 200, session, {}
        if request.method == "GET" and request.path == "/v1/checkout/sessions":
            return 200, self._search(request), {}
        match = re.fullmatch(r"/v1/checkout/sessions/([^/]+)", request.path)
        if request.method == "GET" and match:
            stored = self.sessions.get(match.group(1))
            if stored is None:
                raise BadRequest(404, f"No such checkout.session: '{match.group(1)}'", "resource_missing")
            answer = json.loads(json.dumps(stored))
            if "payment_intent.latest_charge" not in request.query.get("expand[]", []):
                intent = answer.get("payment_intent")
                if isinstance(intent, dict):
                    answer["payment_intent"] = intent["id"]
            return 200, answer, {}
        raise BadRequest(404, "Unrecognized request URL", "resource_missing")

    def _search(self, request: RecordedRequest) -> dict[str, Any]:
        """`GET /v1/checkout/sessions?payment_intent=pi_…`: Stripe's session list filtered by PaymentIntent
        (what Stripe's `locate` asks), newest first, `limit` 1 to 100 (default 10); the PaymentIntent
        unexpanded, as a list answers it."""
        raw_limit = request.query.get("limit", ["10"])[0]
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
            raise BadRequest(400, "limit must be an integer between 1 and 100", "parameter_invalid")
        wanted = request.query.get("payment_intent", [None])[0]
        found = []
        for session in reversed(list(self.sessions.values())):
            intent = session["payment_intent"]
            intent_id = intent["id"] if isinstance(intent, dict) else None
            if wanted is None or intent_id == wanted:
                found.append({**session, "payment_intent": intent_id})
        limit = int(raw_limit)
        return {
            "object": "list",
            "url": "/v1/checkout/sessions",
            "data": found[:limit],
            "has_more": len(found) > limit,
        }

    def _create(self, form: dict[str, str]) -> dict[str, Any]:
        if form.get("mode") != "payment":
            raise BadRequest(400, "mode must be payment here", "parameter_invalid")
        currency = form.get("line_items[0][price_data][currency]", "")
        raw_amount = form.get("line_items[0][price_data][unit_amount]", "")
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise BadRequest(400, "line_items[0][price_data][currency] must be a lowercase ISO code")
        if not raw_amount.isdigit() or int(raw_amount) <= 0:
            raise BadRequest(
                400, "unit_amount must be a positive integer in minor units", "parameter_invalid"
            )
        amount = int(raw_amount)
        if currency.upper() in THREE_DECIMAL and amount % 10:
            raise BadRequest(400, "three-decimal amounts must end in 0", "invalid_charge_amount")
        if (
            not form.get("line_items[0][price_data][product_data][name]")
            or form.get("line_items[0][quantity]") != "1"
        ):
            raise BadRequest(400, "line_items[0] needs product_data[name] and quantity", "parameter_missing")
        if not form.get("success_url"):
            raise BadRequest(400, "success_url is required", "parameter_missing")
        now = int(time.time())
        expires_at = int(form.get("expires_at") or now + 86400)
        if not now + 1800 <= expires_at <= now + 86400:
            raise BadRequest(
                400, "expires_at must be between 30 minutes and 24 hours from now", "parameter_invalid"
            )
        metadata = {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}
        if any(len(k) > 40 or len(v) > 500 for k, v in metadata.items()):
            raise BadRequest(
                400, "metadata keys are at most 40 and values 500 characters", "parameter_invalid"
            )
        session_id = f"cs_test_{uuid.uuid4().hex}"  # Stripe's ids are unique across every session
        session: dict[str, Any] = {
            "id": session_id,
            "object": "checkout.session",
            "url": self.page_url(session_id),
            "status": "open",
            "payment_status": "unpaid",
            "client_reference_id": form.get("client_reference_id"),
            "customer_email": form.get("customer_email"),
            "metadata": metadata,
            "amount_total": amount,
            "currency": currency,
            "expires_at": expires_at,
            "success_url": form["success_url"],
            "cancel_url": form.get("cancel_url"),
            "payment_intent": None,
        }
        self.sessions[session_id] = session
        self._intent_metadata[session_id] = {
            k[len("payment_intent_data[metadata][") : -1]: v
            for k, v in form.items()
            if k.startswith("payment_intent_data[metadata][")
        }
        return session

    def session_for(self, order_id: str) -> dict[str, Any]:
        with self._lock:
            for session in self.sessions.values():
                if session["client_reference_id"] == order_id:
                    return session
        raise KeyError(order_id)

    def set_status(self, order_id: str, status: str, **fields: Any) -> None:
        """`status` is the session's status (open, complete, expired); fields: payment_status,
        intent_status, refunded (bool: a full refund), amount_refunded (int: a partial one)."""
        session = self.session_for(order_id)
        with self._lock:
            session["status"] = status
            session["payment_status"] = fields.get(
                "payment_status", "paid" if status == "complete" else "unpaid"
            )
            if status == "complete":
                intent_id = f"pi_{session['id'][3:]}"
                session["payment_intent"] = {
                    "id": intent_id,
                    "object": "payment_intent",
                    "status": fields.get("intent_status", "succeeded"),
                    "metadata": self._intent_metadata[session["id"]],
                    "latest_charge": {
                        "id": f"ch_{session['id'][3:]}",
                        "object": "charge",
                        "amount": session["amount_total"],
                        "amount_refunded": fields.get(
                            "amount_refunded", session["amount_total"] if fields.get("refunded") else 0
                        ),
                        "currency": session["currency"],
                        "created": int(time.time()),
                        "refunded": bool(fields.get("refunded")),
                        "metadata": self._intent_metadata[session["id"]],
                        "payment_intent": intent_id,
                    },
                }

    def event(
        self, event_type: str, order_id: str, *, timestamp: int | None = None, event_id: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """A signed webhook. checkout.session.* carry the session; charge.* the session's charge."""
        session = json.loads(json.dumps(self.session_for(order_id)))
        obj: dict[str, Any]
        if event_type.startswith("charge."):
            intent = session.get("payment_intent")
            if not isinstance(intent, dict):
                raise ValueError("set_status(order_id, 'complete', ...) first: the session has no charge")
            obj = intent["latest_charge"]
        else:
            obj = session
        body = json.dumps(
            {
                "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
                "object": "event",
                "type": event_type,
                "created": int(time.time()),
                "data": {"object": obj},
            }
        ).encode()
        header = stripe_header(self.webhook_secret, body, timestamp)
        return {"Content-Type": "application/json", "Stripe-Signature": header}, body

    # the hosted page ----------------------------------------------------------------------------------
    def references(self) -> list[str]:
        return list(self.sessions)

    def checkout_view(self, reference: str) -> CheckoutView | None:
        session = self.sessions.get(reference)
        if session is None:
            return None
        currency = str(session["currency"]).upper()
        success = str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", reference)
        return CheckoutView(
            reference=reference,
            order_id=str(session["client_reference_id"]),
            amount=int(session["amount_total"]),
            decimals=0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2,
            currency=currency,
            return_url=success,
            cancel_url=session.get("cancel_url"),
        )

    def settle(self, view: CheckoutView, outcome: Outcome) -> Settlement:
        order_id = view.order_id
        if outcome == "pay":
            self.set_status(order_id, "complete")
            return Settlement([self.event("checkout.session.completed", order_id)], view.return_url)
        if outcome == "fail":
            self.set_status(
                order_id, "complete", payment_status="unpaid", intent_status="requires_payment_method"
            )
            events = ["checkout.session.completed", "checkout.session.async_payment_failed"]
            return Settlement([self.event(kind, order_id) for kind in events], view.return_url)
        return Settlement([], view.cancel_url or view.return_url)
