"""What every AI provider client shares: the request and answer types, the stream interface, sending a
request (through thinbase.upstream, the one outbound-HTTP helper), and an SSE reader.

Error mapping (provider answer -> upstream's kind -> our error, chosen by AiProviderError.from_failure in
thinbase/errors.py -> what the edge answers):

| provider answer                                        | error                     | edge            |
|--------------------------------------------------------|---------------------------|-----------------|
| 401, 403; Gemini 400 with reason API_KEY_INVALID        | AiProviderAuthFailed      | 502             |
| 429 with OpenAI `insufficient_quota`                   | AiProviderQuotaExhausted  | 503             |
| other 429                                              | AiProviderBusy            | 503+Retry-After |
| 408, 5xx, Anthropic 529 overloaded                      | AiProviderUnavailable     | 503+Retry-After |
| any other 4xx                                          | AiProviderRejected        | 502             |
| 2xx we cannot read, 1xx/3xx                            | AiProviderBadResponse     | 502             |
| no answer within the timeout                           | AiProviderTimeout         | 503             |
| connection refused, DNS, TLS                           | AiProviderUnreachable     | 503             |
| stream broke or ended before the provider's end marker | AiProviderInterrupted     | (SSE error)     |

Retry-After is passed on when the provider sends `retry-after` (seconds or an HTTP date) or `retry-after-ms`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from thinbase import upstream
from thinbase.errors import (
    AiProviderBadResponse,
    AiProviderBusy,
    AiProviderError,
    AiProviderInterrupted,
    AiProviderTimeout,
    AiProviderUnavailable,
)

Role = Literal["system", "user", "assistant"]

# A read timeout is per read, not per request: an unstreamed answer of 4096 tokens at ~20 tokens/s takes
# over three minutes before its first byte, and a reasoning model may think that long before a stream's first
# token. Stays below the reservation hold (ai_hold_seconds, default 600). Connecting should be quick.
DEFAULT_TIMEOUT = httpx.Timeout(300.0, connect=5.0)


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[ChatMessage, ...]
    max_tokens: int


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_json(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    finish_reason: str | None
    usage: Usage | None  # None when the provider reported no usage (some local servers)


class ChatStream(ABC):
    """A streamed answer: iterate it (once, `async for`) for text deltas; waiting holds no thread.

    While iterating it records what the provider reported: `model`, `finish_reason`, `prompt_tokens` and
    `completion_tokens` (None until reported; Anthropic reports input early and output cumulatively),
    `usage_final` (the provider's final usage report arrived) and `output_chars` (text received so far).
    Iteration raises AiProviderError when the provider fails mid-stream. `aclose()` drops the connection,
    which makes the provider stop generating; it is safe to call more than once.
    """

    provider = "provider"

    def __init__(self, response: httpx.Response, model: str) -> None:
        self._response = response
        self.model = model
        self.finish_reason: str | None = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.usage_final = False
        self.output_chars = 0
        self._ended = False  # the provider's own end marker ([DONE], message_stop) arrived

    async def __aiter__(self) -> AsyncIterator[str]:
        try:
            async for event, data in aiter_sse(self._response.aiter_lines()):
                delta = self._handle(event, data)
                if delta:
                    self.output_chars += len(delta)
                    yield delta
                if self._ended:
                    return
        except httpx.TimeoutException:
            raise AiProviderTimeout("The AI provider stopped sending in the middle of the answer.") from None
        except httpx.TransportError as exc:
            raise AiProviderInterrupted(
                f"The AI provider's stream broke ({type(exc).__name__}) before the answer was complete."
            ) from None
        if self.finish_reason is None:
            raise AiProviderInterrupted("The AI provider's stream ended before the answer was complete.")

    @abstractmethod
    def _handle(self, event: str | None, data: str) -> str | None:
        """One SSE event: returns the text it adds (if any), updates the recorded state."""

    def _json(self, data: str) -> dict[str, Any]:
        try:
            parsed = json.loads(data)
        except ValueError:
            raise AiProviderBadResponse("The AI provider sent a stream event we could not read.") from None
        if not isinstance(parsed, dict):
            raise AiProviderBadResponse("The AI provider sent a stream event we could not read.")
        return parsed

    def reported_usage(self) -> Usage:
        """What the provider has reported so far (0 for what it has not)."""
        return Usage(self.prompt_tokens or 0, self.completion_tokens or 0)

    async def aclose(self) -> None:
        await self._response.aclose()


class ChatProvider(ABC):
    """A model provider's chat API. `name` is the label recorded in ai_usage.provider."""

    name: str

    @abstractmethod
    async def complete(self, request: ChatRequest) -> Completion:
        """One whole answer. Raises AiProviderError."""

    @abstractmethod
    async def stream(self, request: ChatRequest) -> ChatStream:
        """Start a streamed answer. Provider HTTP errors raise AiProviderError here, before any event."""


# -- sending ------------------------------------------------------------------------------------------------


async def send(
    http: httpx.AsyncClient,
    url: str,
    *,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    timeout: httpx.Timeout,
    stream: bool = False,
    service: str = "ai",
) -> httpx.Response:
    """POST a JSON body through thinbase.upstream; a non-2xx answer raises the right AiProviderError (its
    body read and closed).

    With `stream=True` the successful response is returned unread: the caller must close it."""
    response = await upstream.asend(
        http,
        "POST",
        url,
        service=service,
        errors=AiProviderError,
        timeout=timeout,
        headers=headers,
        content=json.dumps(body).encode(),
        stream=stream,
    )
    if not response.is_success and not response.is_stream_consumed:
        await response.aread()  # `check` reads the error body, which an async stream must read here
    upstream.check(response, service=service, errors=AiProviderError, describe=_describe)
    if stream and not response.headers.get("content-type", "").startswith("text/event-stream"):
        await response.aclose()
        raise AiProviderBadResponse(
            "The AI provider did not answer with an event stream.", provider_status=response.status_code
        )
    return response


def json_object(response: httpx.Response) -> dict[str, Any]:
    body = upstream.parse(response)
    if not isinstance(body, dict):
        raise AiProviderBadResponse(
            "The AI provider sent an answer we could not read.", provider_status=response.status_code
        )
    return body


def _describe(body: Any) -> tuple[tuple[str, ...], str | None]:
    """(labels, message) from a provider error body: error type/code/status and Gemini's detail reasons.

    Shapes: OpenAI {"error": {message, type, code}}, Anthropic {"type": "error", "error": {type, message}},
    Gemini {"error": {code, message, status, details: [{reason}]}} (sometimes wrapped in a list)."""
    if isinstance(body, list) and body:
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return (), None
    labels = [str(error[key]) for key in ("type", "code", "status") if isinstance(error.get(key), str)]
    for item in error.get("details") or []:
        if isinstance(item, dict) and isinstance(item.get("reason"), str):
            labels.append(item["reason"])
    message = error.get("message")
    return tuple(labels), (message if isinstance(message, str) else None)


def stream_error(payload: Mapping[str, Any]) -> AiProviderError:
    """An error event that arrived after the 200 (Anthropic `event: error`, OpenAI `{"error": …}` chunks)."""
    error = payload.get("error")
    kind = ""
    message: str | None = None
    if isinstance(error, dict):
        kind = " ".join(str(error.get(key) or "") for key in ("type", "code"))
        message = error.get("message") if isinstance(error.get("message"), str) else None
    detail = upstream.shorten(message) if message else None
    if "rate_limit" in kind:
        return AiProviderBusy("The AI provider is rate-limiting us; try again shortly.", detail=detail)
    return AiProviderUnavailable(
        "The AI provider failed in the middle of the answer; try again shortly.", detail=detail
    )


# -- server-sent events -------------------------------------------------------------------------------------


async def aiter_sse(lines: AsyncIterable[str]) -> AsyncIterator[tuple[str | None, str]]:
    """`iter_sse` over lines that arrive asynchronously."""
    parser = SseParser()
    async for line in lines:
        found = parser.feed(line)
        if found is not None:
            yield found
    found = parser.end()
    if found is not None:
        yield found


class SseParser:
    """The WHATWG event-stream rules, one line at a time (what `iter_sse` and `aiter_sse` share)."""

    def __init__(self) -> None:
        self.event: str | None = None
        self.data: list[str] = []

    def feed(self, line: str) -> tuple[str | None, str] | None:
        """The event a blank line dispatches, else None."""
        if not line:
            found = (self.event, "\n".join(self.data)) if self.data else None
            self.event, self.data = None, []
            return found
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self.data.append(value)
        elif name == "event":
            self.event = value
        return None

    def end(self) -> tuple[str | None, str] | None:
        return (self.event, "\n".join(self.data)) if self.data else None


def iter_sse(lines: Iterable[str]) -> Iterator[tuple[str | None, str]]:
    """(event name, data) for each event of an SSE stream (WHATWG rules: `data:` lines joined with newlines,
    an optional single space after the colon, comment lines start with a colon, a blank line dispatches)."""
    parser = SseParser()
    for line in lines:
        found = parser.feed(line)
        if found is not None:
            yield found
    found = parser.end()
    if found is not None:
        yield found


def token_count(value: Any) -> int | None:
    """A token count from a usage object: a non-negative int (bools are not counts), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None
