"""Request helpers shared by the edge functions: bounded bodies and JSON objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from thinbase.errors import HttpError
from thinbase.functions._shared import untrusted_json

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: more than any provider event or form we accept


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refusing anything over `limit` bytes before reading it all (413)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise HttpError(413, "payload_too_large", f"The body may be at most {limit} bytes.")
        except ValueError:
            raise HttpError(400, "invalid_request", "Content-Length is not a number.") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HttpError(413, "payload_too_large", f"The body may be at most {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json_object(request: Request, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The body as a JSON object, or 400 `invalid_json`: also for JSON holding what the database or an encoder
    cannot take (NUL, unpaired surrogates, absurd nesting, integers beyond bigint: see untrusted_json)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise HttpError(
            415, "unsupported_media_type", "Send a JSON body with Content-Type: application/json."
        )
    raw = await read_body(request, limit)
    try:
        body = untrusted_json.loads(raw)
    except untrusted_json.UnusableJson as exc:
        raise HttpError(400, "invalid_json", f"The body {exc}.") from None
    if not isinstance(body, dict):
        raise HttpError(400, "invalid_json", "The body must be a JSON object.")
    return body


def optional_string(body: Mapping[str, Any], name: str, max_length: int = 100) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise HttpError(
            400, f"invalid_{name}", f"`{name}` must be a non-empty string of at most {max_length} characters."
        )
    return value.strip()
