"""`Idempotency-Key` on the money endpoints: a retried request with the same key and body gets the first
answer back, marked `Idempotent-Replayed: true`, instead of running twice.

The SQL RPCs decide (migration 20261204005000): a new key runs; the same key and body, finished, replays;
another body is 422 idempotency_key_reused; a duplicate still running is 409 idempotency_key_in_use. What
is stored: 2xx and 4xx answers. Not stored: 5xx and 429 (and anything that never produced an answer), so
the retry runs again. Keys belong to the caller (the signed-in user), so no one else's key matters.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from thinbase.db import Caller
from thinbase.errors import ThinbaseError
from thinbase.functions._shared.context import call_rpc

HEADER = "idempotency-key"


def request_hash(body: Mapping[str, Any]) -> str:
    """The body's identity: the same JSON object however its keys are ordered or spaced."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _stored(status: int) -> bool:
    return status < 500 and status != 429


async def idempotent(
    request: Request,
    caller: Caller,
    route: str,
    body: Mapping[str, Any],
    handle: Callable[[], Awaitable[JSONResponse]],
) -> Response:
    """`handle()`'s answer, run at most once per (caller, route, Idempotency-Key); without the header it
    simply runs."""
    key = request.headers.get(HEADER)
    if key is None:
        return await handle()
    args = {"route": route, "key": key}
    begun: list[dict[str, Any]] = await call_rpc(
        request, "begin_idempotent_request", {**args, "request_hash": request_hash(body)}, caller=caller
    )
    if begun[0]["state"] == "completed":
        return JSONResponse(
            begun[0]["response"],
            status_code=int(begun[0]["response_status"]),
            headers={"Idempotent-Replayed": "true"},
        )
    try:
        response = await handle()
    except ThinbaseError as exc:
        answer = exc.answer()
        if _stored(answer.status):
            error = {"error": {"code": answer.code, "message": answer.message}}
            await _finish(request, caller, "complete_idempotent_request", args, answer.status, error)
        else:
            await _finish(request, caller, "release_idempotent_request", args)
        raise
    except BaseException:
        await _finish(request, caller, "release_idempotent_request", args)
        raise
    if _stored(response.status_code):
        content = json.loads(bytes(response.body))
        await _finish(request, caller, "complete_idempotent_request", args, response.status_code, content)
    else:
        await _finish(request, caller, "release_idempotent_request", args)
    return response


async def _finish(
    request: Request,
    caller: Caller,
    fn: str,
    args: Mapping[str, Any],
    status: int | None = None,
    content: Any = None,
) -> None:
    """Store or release the key, also when the client went away (shielded from cancellation)."""
    extra = {"response_status": status, "response": content} if fn == "complete_idempotent_request" else {}
    with anyio.CancelScope(shield=True):
        await call_rpc(request, fn, {**args, **extra}, caller=caller)
