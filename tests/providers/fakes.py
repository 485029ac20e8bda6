"""Local fakes of the five providers' documented APIs, served over real HTTP on 127.0.0.1.

Each fake checks what the real API checks and we rely on (the auth header, the request's shape, the
amount's units), records every request, and answers in the provider's documented shapes, including its
error bodies. Use one as a context manager:

    with MidtransFake(server_key="SB-Mid-server-test") as fake:
        provider = MidtransProvider(..., base_url=fake.url, ...)
        ...
        fake.requests[-1].json()           # what we sent
        fake.fail_next(500)                # the next request gets a 500 (provider's error body by default)
        fake.stall_next(2.0)               # the next request waits 2 s before answering (timeouts)
        fake.set_status(order_id, "settlement")   # what the status API reports for an order

`set_status(order_id, status, ...)` takes the provider's own status vocabulary (Midtrans
transaction_status, DOKU transaction.status, Stripe session status/payment_status, Razorpay payment status,
Lemon Squeezy order status) and always our order_id. Each fake can also build a signed webhook for an order
(`notification`/`event`/`webhook`), returning `(headers, body)` to POST to the edge handler; the same state
then answers the status API, so a webhook and a later lookup agree.
"""

from __future__ import annotations

import base64
import collections
import hmac
import itertools
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self, TypeGuard
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

from tests.providers import signing

Reply = tuple[int, Any, dict[str, str]]

