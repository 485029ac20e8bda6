"""The shared base of the provider fakes: a threaded HTTP server on 127.0.0.1 that records every API
request, the fail/stall controls, the hosted checkout page and the webhook deliveries, and the
request/answer helpers every provider's fake uses (see the package docstring for how to drive one).

Routes every fake serves besides its provider's API (never recorded in `requests`, never subject to
`fail_next`/`stall_next`, no API key needed, as a provider's hosted page needs none):
    GET  /checkout/{reference}      the hosted checkout page (checkout_page.py)
    POST /checkout/{reference}      its buttons: form field action=pay|fail|cancel, answered 303
    GET  /_fake/deliveries?after=N  the webhooks sent so far (deliveries.py, a contract)
    GET  /_fake/return              where a checkout lands when our checkout passed no return URL
"""

from __future__ import annotations

import base64
import collections
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, TypeGuard
from urllib.parse import parse_qs, parse_qsl, unquote, urlencode, urlsplit

from thinbase.fakes.payments.checkout_page import (
    OUTCOMES,
    CheckoutView,
    Outcome,
    render_checkout,
    render_message,
    render_return,
)
from thinbase.fakes.payments.deliveries import Deliverer, Delivery

Reply = tuple[int, Any, dict[str, str]]
Signed = tuple[dict[str, str], bytes]  # a signed webhook: its headers and exact body

THREE_DECIMAL = {"BHD", "JOD", "KWD", "OMR", "TND"}
# ISO 4217 exponent 0 (Stripe's zero-decimal list); ISK too, which Stripe alone sends with two decimals.
ZERO_DECIMAL = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV"}
ZERO_DECIMAL |= {"XAF", "XOF", "XPF"}
_PAGE = re.compile(r"/checkout/([A-Za-z0-9_.~-]{1,128})")


def with_query(url: str, params: dict[str, str]) -> str:
    """`url` with `params` appended to its query (a provider's redirect that reports the result)."""
    return url + ("&" if urlsplit(url).query else "?") + urlencode(params)


def iso_decimals(currency: str) -> int:
    """The ISO 4217 exponent of the currencies the fakes meet (for showing amounts on the page)."""
    code = currency.upper()
    return 0 if code in ZERO_DECIMAL or code == "ISK" else 3 if code in THREE_DECIMAL else 2


def is_int(value: object) -> TypeGuard[int]:
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


@dataclass(frozen=True)
class Settlement:
    """What a button on the checkout page did: the webhooks the provider sends for it, in order, and where
    the customer's browser goes next (None: the fake's own /_fake/return page)."""

    webhooks: list[Signed]
    redirect_url: str | None


