"""A local fake of Resend's POST /emails that is also a mail catcher, over real HTTP on 127.0.0.1.

The API side keeps Resend's contract (reference/providers.md §7): `Authorization: Bearer <key>`, the
required `from`/`to`/`subject`, `{"id": …}` answers, errors as `{"statusCode", "name", "message"}`, and
`Idempotency-Key` (a repeated key answers the first message's id and sends nothing again). Tests plan the
next answers with `fail_next` / `stall_next` and read what arrived in `sent`.

The catcher side shows every accepted message, like the Supabase CLI's Inbucket/Mailpit, without auth (it
listens on loopback only):
- `GET /` a page listing them, newest first (time, from, to, subject), reloading itself every 5 s;
- `GET /messages/{id}` one message: its headers, the text body, and the HTML body inside an
  `<iframe sandbox srcdoc=…>` (no scripts, forms, plugins or same-origin access, whatever the mail holds);
  every other value is escaped, and the pages forbid scripts (Content-Security-Policy);
- `GET /_fake/messages` (`{"messages": [summary, …]}`, newest first) and `GET /_fake/messages/{id}` (the
  whole message; 404 `{"error": {"code": "message_not_found", …}}` for an unknown id), which
  `thinbase local mail list|show` reads.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from datetime import UTC, datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote, urlsplit

# The pages hold no script of their own; the policy also reaches the HTML body, as a srcdoc frame inherits it.
_PAGE_HEADERS = {
    "Content-Security-Policy": "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #ddd; vertical-align: top; }
th { font-weight: 600; white-space: nowrap; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: .8rem; border-radius: 4px; }
iframe { width: 100%; height: 60vh; border: 1px solid #ccc; border-radius: 4px; }
.empty { color: #666; }
"""


