"""Local fakes of OpenAI Chat Completions, Anthropic Messages and Gemini, over real HTTP on 127.0.0.1.

They follow the documented shapes (reference/providers.md §8): auth headers, request fields, answers and
usage, SSE streams (OpenAI `chat.completion.chunk` lines, the `choices: []` usage chunk before
`data: [DONE]` when `stream_options.include_usage` is set; Anthropic `message_start` … `message_stop` with
input tokens at the start and cumulative output tokens in `message_delta`), and error bodies.

Gemini is served the way the edge app calls it (supabase/functions/ai/config.py: AI_PROVIDER=gemini goes
through Gemini's OpenAI-compatible endpoint, never native generateContent): POST
`/v1beta/openai/chat/completions` with `Authorization: Bearer <key>`, OpenAI-shaped answers and streams,
and Gemini's own errors — `[{"error": {code, message, status}}]`, a wrong key being 400 INVALID_ARGUMENT
with reason API_KEY_INVALID rather than 401 (the list wrapping is what that endpoint is reported to send;
the edge app reads both forms).

Token counts are the fake's own (not our chars/4 estimate), so a test can tell real usage from estimates:
prompt tokens = 3 + the number of words in all messages, completion tokens = the number of chunks sent.
Each answer it gives is recorded with the usage it reported.

Standalone (the local runner, `make dev`): `delay` seconds before each answer and between stream chunks
("make it slow"), `fail` an HTTP status every well-formed, authenticated request gets, with the provider's
error body ("make it fail"); `ai_knobs_from_env` reads both from THINBASE_FAKE_AI_DELAY and
THINBASE_FAKE_AI_FAIL. `base_url` is what AI_BASE_URL must be for the edge app to reach the fake.

In tests, behaviour for the next request(s) is queued: `fake.next(Behaviour(status=429, headers={...}))`;
otherwise `fake.default` applies. `reset()` clears queue and records and restores the constructor's knobs.
"""

from __future__ import annotations

import collections
import json
import math
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, TypedDict

DEFAULT_REPLY = "Hello from the fake model, answering in several small pieces for the stream."
MAX_DELAY = 600.0  # seconds; the edge app's reservation hold (ai_hold_seconds) outlasts nothing longer


class AiKnobs(TypedDict, total=False):
    """The standalone knobs, as `ai_knobs_from_env` reads them: pass them on with `OpenAIFake(**knobs)`."""

    delay: float
    fail: int


def _checked_delay(value: float) -> float:
    if not math.isfinite(value) or not 0 <= value <= MAX_DELAY:
        raise ValueError(f"the AI fake's delay must be from 0 to {MAX_DELAY:g} seconds, not {value!r}")
    return value


def _checked_fail(value: int) -> int:
    if not 400 <= value <= 599:
        raise ValueError(f"the AI fake's fail status must be an HTTP error status (400-599), not {value!r}")
    return value


def ai_knobs_from_env(env: Mapping[str, str]) -> AiKnobs:
    """THINBASE_FAKE_AI_DELAY (seconds, e.g. `0.5`) and THINBASE_FAKE_AI_FAIL (an HTTP status, e.g. `503`)
    as constructor arguments; unset or empty means the default. A ValueError names the variable and value."""
    knobs: AiKnobs = {}
    delay = env.get("THINBASE_FAKE_AI_DELAY", "").strip()
    if delay:
        try:
            knobs["delay"] = _checked_delay(float(delay))
        except ValueError:
            raise ValueError(
                f"THINBASE_FAKE_AI_DELAY must be a number of seconds from 0 to {MAX_DELAY:g} "
                f"(e.g. 0.5), not {delay!r}"
            ) from None
    fail = env.get("THINBASE_FAKE_AI_FAIL", "").strip()
    if fail:
        try:
            knobs["fail"] = _checked_fail(int(fail))
        except ValueError:
            raise ValueError(
                f"THINBASE_FAKE_AI_FAIL must be an HTTP error status from 400 to 599 (e.g. 429 or 503), "
                f"not {fail!r}"
            ) from None
    return knobs


@dataclass
class Behaviour:
    status: int = 200  # non-200: answer with the provider's error body (or `error_body`)
    error_body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0  # seconds to wait before answering
    chunk_delay: float = 0.0  # seconds between stream chunks
    break_after: int | None = None  # stream: drop the connection after this many text chunks
    error_event_after: int | None = None  # stream: send the provider's error event after this many chunks
    omit_usage: bool = False  # OpenAI: report no usage at all (as some compatible servers do)
    usage: tuple[int, int] | None = None  # report these (prompt, completion) tokens instead
    reply: str = DEFAULT_REPLY
    raw_body: bytes | None = None  # answer `status` with these bytes as text/html instead