THREE_DECIMAL = {"BHD", "JOD", "KWD", "OMR", "TND"}
ORDER_ID = re.compile(r"^[A-Za-z0-9._~-]{1,50}$")


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class BadRequest(Exception):
    """Raised inside a handler: answered with the fake's error shape."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass
class _Control:
    failures: collections.deque[tuple[int, Any]] = field(default_factory=collections.deque)
    stalls: collections.deque[float] = field(default_factory=collections.deque)


class FakeProvider:
    """Base: the HTTP server, request recording, and the fail/stall controls."""

    name = "fake"

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.url = ""
        self._lock = threading.RLock()
        self._control = _Control()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # controls -----------------------------------------------------------------------------------------
    def fail_next(self, status: int, body: Any = None) -> None:
        """Answer the next request with `status` and `body` (default: the provider's error shape)."""
        with self._lock:
            self._control.failures.append((status, body))

    def stall_next(self, seconds: float) -> None:
        """Wait `seconds` before answering the next request (it is still recorded and answered)."""
        with self._lock:
            self._control.stalls.append(seconds)

    def set_status(self, order_id: str, status: str, **fields: Any) -> None:
        raise NotImplementedError

    # to override --------------------------------------------------------------------------------------
    def handle(self, request: RecordedRequest) -> Reply:
        raise NotImplementedError

    def error_body(self, status: int, message: str, code: str | None) -> Any:
        return {"error": {"code": code or str(status), "message": message}}

    # server -------------------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                fake._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output clean

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{self.name}-fake", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()  # wakes stalled handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        split = urlsplit(handler.path)
        request = RecordedRequest(
            method=handler.command,
            path=unquote(split.path),
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
        )
        with self._lock:
            self.requests.append(request)
            stall = self._control.stalls.popleft() if self._control.stalls else 0.0
            failure = self._control.failures.popleft() if self._control.failures else None
        if stall:
            self._stopping.wait(stall)
        headers: dict[str, str] = {}
        if failure is not None:
            status, payload = failure
            if payload is None:
                payload = self.error_body(status, f"injected failure {status}", None)
        else:
            try:
                with self._lock:
                    status, payload, headers = self.handle(request)
            except BadRequest as exc:
                status, payload = exc.status, self.error_body(exc.status, exc.message, exc.code)
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
            handler.send_header("Content-Length", str(len(raw)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test); nothing to answer

    # helpers --------------------------------------------------------------------------------------------
    @staticmethod
    def _json(request: RecordedRequest, content_type: str = "application/json") -> Any:
        if not (request.header("content-type") or "").startswith(content_type):
            raise BadRequest(400, f"Content-Type must be {content_type}")
        try:
            return json.loads(request.body)
        except ValueError:
            raise BadRequest(400, "body is not JSON") from None

    @staticmethod
    def _basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# Midtrans ----------------------------------------------------------------------------------------------


class MidtransFake(FakeProvider):
    """Snap `POST /snap/v1/transactions` and Core `GET /v2/{order_id}/status`."""

    name = "midtrans"
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

    def __init__(self, server_key: str) -> None:
        super().__init__()
        self.server_key = server_key
        self.orders: dict[str, dict[str, Any]] = {}  # order_id -> the Snap request body
        self.statuses: dict[str, dict[str, Any]] = {}

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
                status["signature_key"] = signing.midtrans_signature(
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
        if not _is_int(gross) or gross <= 0:
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
        return 201, {"token": token, "redirect_url": f"{self.url}/snap/v2/vtweb/{token}"}, {}

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
        data["signature_key"] = signing.midtrans_signature(
            order_id, data["status_code"], data["gross_amount"], self.server_key
        )
        return data

    def notification(self, order_id: str, status: str, **fields: Any) -> tuple[dict[str, str], bytes]:
        """A signed HTTP notification (also what the status API reports from now on)."""
        self.set_status(order_id, status, **fields)
        with self._lock:
            body = json.dumps(self.statuses[order_id]).encode()
        return {"Content-Type": "application/json"}, body


def _dig_int(data: Any, *path: str) -> int | None:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data if _is_int(data) else None


# DOKU --------------------------------------------------------------------------------------------------


class DokuFake(FakeProvider):
    """`POST /checkout/v1/payment` and `GET /orders/v1/status/{invoice_number}`, HMAC-signed both ways."""

    name = "doku"
    TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def __init__(self, client_id: str, secret_key: str) -> None:
        super().__init__()
        self.client_id = client_id
        self.secret_key = secret_key
        self.orders: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self._seen: dict[str, tuple[bytes, Any]] = {}  # Request-Id -> (body, answer)

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
        expected = signing.doku_headers(
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
        if not _is_int(amount) or amount <= 0 or len(str(amount)) > 12:
            raise BadRequest(400, "order.amount must be an integer in IDR without decimals")
        if not isinstance(invoice, str) or not 0 < len(invoice) <= 64:
            raise BadRequest(400, "order.invoice_number is invalid")
        due = payment.get("payment_due_date", 60) if isinstance(payment, dict) else 60
        if not _is_int(due) or due <= 0:
            raise BadRequest(400, "payment.payment_due_date must be minutes")
        self.orders[invoice] = body
        token = uuid.uuid4().hex
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
                    "url": f"{self.url}/checkout/link/{token}",
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
        headers = signing.doku_headers(
            client_id=self.client_id,
            secret_key=self.secret_key,
            request_id=request_id or str(uuid.uuid4()),
            timestamp=timestamp or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            target=target,
            body=body,
        )
        return headers | {"Content-Type": "application/json"}, body


# Stripe ------------------------------------------------------------------------------------------------


class StripeFake(FakeProvider):
    """`POST /v1/checkout/sessions` (form-encoded, Idempotency-Key) and `GET /v1/checkout/sessions/{id}`."""

    name = "stripe"

    def __init__(self, secret_key: str, webhook_secret: str) -> None:
        super().__init__()
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
            "url": f"{self.url}/c/pay/{session_id}",
            "status": "open",
            "payment_status": "unpaid",
            "client_reference_id": form.get("client_reference_id"),
            "customer_email": form.get("customer_email"),
            "metadata": metadata,
            "amount_total": amount,
            "currency": currency,
            "expires_at": expires_at,
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
        header = signing.stripe_header(self.webhook_secret, body, timestamp)
        return {"Content-Type": "application/json", "Stripe-Signature": header}, body


# Razorpay ----------------------------------------------------------------------------------------------


class RazorpayFake(FakeProvider):
    """`POST /v1/orders`, `GET /v1/orders?receipt=`, `GET /v1/orders/{id}/payments`."""

    name = "razorpay"

    def __init__(self, key_id: str, key_secret: str, webhook_secret: str) -> None:
        super().__init__()
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
        if not _is_int(amount):
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
            "X-Razorpay-Signature": signing.hex_hmac(self.webhook_secret, body),
            "X-Razorpay-Event-Id": event_id or f"evt_{uuid.uuid4().hex[:14]}",
        }
        return headers, body


# Lemon Squeezy -----------------------------------------------------------------------------------------


class LemonSqueezyFake(FakeProvider):
    """`POST /v1/checkouts` (JSON:API) and `GET /v1/orders/{id}`."""

    name = "lemonsqueezy"
    JSON_API = "application/vnd.api+json"

    def __init__(
        self, api_key: str, store_id: str, webhook_secret: str, variants: set[str] | None = None
    ) -> None:
        super().__init__()
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
        if price is not None and (not _is_int(price) or price < 0):
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
                "url": f"{self.url}/checkout/custom/{checkout_id}",
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
                        "currency": fields.pop("currency", "USD"),
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
            "X-Signature": signing.hex_hmac(self.webhook_secret, body),
        }
        return headers, body
