"""The shared base of the provider fakes: a threaded HTTP server on 127.0.0.1 that records every request,
the fail/stall controls, and the request/answer helpers every provider's fake uses (see the package
docstring for how a test drives one)."""

from __future__ import annotations

import base64
import collections
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, TypeGuard
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

Reply = tuple[int, Any, dict[str, str]]

THREE_DECIMAL = {"BHD", "JOD", "KWD", "OMR", "TND"}


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