class FakeProvider:
    """Base: the HTTP server, request recording, the fail/stall controls, the checkout page and the
    webhook deliveries.

    `webhook_url` is where the fake sends its webhooks (the edge app's `/webhooks/{provider}`); None sends
    none, and the checkout page still works. `port` 0 picks a free port."""

    name = "fake"
    label = "Fake provider"  # the checkout page's title

    def __init__(self, *, webhook_url: str | None = None, port: int = 0) -> None:
        self.requests: list[RecordedRequest] = []
        self.url = ""
        self.webhook_url = webhook_url
        self.port = port
        self.deliverer = Deliverer(self.name)
        self._lock = threading.RLock()
        self._control = _Control()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._closed: dict[str, str] = {}  # reference -> "paid" / "failed", once a button settled it

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

    def checkout_view(self, reference: str) -> CheckoutView | None:
        """The checkout behind a page URL (called with the lock held); None for an unknown reference."""
        raise NotImplementedError

    def references(self) -> list[str]:
        """The references of every checkout, oldest first (called with the lock held)."""
        raise NotImplementedError

    def settle(self, view: CheckoutView, outcome: Outcome) -> Settlement:
        """Apply a button to the fake's own state (so its status API agrees with the webhooks) and build
        the webhooks the provider sends for it (called with the lock held)."""
        raise NotImplementedError

    # checkout pages and deliveries ---------------------------------------------------------------------
    def page_url(self, reference: str) -> str:
        """The hosted checkout page of a checkout (the URL each fake hands out, or, for Razorpay, whose
        orders have no hosted page URL, the one built from the order id our checkout answers as token)."""
        return f"{self.url}/checkout/{reference}"

    def deliver(self, headers: dict[str, str], body: bytes, *, url: str | None = None) -> Delivery:
        """Send one signed webhook (e.g. built with the fake's event/notification/webhook method) to
        `url` or the fake's webhook_url: first attempt now, retries in the background, recorded either
        way and listed at /_fake/deliveries."""
        target = url or self.webhook_url
        if not target:
            raise ValueError(f"the {self.name} fake has no webhook_url to deliver to")
        return self.deliverer.send(target, headers, body)

    def complete_checkout(self, reference: str, outcome: Outcome) -> tuple[list[Delivery], str]:
        """What a button on the page does: Pay, Fail or Cancel the checkout behind `reference` (the id in
        its page URL), send the provider's webhooks for that to `webhook_url` (none when it is None), and
        return them with the URL the browser goes to next. Raises KeyError for an unknown checkout and
        ValueError for one already paid or failed."""
        with self._lock:
            view = self.checkout_view(reference)
            if view is None:
                raise KeyError(reference)
            closed = self._closed.get(reference)
            if closed is not None:
                raise ValueError(f"this checkout is already {closed}")
            settlement = self.settle(view, outcome)
            if outcome != "cancel":  # Cancel leaves it open, as providers do until it expires
                self._closed[reference] = "paid" if outcome == "pay" else "failed"
        # Outside the lock: the app may call this fake's status API while it handles the webhook.
        sent = [self.deliver(h, b) for h, b in settlement.webhooks] if self.webhook_url else []
        outcome_name = {"pay": "paid", "fail": "failed", "cancel": "canceled"}[outcome]
        fallback = f"{self.url}/_fake/return?" + urlencode(
            {"order_id": view.order_id, "outcome": outcome_name}
        )
        return sent, settlement.redirect_url or fallback

    def complete_order(self, order_id: str, outcome: Outcome = "pay") -> list[Delivery]:
        """`complete_checkout` for the latest checkout of our order `order_id`: what the page's button
        does, for a test or a command that knows the order rather than the page."""
        with self._lock:
            found = [ref for ref in self.references() if self._order_of(ref) == order_id]
        if not found:
            raise KeyError(order_id)
        sent, _ = self.complete_checkout(found[-1], outcome)
        return sent

    def _order_of(self, reference: str) -> str | None:
        view = self.checkout_view(reference)
        return view.order_id if view is not None else None

    def _serve_page(self, request: RecordedRequest) -> tuple[int, bytes, dict[str, str]] | None:
        """The routes every fake serves besides its API; None when `request` is not one of them."""
        html = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
        if request.method == "GET" and request.path == "/_fake/deliveries":
            raw_after = request.query.get("after", ["0"])[0]
            if not raw_after.isdigit():
                error = {"error": {"code": "invalid_after", "message": "after must be a sequence number"}}
                return 400, json.dumps(error).encode(), {}
            listing = self.deliverer.listing(int(raw_after))
            return 200, json.dumps({"deliveries": listing}).encode(), {"Cache-Control": "no-store"}
        if request.method == "GET" and request.path == "/_fake/return":
            query = {k: v[0] for k, v in request.query.items()}
            return 200, render_return(self.label, query), html
        match = _PAGE.fullmatch(request.path)
        if match is None or request.method not in ("GET", "POST"):
            return None
        reference = match.group(1)
        with self._lock:
            view = self.checkout_view(reference)
            state = self._closed.get(reference)
        if view is None:
            return 404, render_message(self.label, 404, "No such checkout."), html
        if request.method == "GET":
            return 200, render_checkout(self.label, view, state), html
        action = request.form().get("action", "")
        outcome = next((known for known in OUTCOMES if known == action), None)
        if outcome is None:
            return 400, render_message(self.label, 400, "Choose pay, fail or cancel."), html
        try:
            _, location = self.complete_checkout(reference, outcome)
        except ValueError as exc:
            return 409, render_message(self.label, 409, str(exc).capitalize() + "."), html
        return 303, b"", {"Location": location}

    # server -------------------------------------------------------------------------------------------
    def start(self) -> Self:
        """Serve on 127.0.0.1:`port` in a background thread (what `with fake:` does)."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                fake._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output clean

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self.port = int(server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{self.name}-fake", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and stop pending delivery retries (waits for them to end)."""
        self._stopping.set()  # wakes stalled handlers
        if self._server is not None:
            self._server.shutdown()  # no new requests (so no new deliveries) from here on
        self.deliverer.close()
        if self._server is not None:
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

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
        page = self._serve_page(request)
        if page is not None:
            self._answer(handler, *page)
            return
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
        self._answer(handler, status, raw, headers)

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, raw: bytes, headers: dict[str, str]) -> None:
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