@dataclass
class Answer:
    """One request the fake received, and what it did."""

    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]
    status: int = 0
    chunks_sent: int = 0
    usage: tuple[int, int] | None = None  # the usage it reported, if any
    client_disconnected: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)


def _pieces(text: str) -> list[str]:
    """Words with their following space: joined again they give back `text`."""
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]]


def _words(messages: Any) -> int:
    total = 0
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += len(content.split())
    return total


class AiFake:
    name = "fake"
    api_prefix = ""  # what the edge app's AI_BASE_URL adds to the fake's URL

    def __init__(self, api_key: str, *, delay: float = 0.0, fail: int | None = None, port: int = 0) -> None:
        self.api_key = api_key
        # The constructor's knobs are the default behaviour; a test's queued Behaviour still wins.
        self._baseline = Behaviour(
            status=200 if fail is None else _checked_fail(fail),
            stall=_checked_delay(delay),
            chunk_delay=delay,
        )
        self.default = replace(self._baseline)
        self.answers: list[Answer] = []
        self._queue: collections.deque[Behaviour] = collections.deque()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                answer = Answer(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body if isinstance(body, dict) else {},
                )
                with fake._lock:
                    fake.answers.append(answer)
                    behaviour = fake._queue.popleft() if fake._queue else fake.default
                try:
                    fake._serve(self, answer, behaviour, body)
                except (BrokenPipeError, ConnectionResetError):
                    answer.client_disconnected.set()
                finally:
                    answer.finished.set()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        """AI_BASE_URL for an edge app that talks to this fake."""
        return self.url + self.api_prefix

    # -- control --------------------------------------------------------------------------------------------

    def next(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._queue.extend(behaviours)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.answers.clear()
            self.default = replace(self._baseline)

    @property
    def last(self) -> Answer:
        return self.answers[-1]

    # -- answering ------------------------------------------------------------------------------------------

    def _serve(
        self, handler: BaseHTTPRequestHandler, answer: Answer, behaviour: Behaviour, body: Any
    ) -> None:
        if behaviour.stall:
            time.sleep(behaviour.stall)
        problem = self._check(answer, body)
        if problem is not None:
            self._json(handler, answer, problem[0], problem[1], {})
            return
        if behaviour.raw_body is not None:
            answer.status = behaviour.status
            handler.send_response(behaviour.status)
            handler.send_header("Content-Type", "text/html")
            handler.send_header("Content-Length", str(len(behaviour.raw_body)))
            handler.end_headers()
            handler.wfile.write(behaviour.raw_body)
            return
        if behaviour.status != 200:
            error = (
                behaviour.error_body if behaviour.error_body is not None else self._error(behaviour.status)
            )
            self._json(handler, answer, behaviour.status, error, behaviour.headers)
            return
        pieces = _pieces(behaviour.reply)
        max_tokens = self._max_tokens(answer.body)
        truncated = max_tokens is not None and len(pieces) > max_tokens
        if truncated and max_tokens is not None:
            pieces = pieces[:max_tokens]
        usage = behaviour.usage or (
            3 + _words(answer.body.get("messages")) + self._system_words(answer.body),
            len(pieces),
        )
        if answer.body.get("stream"):
            handler.send_response(200)
            handler.send_header("Content-Type", "text/event-stream")
            handler.send_header("Cache-Control", "no-cache")
            handler.end_headers()
            self._stream(handler, answer, behaviour, pieces, usage, truncated)
        else:
            self._json(handler, answer, 200, self._message(answer, behaviour, pieces, usage, truncated), {})

    def _json(
        self,
        handler: BaseHTTPRequestHandler,
        answer: Answer,
        status: int,
        payload: Any,
        headers: dict[str, str],
    ) -> None:
        data = json.dumps(payload).encode()
        answer.status = status
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _write(self, handler: BaseHTTPRequestHandler, text: str, delay: float) -> None:
        if delay:
            time.sleep(delay)
        handler.wfile.write(text.encode())
        handler.wfile.flush()

    def _system_words(self, body: dict[str, Any]) -> int:
        return 0

    # provider specifics
    def _check(self, answer: Answer, body: Any) -> tuple[int, Any] | None:
        raise NotImplementedError

    def _error(self, status: int) -> Any:
        raise NotImplementedError

    def _max_tokens(self, body: dict[str, Any]) -> int | None:
        raise NotImplementedError

    def _message(
        self, answer: Answer, behaviour: Behaviour, pieces: list[str], usage: tuple[int, int], truncated: bool
    ) -> Any:
        raise NotImplementedError

    def _stream(
        self,
        handler: BaseHTTPRequestHandler,
        answer: Answer,
        behaviour: Behaviour,
        pieces: list[str],
        usage: tuple[int, int],
        truncated: bool,
    ) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()


_OPENAI_ERRORS = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: sk-tes***key."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Country not supported."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded."),
}


