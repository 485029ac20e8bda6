"""A tiny real HTTP server standing between a fake and the edge app, for the delivery tests.

POSTs are answered from a script of statuses (e.g. 503, 503, then "forward": pass the request on to the
edge app byte for byte and answer what it answers), and every POST is recorded with its arrival time, so
a test can read the retry schedule off the wire. GETs answer 200: the relay doubles as the app's landing
page (a return URL a checkout redirects to), so following a checkout's 303 ends on a real page.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

import httpx

FORWARD = 0  # a scripted "status" meaning: pass the request on to `target`


@dataclass(frozen=True)
class Hit:
    at: float  # time.monotonic()
    path: str
    status: int


class Relay:
    def __init__(self, target: str | None = None) -> None:
        self.target = target
        self.hits: list[Hit] = []
        self.url = ""
        self._script: collections.deque[int] = collections.deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._http = httpx.Client(timeout=10)

    def answer(self, *statuses: int) -> None:
        """Answer the next POSTs with these statuses (FORWARD: what `target` answers); then forward."""
        with self._lock:
            self._script.extend(statuses)

    def _post(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        with self._lock:
            scripted = self._script.popleft() if self._script else FORWARD
        arrived = time.monotonic()
        status, answer = scripted, b"{}"
        if scripted == FORWARD:
            assert self.target is not None
            skip = {"host", "content-length", "connection", "accept-encoding"}
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in skip}
            response = self._http.post(self.target + handler.path, content=body, headers=headers)
            status, answer = response.status_code, response.content
        with self._lock:
            self.hits.append(Hit(arrived, handler.path, status))
        self._reply(handler, status, answer)

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def __enter__(self) -> Self:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                relay._post(self)

            def do_GET(self) -> None:
                relay._reply(self, 200, b'{"landed": true}')

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        assert self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._http.close()
