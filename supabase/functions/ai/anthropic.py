"""Anthropic Messages: POST {base}/v1/messages with `x-api-key` and `anthropic-version: 2023-06-01`.

`max_tokens` is required; system prompts go in the top-level `system` field, not in `messages`. Usage is
`input_tokens` (+ cache creation/read input tokens, which are input the model processed) and `output_tokens`.
Streams: `message_start` carries the input tokens, `message_delta` the cumulative output tokens,
`message_stop` ends; an `error` event can arrive after the 200 (providers.md §8).
"""

from __future__ import annotations

from typing import Any

import httpx

from thinbase.errors import AiProviderBadResponse

from .base import (
    DEFAULT_TIMEOUT,
    ChatProvider,
    ChatRequest,
    ChatStream,
    Completion,
    Usage,
    json_object,
    send,
    stream_error,
    token_count,
)

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"


def _input_tokens(usage: dict[str, Any]) -> int | None:
    base = token_count(usage.get("input_tokens"))
    if base is None:
        return None
    cached = ("cache_creation_input_tokens", "cache_read_input_tokens")
    return base + sum(token_count(usage.get(key)) or 0 for key in cached)


class AnthropicMessages(ChatProvider):
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str,
        name: str = "anthropic",
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self.http = http
        self.name = name
        base = base_url.rstrip("/")
        # Accept a base given with or without the version segment.
        self.url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        self._headers = {
            "x-api-key": api_key,
            "anthropic-version": ANTHROPIC_VERSION,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self.timeout = timeout

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": [
                {"role": m.role, "content": m.content} for m in request.messages if m.role != "system"
            ],
        }
        if system:
            body["system"] = system
        if stream:
            body["stream"] = True
        return body

    async def complete(self, request: ChatRequest) -> Completion:
        response = await send(
            self.http,
            self.url,
            headers=self._headers,
            body=self._body(request, stream=False),
            timeout=self.timeout,
        )
        body = json_object(response)
        content = body.get("content")
        if not isinstance(content, list):
            raise AiProviderBadResponse("The AI provider's answer has no content.", provider_status=200)
        text = "".join(
            block["text"]
            for block in content
            if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)
        )
        usage: Usage | None = None
        raw_usage = body.get("usage")
        if isinstance(raw_usage, dict):
            prompt, completion = _input_tokens(raw_usage), token_count(raw_usage.get("output_tokens"))
            if prompt is not None and completion is not None:
                usage = Usage(prompt, completion)
        model = body.get("model")
        reason = body.get("stop_reason")
        return Completion(
            text=text,
            model=model if isinstance(model, str) and model else request.model,
            finish_reason=reason if isinstance(reason, str) else None,
            usage=usage,
        )

    async def stream(self, request: ChatRequest) -> ChatStream:
        response = await send(
            self.http,
            self.url,
            headers={**self._headers, "Accept": "text/event-stream"},
            body=self._body(request, stream=True),
            timeout=self.timeout,
            stream=True,
        )
        return AnthropicStream(response, request.model)


class AnthropicStream(ChatStream):
    def _handle(self, event: str | None, data: str) -> str | None:
        payload = self._json(data)
        kind = payload.get("type") or event
        if kind == "error":
            raise stream_error(payload)
        if kind == "message_start":
            message = payload.get("message")
            if isinstance(message, dict):
                model = message.get("model")
                if isinstance(model, str) and model:
                    self.model = model
                self._usage(message.get("usage"))
        elif kind == "content_block_delta":
            delta = payload.get("delta")
            if isinstance(delta, dict) and delta.get("type") == "text_delta":
                text = delta.get("text")
                return text if isinstance(text, str) else None
        elif kind == "message_delta":
            delta = payload.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
                self.finish_reason = delta["stop_reason"]
            self._usage(payload.get("usage"))
        elif kind == "message_stop":
            self._ended = True
            self.usage_final = self.prompt_tokens is not None and self.completion_tokens is not None
        return None

    def _usage(self, usage: Any) -> None:
        """Counts are cumulative: a later report replaces an earlier one."""
        if not isinstance(usage, dict):
            return
        prompt = _input_tokens(usage)
        if prompt is not None:
            self.prompt_tokens = prompt
        completion = token_count(usage.get("output_tokens"))
        if completion is not None:
            self.completion_tokens = completion