class OpenAIFake(AiFake):
    """POST …/chat/completions (any prefix: /v1, or none for a compatible server) with
    `Authorization: Bearer <key>`."""

    name = "openai"
    api_prefix = "/v1"

    def __init__(
        self, api_key: str = "sk-test-key", *, delay: float = 0.0, fail: int | None = None, port: int = 0
    ) -> None:
        super().__init__(api_key, delay=delay, fail=fail, port=port)

    def _error(self, status: int) -> Any:
        kind = "invalid_request_error" if status < 500 else "server_error"
        unlisted: tuple[str, str | None, str] = (kind, None, "Something went wrong.")
        kind, code, message = _OPENAI_ERRORS.get(status, unlisted)
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def _check(self, answer: Answer, body: Any) -> tuple[int, Any] | None:
        if not answer.path.endswith("/chat/completions"):
            return 404, {"error": {"message": "Unknown path", "type": "invalid_request_error", "code": None}}
        if answer.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, self._error(401)
        if not isinstance(body, dict) or not body.get("model") or not isinstance(body.get("messages"), list):
            return 400, self._error(400)
        return None

    def _max_tokens(self, body: dict[str, Any]) -> int | None:
        value = body.get("max_completion_tokens", body.get("max_tokens"))
        return value if isinstance(value, int) else None

    def _message(
        self, answer: Answer, behaviour: Behaviour, pieces: list[str], usage: tuple[int, int], truncated: bool
    ) -> Any:
        message: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": answer.body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(pieces), "refusal": None},
                    "logprobs": None,
                    "finish_reason": "length" if truncated else "stop",
                }
            ],
        }
        if not behaviour.omit_usage:
            message["usage"] = {
                "prompt_tokens": usage[0],
                "completion_tokens": usage[1],
                "total_tokens": usage[0] + usage[1],
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0},
            }
            answer.usage = usage
        answer.chunks_sent = len(pieces)
        return message

    def _stream(
        self,
        handler: BaseHTTPRequestHandler,
        answer: Answer,
        behaviour: Behaviour,
        pieces: list[str],
        usage: tuple[int, int],
        truncated: bool,
    ) -> None:
        answer.status = 200
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": answer.body["model"],
            "system_fingerprint": "fp_fake",
        }

        def chunk(choices: list[dict[str, Any]], usage_value: Any = None) -> str:
            return f"data: {json.dumps({**base, 'choices': choices, 'usage': usage_value})}\n\n"

        delay = behaviour.chunk_delay
        self._write(
            handler,
            chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]),
            0,
        )
        for index, piece in enumerate(pieces):
            if behaviour.break_after is not None and index >= behaviour.break_after:
                return  # the connection drops: no finish_reason, no usage, no [DONE]
            if behaviour.error_event_after is not None and index >= behaviour.error_event_after:
                error = {
                    "error": {"message": "The server had an error.", "type": "server_error", "code": None}
                }
                self._write(handler, f"data: {json.dumps(error)}\n\n", delay)
                return
            self._write(
                handler, chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}]), delay
            )
            answer.chunks_sent += 1
        finish = "length" if truncated else "stop"
        self._write(handler, chunk([{"index": 0, "delta": {}, "finish_reason": finish}]), delay)
        options = answer.body.get("stream_options") or {}
        if options.get("include_usage") and not behaviour.omit_usage:
            reported = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
            self._write(handler, chunk([], reported), delay)
            answer.usage = usage
        self._write(handler, "data: [DONE]\n\n", 0)


