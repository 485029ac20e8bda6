"""A local fake of Resend's POST /emails (documented shape, auth, idempotency), over real HTTP."""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


class FakeResend:
    def __init__(self, api_key: str = "re_test_key") -> None:
        self.api_key = api_key
        self.sent: list[dict[str, Any]] = []
        self.idempotency: dict[str, str] = {}
        self._replies: deque[tuple[int, dict[str, Any]] | float] = deque()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                status, reply = fake._answer(self.path, dict(self.headers), body)
                data = json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout test); socketserver would print a traceback

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_next(self, status: int, name: str = "application_error") -> None:
        self._replies.append((status, {"statusCode": status, "name": name, "message": "fake failure"}))

    def stall_next(self, seconds: float) -> None:
        self._replies.append(seconds)

    def _answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        lowered = {k.lower(): v for k, v in headers.items()}
        if path != "/emails":
            return 404, {"statusCode": 404, "name": "not_found", "message": "no route"}
        if lowered.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"statusCode": 401, "name": "missing_api_key", "message": "bad key"}
        if self._replies:
            planned = self._replies.popleft()
            if isinstance(planned, float):
                self._stopping.wait(planned)  # __exit__ wakes it, so no handler outlives the fake
            else:
                return planned
        payload = json.loads(body)
        for field in ("from", "to", "subject"):
            if not payload.get(field):
                return 422, {"statusCode": 422, "name": "missing_required_field", "message": field}
        key = lowered.get("idempotency-key")
        if key and key in self.idempotency:
            return 200, {"id": self.idempotency[key]}
        message_id = str(uuid.uuid4())
        if key:
            self.idempotency[key] = message_id
        self.sent.append({"headers": lowered, "json": payload, "id": message_id})
        return 200, {"id": message_id}

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stopping.set()
        self._server.shutdown()
        # shutdown() only stops the loop; the listening socket stays open (a ResourceWarning) until closed.
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
