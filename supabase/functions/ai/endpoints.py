"""POST /ai/chat and POST /ai/generate for signed-in users.

Flow: require_user (401) -> the provider configuration (503 ai_not_configured) -> validate the body (400)
-> reserve_ai_usage as the service role for the user's id (429 rate_limited / monthly_cap_reached, with
Retry-After and X-RateLimit-*) -> the provider, with the plan's model or AI_MODEL -> commit_ai_usage with
the real usage, on every path (see metering.py for what is charged when a provider fails or a client leaves).

`stream: true` on /ai/chat answers Server-Sent Events, one JSON object per `data:` line:
    data: {"delta": "Hel"}
    data: {"delta": "lo"}
    data: {"done": true, "model": "…", "finish_reason": "stop", "usage": {…}, "usage_estimated": false}
or, when the provider fails after the stream began:
    data: {"error": {"code": "ai_provider_unavailable", "message": "…"}}
Provider errors before the first event are ordinary JSON errors (502/503), like the non-streaming answers.

Provider calls use the app's one sync httpx.Client (`app_state(request).http`) in the threadpool; a stream
reads the provider one event at a time in the threadpool and drops the provider connection when the client
leaves.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from thinbase.db import Caller
from thinbase.errors import AiProviderError, HttpError
from thinbase.functions._shared.context import require_user
from thinbase.functions._shared.http import read_json_object
from thinbase.functions._shared.state import app_state

from .base import ChatProvider, ChatRequest, ChatStream, Completion, Usage
from .config import AiConfig, ai_config, build_provider
from .metering import Meter, Outcome, reserve, stream_usage, tokens_for_chars
from .validation import MAX_BODY_BYTES, Prompt, parse_chat, parse_generate

log = logging.getLogger("thinbase.ai")


def _log_provider_error(exc: AiProviderError, provider: str, meter: Meter) -> None:
    log.warning(
        "AI provider error %s",
        exc.code,
        extra={
            "provider": provider,
            "provider_status": exc.provider_status,
            "detail": exc.detail,
            "reservation_id": meter.reservation_id,
        },
    )


def _configuration(request: Request) -> AiConfig:
    return ai_config(app_state(request).settings)  # AiNotConfigured: 503, answered by the app's handler


class AdmittedCall:
    """One admitted request: the provider, what to send it, and the meter for its reservation."""

    def __init__(self, provider: ChatProvider, chat: ChatRequest, meter: Meter, prompt: Prompt) -> None:
        self.provider = provider
        self.chat = chat
        self.meter = meter
        self.prompt = prompt


async def _admit(request: Request, user: Caller, config: AiConfig, prompt: Prompt) -> AdmittedCall:
    user_id = str(user.claims.get("sub") or "")
    if not user_id:
        raise HttpError(401, "unauthorized", "Sign in first (the token names no user).")
    reservation = await reserve(request, user_id, prompt.estimated_tokens)
    model = reservation.model or config.model
    database = app_state(request).database
    meter = Meter(database, reservation.id, config.provider, model or "unset")
    request.state.log_extra = {"reservation_id": reservation.id, "provider": config.provider}
    if not model:
        await meter.commit(Usage(0, 0))  # releases the hold; nothing was used
        raise HttpError(503, "ai_not_configured", "No AI model: set AI_MODEL or the plan's ai_model.")
    provider = build_provider(config, app_state(request).async_http)
    return AdmittedCall(provider, ChatRequest(model, prompt.messages, prompt.max_tokens), meter, prompt)


async def _complete(call: AdmittedCall) -> JSONResponse:
    completion: Completion | None = None
    try:
        completion = await call.provider.complete(call.chat)
    except AiProviderError as exc:
        _log_provider_error(exc, call.provider.name, call.meter)
        raise
    finally:
        # Failed or cancelled calls report no usage: charge nothing. A success without usage: estimate.
        usage = Usage(0, 0)
        if completion is not None:
            usage = completion.usage or Usage(
                tokens_for_chars(call.prompt.chars), tokens_for_chars(len(completion.text))
            )
        await call.meter.commit(usage, completion.model if completion else None)
    return JSONResponse(
        {
            "text": completion.text,
            "model": completion.model,
            "finish_reason": completion.finish_reason,
            "usage": usage.as_json(),
            "usage_estimated": completion.usage is None,
        }
    )


def _sse(payload: dict[str, Any]) -> bytes:
    # json.dumps escapes newlines, so every event is exactly one `data:` line.
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


class StreamSession:
    """Relays one provider stream and settles its usage exactly once (`finish`), however it ends."""

    def __init__(self, call: AdmittedCall, stream: ChatStream) -> None:
        self.call = call
        self.stream = stream
        self.outcome: Outcome = "disconnected"  # until the stream completes or the provider fails
        self._settled: tuple[Usage, bool] | None = None

    async def events(self) -> AsyncGenerator[bytes, None]:
        deltas = aiter(self.stream)
        try:
            while True:
                try:
                    delta = await anext(deltas, None)
                except AiProviderError as exc:
                    self.outcome = "failed"
                    _log_provider_error(exc, self.call.provider.name, self.call.meter)
                    yield _sse({"error": {"code": exc.code, "message": exc.public_message}})
                    return
                if delta is None:
                    break
                yield _sse({"delta": delta})
            self.outcome = "completed"
            usage, estimated = await self.finish()
            yield _sse(
                {
                    "done": True,
                    "model": self.stream.model,
                    "finish_reason": self.stream.finish_reason,
                    "usage": usage.as_json(),
                    "usage_estimated": estimated,
                }
            )
        finally:
            await self.finish()

    async def finish(self) -> tuple[Usage, bool]:
        """Drop the provider connection and commit; later calls return the first result."""
        if self._settled is None:
            self._settled = stream_usage(
                self.stream,
                self.outcome,
                prompt_chars=self.call.prompt.chars,
                max_tokens=self.call.prompt.max_tokens,
            )
            with anyio.CancelScope(shield=True):
                await self.stream.aclose()
                await self.call.meter.commit(self._settled[0], self.stream.model)
        return self._settled


class EventStreamResponse(StreamingResponse):
    """SSE whose usage is settled even when the client leaves while the body generator waits at a `yield`
    (Starlette then cancels the sender and never closes the generator itself)."""

    def __init__(self, session: StreamSession) -> None:
        self._events = session.events()
        self._session = session
        super().__init__(
            self._events,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._events.aclose()
                await self._session.finish()


async def _stream(call: AdmittedCall) -> Response:
    try:
        stream = await call.provider.stream(call.chat)
    except AiProviderError as exc:
        _log_provider_error(exc, call.provider.name, call.meter)
        await call.meter.commit(Usage(0, 0))
        raise
    except BaseException:
        await call.meter.commit(Usage(0, 0))
        raise
    return EventStreamResponse(StreamSession(call, stream))


async def chat(request: Request) -> Response:
    user = await require_user(request)
    config = _configuration(request)
    prompt = parse_chat(await read_json_object(request, limit=MAX_BODY_BYTES))
    call = await _admit(request, user, config, prompt)
    return await (_stream(call) if prompt.stream else _complete(call))


async def generate(request: Request) -> Response:
    user = await require_user(request)
    config = _configuration(request)
    prompt = parse_generate(await read_json_object(request, limit=MAX_BODY_BYTES))
    return await _complete(await _admit(request, user, config, prompt))


routes = [
    Route("/ai/chat", chat, methods=["POST"]),
    Route("/ai/generate", generate, methods=["POST"]),
]