# Gemini reports google.rpc status names (ai.google.dev/gemini-api/docs/troubleshooting).
_GEMINI_ERRORS = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    403: ("PERMISSION_DENIED", "The caller does not have permission."),
    404: ("NOT_FOUND", "Requested entity was not found."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    499: ("CANCELLED", "The operation was cancelled."),
    500: ("INTERNAL", "An internal error has occurred."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}


class GeminiFake(OpenAIFake):
    """Gemini's OpenAI-compatible endpoint, exactly where the edge app sends AI_PROVIDER=gemini: POST
    /v1beta/openai/chat/completions with `Authorization: Bearer <key>`; Gemini's errors (module docstring)."""

    name = "gemini"
    api_prefix = "/v1beta/openai"

    def __init__(
        self, api_key: str = "gemini-test-key", *, delay: float = 0.0, fail: int | None = None, port: int = 0
    ) -> None:
        super().__init__(api_key, delay=delay, fail=fail, port=port)

    def _error(self, status: int, reason: str | None = None) -> Any:
        unlisted = ("FAILED_PRECONDITION" if status < 500 else "UNKNOWN", "The request failed.")
        name, message = _GEMINI_ERRORS.get(status, unlisted)
        error: dict[str, Any] = {"code": status, "message": message, "status": name}
        if reason is not None:
            error["message"] = "API key not valid. Please pass a valid API key."
            error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}]
        return [{"error": error}]

    def _check(self, answer: Answer, body: Any) -> tuple[int, Any] | None:
        if answer.path != f"{self.api_prefix}/chat/completions":
            return 404, self._error(404)
        if answer.headers.get("authorization") != f"Bearer {self.api_key}":
            return 400, self._error(400, reason="API_KEY_INVALID")  # Gemini's answer to a wrong key
        if not isinstance(body, dict) or not body.get("model") or not isinstance(body.get("messages"), list):
            return 400, self._error(400)
        return None


_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class AnthropicFake(AiFake):
    """POST /v1/messages with `x-api-key` and `anthropic-version: 2023-06-01`."""

    name = "anthropic"

    def __init__(
        self, api_key: str = "sk-ant-test-key", *, delay: float = 0.0, fail: int | None = None, port: int = 0
    ) -> None:
        super().__init__(api_key, delay=delay, fail=fail, port=port)

    def _error(self, status: int) -> Any:
        kind = _ANTHROPIC_ERRORS.get(status, "invalid_request_error" if status < 500 else "api_error")
        return {
            "type": "error",
            "error": {"type": kind, "message": f"fake {kind}"},
            "request_id": f"req_{uuid.uuid4().hex[:12]}",
        }

    def _check(self, answer: Answer, body: Any) -> tuple[int, Any] | None:
        if answer.path != "/v1/messages":
            return 404, self._error(404)
        if answer.headers.get("x-api-key") != self.api_key:
            return 401, self._error(401)
        if answer.headers.get("anthropic-version") != "2023-06-01":
            return 400, self._error(400)
        if not isinstance(body, dict) or not body.get("model") or not isinstance(body.get("max_tokens"), int):
            return 400, self._error(400)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return 400, self._error(400)
        # System prompts belong in the top-level `system` field; the conversation opens with the user.
        if any(not isinstance(m, dict) or m.get("role") not in ("user", "assistant") for m in messages):
            return 400, self._error(400)
        if messages[0].get("role") != "user":
            return 400, self._error(400)
        return None

    def _system_words(self, body: dict[str, Any]) -> int:
        system = body.get("system")
        return len(system.split()) if isinstance(system, str) else 0

    def _max_tokens(self, body: dict[str, Any]) -> int | None:
        value = body.get("max_tokens")
        return value if isinstance(value, int) else None

    def _message(
        self, answer: Answer, behaviour: Behaviour, pieces: list[str], usage: tuple[int, int], truncated: bool
    ) -> Any:
        answer.usage = usage
        answer.chunks_sent = len(pieces)
        return {
            "id": f"msg_{uuid.uuid4().hex[:12]}",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": "".join(pieces)}],
            "model": answer.body["model"],
            "stop_reason": "max_tokens" if truncated else "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": usage[0],
                "output_tokens": usage[1],
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "service_tier": "standard",
            },
        }

    def _stream(
        self,
        handler: BaseHTTPRequestHandler,
        answer: Answer,
        behaviour: Behaviour,
        pieces: list[str],
        usage: tuple[int, int],
        truncated: bool,
    ) -> None:
        answer.status = 200
        delay = behaviour.chunk_delay

        def event(name: str, payload: dict[str, Any], wait: float = delay) -> None:
            self._write(handler, f"event: {name}\ndata: {json.dumps(payload)}\n\n", wait)

        start_usage = {"input_tokens": usage[0], "output_tokens": 1}
        answer.usage = (usage[0], 1)  # what it has reported so far
        event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": f"msg_{uuid.uuid4().hex[:12]}",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": answer.body["model"],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
            0,
        )
        event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            0,
        )
        event("ping", {"type": "ping"}, 0)
        for index, piece in enumerate(pieces):
            if behaviour.break_after is not None and index >= behaviour.break_after:
                return
            if behaviour.error_event_after is not None and index >= behaviour.error_event_after:
                event(
                    "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
                )
                return
            event(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
            )
            answer.chunks_sent += 1
        event("content_block_stop", {"type": "content_block_stop", "index": 0})
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "max_tokens" if truncated else "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": usage[1]},
            },
        )
        answer.usage = usage
        event("message_stop", {"type": "message_stop"}, 0)