def _addresses(value: Any) -> list[str]:
    """Resend takes one address or a list for to/cc/bcc/reply_to."""
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class FakeResend:
    def __init__(self, api_key: str = "re_test_key", *, port: int = 0) -> None:
        self.api_key = api_key
        self.sent: list[dict[str, Any]] = []  # {"headers", "json", "id", "created_at"}, oldest first
        self.idempotency: dict[str, str] = {}
        self._replies: deque[tuple[int, dict[str, Any]] | float] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                status, reply = fake._answer(self.path, dict(self.headers), body)
                self._send(status, "application/json", json.dumps(reply).encode(), {})

            def do_GET(self) -> None:
                status, content_type, data = fake._page(self.path)
                self._send(
                    status, content_type, data, _PAGE_HEADERS if content_type.startswith("text/") else {}
                )

            def _send(self, status: int, content_type: str, data: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout test); socketserver would print a traceback

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- the Resend API -------------------------------------------------------------------------------------

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
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return 400, {
                "statusCode": 400,
                "name": "validation_error",
                "message": "body is not a JSON object",
            }
        for field in ("from", "to", "subject"):
            if not payload.get(field):
                return 422, {"statusCode": 422, "name": "missing_required_field", "message": field}
        key = lowered.get("idempotency-key")
        with self._lock:  # a repeated key must never capture the message twice, however the requests race
            if key and key in self.idempotency:
                return 200, {"id": self.idempotency[key]}
            message_id = str(uuid.uuid4())
            if key:
                self.idempotency[key] = message_id
            created_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            self.sent.append(
                {"headers": lowered, "json": payload, "id": message_id, "created_at": created_at}
            )
        return 200, {"id": message_id}

    # -- the catcher ----------------------------------------------------------------------------------------

    def messages(self) -> list[dict[str, Any]]:
        """Every captured message in the catcher's JSON shape, newest first."""
        with self._lock:
            captured = list(self.sent)
        return [self._message(entry) for entry in reversed(captured)]

    def message(self, message_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = next((entry for entry in self.sent if entry["id"] == message_id), None)
        return None if found is None else self._message(found)

    @staticmethod
    def _message(entry: dict[str, Any]) -> dict[str, Any]:
        payload = entry["json"]
        extra = payload.get("headers")
        return {
            "id": entry["id"],
            "created_at": entry["created_at"],
            "from": str(payload.get("from")),
            "to": _addresses(payload.get("to")),
            "cc": _addresses(payload.get("cc")),
            "bcc": _addresses(payload.get("bcc")),
            "reply_to": _addresses(payload.get("reply_to")),
            "subject": str(payload.get("subject")),
            "headers": {str(k): str(v) for k, v in extra.items()} if isinstance(extra, dict) else {},
            "tags": payload.get("tags") if isinstance(payload.get("tags"), list) else [],
            "text": _text(payload.get("text")),
            "html": _text(payload.get("html")),
            "idempotency_key": entry["headers"].get("idempotency-key"),
        }

    def _page(self, raw_path: str) -> tuple[int, str, bytes]:
        path = urlsplit(raw_path).path
        if path == "/_fake/messages":
            summaries = [
                {key: m[key] for key in ("id", "created_at", "from", "to", "subject")}
                for m in self.messages()
            ]
            return 200, "application/json", json.dumps({"messages": summaries}).encode()
        for prefix, as_json in (("/_fake/messages/", True), ("/messages/", False)):
            if path.startswith(prefix):
                message_id = unquote(path[len(prefix) :])
                found = self.message(message_id)
                if as_json:
                    if found is None:
                        error = {"code": "message_not_found", "message": f"no captured message {message_id}"}
                        return 404, "application/json", json.dumps({"error": error}).encode()
                    return 200, "application/json", json.dumps(found).encode()
                if found is None:
                    return 404, "text/html; charset=utf-8", _document("Not found", _not_found(message_id))
                return 200, "text/html; charset=utf-8", _document(found["subject"], _detail(found))
        if path == "/":
            page = _document("Mail catcher", _listing(self.messages()), refresh=True)
            return 200, "text/html; charset=utf-8", page
        return 404, "text/html; charset=utf-8", _document("Not found", "<p>No such page.</p>")

    # -- running --------------------------------------------------------------------------------------------

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


# -- pages: every value from a message goes through html.escape ---------------------------------------------


def _document(title: str, body: str, *, refresh: bool = False) -> bytes:
    """A whole page; `refresh`: reload every few seconds, so new mail shows up by itself (no script)."""
    reload = '<meta http-equiv="refresh" content="5">' if refresh else ""
    return (
        f"<!doctype html>\n<html lang=en><head><meta charset=utf-8>{reload}"
        f"<title>{escape(title)} · thinbase mail</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    ).encode()


def _listing(messages: list[dict[str, Any]]) -> str:
    if not messages:
        rows = "<tr><td colspan=4 class=empty>No mail yet: what the app sends shows up here.</td></tr>"
    else:
        rows = "".join(
            f"<tr><td>{escape(m['created_at'])}</td><td>{escape(m['from'])}</td>"
            f"<td>{escape(', '.join(m['to']))}</td>"
            f'<td><a href="/messages/{escape(m["id"])}">{escape(m["subject"])}</a></td></tr>'
            for m in messages
        )
    return (
        f"<h1>Mail catcher</h1><p>{len(messages)} message(s), newest first. Nothing here was delivered.</p>"
        f"<table><thead><tr><th>time</th><th>from</th><th>to</th><th>subject</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _detail(message: dict[str, Any]) -> str:
    headers: list[tuple[str, str]] = [("Date", message["created_at"]), ("From", message["from"])]
    for name, key in (("To", "to"), ("Cc", "cc"), ("Bcc", "bcc"), ("Reply-To", "reply_to")):
        if message[key]:
            headers.append((name, ", ".join(message[key])))
    headers.append(("Subject", message["subject"]))
    headers.extend(message["headers"].items())
    if message["idempotency_key"]:
        headers.append(("Idempotency-Key (API)", message["idempotency_key"]))
    rows = "".join(f"<tr><th>{escape(name)}</th><td>{escape(value)}</td></tr>" for name, value in headers)
    text = f"<pre>{escape(message['text'])}</pre>" if message["text"] else "<p class=empty>No text body.</p>"
    # srcdoc is an attribute: html.escape (quotes included) keeps the mail inside it, and `sandbox` with no
    # allowances gives the frame a unique origin with scripts, forms, popups and plugins off.
    body = (
        f'<iframe sandbox srcdoc="{escape(message["html"])}" title="HTML body"></iframe>'
        if message["html"]
        else "<p class=empty>No HTML body.</p>"
    )
    return (
        f'<p><a href="/">← all mail</a></p><h1>{escape(message["subject"])}</h1>'
        f"<table>{rows}</table><h2>Text</h2>{text}<h2>HTML</h2>{body}"
    )


def _not_found(message_id: str) -> str:
    return (
        f'<p><a href="/">← all mail</a></p><h1>Not found</h1><p>No captured message {escape(message_id)}.</p>'
    )
