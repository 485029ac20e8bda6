"""Structured JSON logs: one line per request with a request id, plus whatever handlers add.

Never log secrets, tokens or full contact/card data: handlers pass only ids (provider, event key, order id).
Whatever slips through anyway in a URL — a signed storage URL's `token=`, an `apikey=`, an `access_token`
in a link — is redacted from every line: JsonFormatter redacts its lines, RedactFilter uvicorn's.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

# A query (or fragment) parameter whose value is a credential: its name contains token, signature, secret,
# password, credential or api(-/_)key, or is exactly key, sig, code (OAuth/PKCE codes) or auth.
_SECRET_PARAMETER = re.compile(
    r"(?i)([?&;#](?:[\w.-]*(?:token|signature|secret|password|credential|api[-_]?key)[\w.-]*"
    r"|key|sig|code|auth)=)[^&;#\s\"'<>]*"
)


def redact(text: str) -> str:
    """`text` with the value of every credential-like query parameter replaced by REDACTED."""
    return _SECRET_PARAMETER.sub(r"\1REDACTED", text)


def _redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactFilter(logging.Filter):
    """Redacts a record's message and arguments in place (so any formatter prints it redacted)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_value(arg) for arg in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {key: _redact_value(arg) for key, arg in record.args.items()}
        # uvicorn's formatters print this copy of the message when colours are on.
        colored = getattr(record, "color_message", None)
        if isinstance(colored, str):
            record.color_message = redact(colored)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        entry.update({k: _redact_value(v) for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("thinbase")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class RequestLogMiddleware:
    """Assigns a request id (or keeps a sane incoming X-Request-Id), echoes it, logs the request's outcome."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = logging.getLogger("thinbase.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.setdefault("headers", [])
                headers.append((b"x-request-id", request_id.encode()))
                # Every response: browsers must not sniff another type than the one we send (an avatar
                # stored as image/png whose bytes are HTML must never render as a page).
                headers.append((b"x-content-type-options", b"nosniff"))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            extra = scope["state"].get("log_extra", {})
            self.log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "request_id": request_id,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    **extra,
                },
            )
