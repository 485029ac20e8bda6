"""OpenAI Chat Completions and everything that speaks it: OpenAI, Gemini's OpenAI-compatible endpoint
(`https://generativelanguage.googleapis.com/v1beta/openai`), local servers (vLLM, llama.cpp, Ollama …).

POST {base}/chat/completions with `Authorization: Bearer <key>`. Streaming asks for
`stream_options: {"include_usage": true}`: the usage then arrives in one extra chunk with `choices: []`
before `data: [DONE]`; an interrupted stream never gets it (providers.md §8). Servers that ignore the
option simply never report usage; the caller estimates then.
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

OPENAI_BASE_URL = "https://api.openai.com/v1"
GEMINI_OPENAI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai"


def _usage(value: Any) -> Usage | None:
    if not isinstance(value, dict):
        return None
    prompt, completion = token_count(value.get("prompt_tokens")), token_count(value.get("completion_tokens"))
    if prompt is None or completion is None:
        return None
    return Usage(prompt, completion)


class OpenAICompatible(ChatProvider):
    """`token_parameter`: OpenAI's current name is `max_completion_tokens` (its reasoning models refuse
    `max_tokens`); compatible servers widely know only the older `max_tokens`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str,
        name: str = "openai",
        token_parameter: str = "max_tokens",  # noqa: S107 - a parameter name, not a secret
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self.http = http
        self.name = name
        self.url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self.token_parameter = token_parameter
        self.timeout = timeout

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            self.token_parameter: request.max_tokens,
        }
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
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
        choices = body.get("choices")
        first = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(first, dict):
            raise AiProviderBadResponse("The AI provider's answer has no choices.", provider_status=200)
        message = first.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if content is not None and not isinstance(content, str):
            raise AiProviderBadResponse("The AI provider's answer is not text.", provider_status=200)
        model = body.get("model")
        reason = first.get("finish_reason")
        return Completion(
            text=content or "",
            model=model if isinstance(model, str) and model else request.model,
            finish_reason=reason if isinstance(reason, str) else None,
            usage=_usage(body.get("usage")),
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
        return OpenAIStream(response, request.model)


class OpenAIStream(ChatStream):
    def _handle(self, event: str | None, data: str) -> str | None:
        if data.strip() == "[DONE]":
            self._ended = True
            return None
        chunk = self._json(data)
        if event == "error" or chunk.get("error") is not None:
            raise stream_error(chunk)
        model = chunk.get("model")
        if isinstance(model, str) and model:
            self.model = model
        usage = _usage(chunk.get("usage"))
        if usage is not None:
            self.prompt_tokens, self.completion_tokens = usage.prompt_tokens, usage.completion_tokens
            self.usage_final = True
        text: list[str] = []
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str):
                text.append(content)
            reason = choice.get("finish_reason")
            if isinstance(reason, str):
                self.finish_reason = reason
        return "".join(text) or None
