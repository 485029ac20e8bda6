"""What every AI provider client shares: the request and answer types, the stream interface, one way to send
a request (sync httpx, a per-call timeout), provider errors mapped onto `errors.py`, and an SSE reader.

Error mapping (provider answer -> our error -> what the edge answers):

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

import email.utils
import json
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from .errors import (
    AiProviderAuthFailed,
    AiProviderBadResponse,
    AiProviderBusy,
    AiProviderError,
    AiProviderInterrupted,
    AiProviderQuotaExhausted,
    AiProviderRejected,
    AiProviderTimeout,
    AiProviderUnavailable,
    AiProviderUnreachable,
)

Role = Literal["system", "user", "assistant"]

# A read timeout is per read, not per request: an unstreamed answer of 4096 tokens at ~20 tokens/s takes
# over three minutes before its first byte, and a reasoning model may think that long before a stream's first
# token. Stays below the reservation hold (ai_hold_seconds, default 600). Connecting should be quick.
DEFAULT_TIMEOUT = httpx.Timeout(300.0, connect=5.0)
MAX_RETRY_AFTER_SECONDS = 3600
_DETAIL_LIMIT = 200


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
    """A streamed answer: iterate it (once) for text deltas.

    While iterating it records what the provider reported: `model`, `finish_reason`, `prompt_tokens` and
    `completion_tokens` (None until reported; Anthropic reports input early and output cumulatively),
    `usage_final` (the provider's final usage report arrived) and `output_chars` (text received so far).
    Iteration raises AiProviderError when the provider fails mid-stream. `close()` drops the connection,
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

    def __iter__(self) -> Iterator[str]:
        try:
            for event, data in iter_sse(self._response.iter_lines()):
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

    def close(self) -> None:
        self._response.close()


class ChatProvider(ABC):
    """A model provider's chat API. `name` is the label recorded in ai_usage.provider."""

    name: str

    @abstractmethod
    def complete(self, request: ChatRequest) -> Completion:
        """One whole answer. Raises AiProviderError."""

    @abstractmethod
    def stream(self, request: ChatRequest) -> ChatStream:
        """Start a streamed answer. Provider HTTP errors raise AiProviderError here, before any event."""


# -- sending ------------------------------------------------------------------------------------------------


def send(
    http: httpx.Client,
    url: str,
    *,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    timeout: httpx.Timeout,
    stream: bool = False,
) -> httpx.Response:
    """POST a JSON body; a non-2xx answer raises the right AiProviderError (its body read and closed).

    With `stream=True` the successful response is returned unread: the caller must close it."""
    request = http.build_request(
        "POST", url, headers=dict(headers), content=json.dumps(body).encode(), timeout=timeout
    )
    try:
        response = http.send(request, stream=stream)
    except httpx.TimeoutException:
        raise AiProviderTimeout("The AI provider did not answer in time; try again.") from None
    except httpx.TransportError as exc:
        raise AiProviderUnreachable(
            f"The AI provider could not be reached ({type(exc).__name__}); try again."
        ) from None
    if response.is_success:
        if not stream or response.headers.get("content-type", "").startswith("text/event-stream"):
            return response
        response.close()
        raise AiProviderBadResponse(
            "The AI provider did not answer with an event stream.", provider_status=response.status_code
        )
    raw = b""
    try:
        raw = response.read()
    except httpx.HTTPError:
        pass  # the status alone decides the error
    finally:
        response.close()
    raise error_for(response.status_code, response.headers, raw)


def json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise AiProviderBadResponse(
            "The AI provider sent an answer we could not read.", provider_status=response.status_code
        )
    return body


def shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"


def _describe(raw: bytes) -> tuple[set[str], str | None]:
    """(labels, message) from a provider error body: error type/code/status and Gemini's detail reasons.

    Shapes: OpenAI {"error": {message, type, code}}, Anthropic {"type": "error", "error": {type, message}},
    Gemini {"error": {code, message, status, details: [{reason}]}} (sometimes wrapped in a list)."""
    try:
        body = json.loads(raw)
    except ValueError:
        return set(), None
    if isinstance(body, list) and body:
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return set(), None
    labels = {str(error[key]) for key in ("type", "code", "status") if isinstance(error.get(key), str)}
    for item in error.get("details") or []:
        if isinstance(item, dict) and isinstance(item.get("reason"), str):
            labels.add(item["reason"])
    message = error.get("message")
    return labels, (shorten(message) if isinstance(message, str) else None)


def retry_after(headers: httpx.Headers) -> int | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` (seconds or an HTTP date); None if absent."""
    seconds: float | None = None
    raw_ms = headers.get("retry-after-ms")
    raw = headers.get("retry-after")
    try:
        if raw_ms is not None:
            seconds = float(raw_ms) / 1000
        elif raw is not None:
            try:
                seconds = float(raw)
            except ValueError:
                when = email.utils.parsedate_to_datetime(raw)
                seconds = when.timestamp() - time.time()
    except (ValueError, TypeError, OverflowError):
        return None
    if seconds is None or math.isnan(seconds):
        return None
    return min(max(math.ceil(seconds), 1), MAX_RETRY_AFTER_SECONDS)


def error_for(status: int, headers: httpx.Headers, raw: bytes) -> AiProviderError:
    labels, message = _describe(raw)
    if status in (401, 403) or (status == 400 and "API_KEY_INVALID" in labels):
        # The provider's message may echo (part of) the key: keep it out of the detail as well.
        return AiProviderAuthFailed(
            f"The AI provider refused our credentials (HTTP {status}).", provider_status=status
        )
    if status == 429:
        if labels & {"insufficient_quota", "credit_balance_exhausted", "project_spend_limit_exceeded"}:
            return AiProviderQuotaExhausted(
                "The AI provider account is out of quota.", provider_status=status, detail=message
            )
        return AiProviderBusy(
            "The AI provider is rate-limiting us; try again shortly.",
            provider_status=status,
            retry_after=retry_after(headers),
            detail=message,
        )
    if status == 408 or status >= 500:
        return AiProviderUnavailable(
            f"The AI provider is unavailable (HTTP {status}); try again shortly.",
            provider_status=status,
            retry_after=retry_after(headers),
            detail=message,
        )
    if 400 <= status < 500:
        return AiProviderRejected(
            f"The AI provider refused the request (HTTP {status}).", provider_status=status, detail=message
        )
    return AiProviderBadResponse(
        f"The AI provider answered with an unexpected HTTP {status}.", provider_status=status
    )


def stream_error(payload: Mapping[str, Any]) -> AiProviderError:
    """An error event that arrived after the 200 (Anthropic `event: error`, OpenAI `{"error": …}` chunks)."""
    error = payload.get("error")
    kind = ""
    message: str | None = None
    if isinstance(error, dict):
        kind = " ".join(str(error.get(key) or "") for key in ("type", "code"))
        message = error.get("message") if isinstance(error.get("message"), str) else None
    detail = shorten(message) if message else None
    if "rate_limit" in kind:
        return AiProviderBusy("The AI provider is rate-limiting us; try again shortly.", detail=detail)
    return AiProviderUnavailable(
        "The AI provider failed in the middle of the answer; try again shortly.", detail=detail
    )


# -- server-sent events -------------------------------------------------------------------------------------


def iter_sse(lines: Iterable[str]) -> Iterator[tuple[str | None, str]]:
    """(event name, data) for each event of an SSE stream (WHATWG rules: `data:` lines joined with newlines,
    an optional single space after the colon, comment lines start with a colon, a blank line dispatches)."""
    event: str | None = None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    if data:
        yield event, "\n".join(data)


def token_count(value: Any) -> int | None:
    """A token count from a usage object: a non-negative int (bools are not counts), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None
