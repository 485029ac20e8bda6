"""The provider clients on their own, against the fakes over real HTTP: error mapping (timeouts, refused
connections, Gemini's 400 for a bad key, OpenAI's quota 429, Retry-After forms, unreadable answers), the SSE
reader, the configuration rules, and usage settlement when a client leaves while a send is pending."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import anyio
import httpx
import pytest

from tests.ai.conftest import hold_statuses, month, usage_rows
from tests.aio import collect_async, run
from tests.conftest import User, free_port
from thinbase import errors
from thinbase.db import Caller
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.fakes.ai import AnthropicFake, Behaviour, OpenAIFake
from thinbase.functions.ai.anthropic import AnthropicMessages
from thinbase.functions.ai.base import ChatMessage, ChatProvider, ChatRequest, iter_sse
from thinbase.functions.ai.config import ai_config, build_provider
from thinbase.functions.ai.endpoints import AdmittedCall, EventStreamResponse, StreamSession
from thinbase.functions.ai.metering import Meter
from thinbase.functions.ai.openai_compat import OpenAICompatible
from thinbase.functions.ai.validation import Prompt
from thinbase.local.stack import LocalStack
from thinbase.settings import load_settings

HELLO = ChatRequest("m", (ChatMessage("user", "hello there"),), 50)


@pytest.fixture
def http() -> Iterator[httpx.AsyncClient]:
    client = httpx.AsyncClient()
    yield client
    run(client.aclose())


@pytest.fixture
def openai(fake_openai: OpenAIFake, http: httpx.AsyncClient) -> Iterator[OpenAICompatible]:
    fake_openai.reset()
    yield OpenAICompatible(
        http, base_url=f"{fake_openai.url}/v1", api_key=fake_openai.api_key, timeout=httpx.Timeout(1.0)
    )
    fake_openai.reset()


@pytest.fixture
def anthropic(fake_anthropic: AnthropicFake, http: httpx.AsyncClient) -> Iterator[AnthropicMessages]:
    fake_anthropic.reset()
    yield AnthropicMessages(
        http, base_url=fake_anthropic.url, api_key=fake_anthropic.api_key, timeout=httpx.Timeout(1.0)
    )
    fake_anthropic.reset()


def failure(call: Callable[[], Coroutine[Any, Any, Any]]) -> errors.AiProviderError:
    with pytest.raises(errors.AiProviderError) as caught:
        run(call())
    return caught.value


def test_a_provider_that_does_not_answer_in_time(fake_openai: OpenAIFake, openai: OpenAICompatible) -> None:
    fake_openai.next(Behaviour(stall=2.0))
    error = failure(lambda: openai.complete(HELLO))
    assert (type(error), error.code) == (errors.AiProviderTimeout, "ai_provider_timeout")
    assert error.http_status == 503


def test_a_stream_that_stalls_mid_way_times_out(
    fake_anthropic: AnthropicFake, anthropic: AnthropicMessages
) -> None:
    fake_anthropic.next(Behaviour(chunk_delay=2.0))
    stream = run(anthropic.stream(HELLO))
    try:
        error = failure(lambda: collect_async(stream))
    finally:
        run(stream.aclose())
    assert error.code == "ai_provider_timeout"
    assert stream.prompt_tokens is not None  # message_start had arrived: the input tokens are known


def test_an_unreachable_provider(http: httpx.AsyncClient) -> None:
    provider = OpenAICompatible(http, base_url=f"http://127.0.0.1:{free_port()}/v1", api_key="k")
    error = failure(lambda: provider.complete(HELLO))
    assert (error.code, error.http_status) == ("ai_provider_unreachable", 503)
    assert isinstance(error, errors.AiProviderTimeout)


@pytest.mark.parametrize(
    ("behaviour", "error_type", "retry_after"),
    [
        # Gemini answers an invalid key with 400 INVALID_ARGUMENT / API_KEY_INVALID, not 401.
        (
            Behaviour(
                status=400,
                error_body=[
                    {
                        "error": {
                            "code": 400,
                            "message": "API key not valid. Please pass a valid API key.",
                            "status": "INVALID_ARGUMENT",
                            "details": [
                                {
                                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                    "reason": "API_KEY_INVALID",
                                }
                            ],
                        }
                    }
                ],
            ),
            errors.AiProviderAuthFailed,
            None,
        ),
        (
            Behaviour(
                status=429,
                error_body={
                    "error": {
                        "message": "You exceeded your current quota",
                        "type": "insufficient_quota",
                        "param": None,
                        "code": "insufficient_quota",
                    }
                },
                headers={"retry-after": "20"},
            ),
            errors.AiProviderQuotaExhausted,
            None,
        ),
        (Behaviour(status=429, headers={"retry-after-ms": "1500"}), errors.AiProviderBusy, 2),
        (Behaviour(status=429, headers={"retry-after": "999999"}), errors.AiProviderBusy, 3600),
        (Behaviour(status=429, headers={"retry-after": "soon"}), errors.AiProviderBusy, None),
        (Behaviour(status=503, headers={"retry-after": "4"}), errors.AiProviderUnavailable, 4),
        (Behaviour(status=408), errors.AiProviderUnavailable, None),
        (Behaviour(status=400), errors.AiProviderRejected, None),
        (Behaviour(status=302), errors.AiProviderBadResponse, None),
    ],
)
def test_provider_statuses_map_onto_the_error_tree(
    fake_openai: OpenAIFake,
    openai: OpenAICompatible,
    behaviour: Behaviour,
    error_type: type[errors.AiProviderError],
    retry_after: int | None,
) -> None:
    fake_openai.next(behaviour)
    error = failure(lambda: openai.complete(HELLO))
    assert type(error) is error_type
    assert error.retry_after == retry_after
    assert error.provider_status == behaviour.status


def test_retry_after_as_an_http_date(fake_anthropic: AnthropicFake, anthropic: AnthropicMessages) -> None:
    fake_anthropic.next(
        Behaviour(status=429, headers={"retry-after": email.utils.formatdate(time.time() + 30, usegmt=True)})
    )
    error = failure(lambda: anthropic.complete(HELLO))
    assert isinstance(error, errors.AiProviderBusy)
    assert error.retry_after is not None
    assert 28 <= error.retry_after <= 31


def test_auth_failures_never_carry_the_providers_message(
    fake_openai: OpenAIFake, http: httpx.AsyncClient
) -> None:
    provider = OpenAICompatible(http, base_url=f"{fake_openai.url}/v1", api_key="sk-live-wrong")
    error = failure(lambda: provider.complete(HELLO))
    assert isinstance(error, errors.AiProviderAuthFailed)
    assert error.detail is None  # OpenAI's text echoes part of the key
    assert "sk-" not in str(error)
    assert "sk-" not in repr(error)


@pytest.mark.parametrize("stream", [False, True])
def test_an_unreadable_success_is_a_bad_response(
    fake_openai: OpenAIFake, openai: OpenAICompatible, stream: bool
) -> None:
    # A base URL pointing at something that is not a chat API (a login page, a proxy's HTML).
    fake_openai.next(Behaviour(raw_body=b"<html>Sign in</html>"))
    error = failure(lambda: openai.stream(HELLO) if stream else openai.complete(HELLO))
    assert (type(error), error.http_status) == (errors.AiProviderBadResponse, 502)


def test_anthropic_accepts_a_base_url_with_or_without_v1(
    fake_anthropic: AnthropicFake, http: httpx.AsyncClient
) -> None:
    fake_anthropic.reset()
    for base in (fake_anthropic.url, f"{fake_anthropic.url}/", f"{fake_anthropic.url}/v1"):
        provider = AnthropicMessages(http, base_url=base, api_key=fake_anthropic.api_key)
        assert run(provider.complete(HELLO)).usage is not None
    assert {a.path for a in fake_anthropic.answers} == {"/v1/messages"}


def test_sse_reader_follows_the_whatwg_rules() -> None:
    lines = [
        ": a comment",
        "event: message_start",
        'data: {"a":',
        "data:1}",
        "",
        "",
        "data: [DONE]",
        "id: 7",
        "",
        "data: tail without a blank line",
    ]
    assert list(iter_sse(lines)) == [
        ("message_start", '{"a":\n1}'),
        (None, "[DONE]"),
        (None, "tail without a blank line"),
    ]


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({}, "AI_PROVIDER is not set"),
        ({"AI_PROVIDER": "cohere", "AI_API_KEY": "k"}, "AI_PROVIDER must be"),
        ({"AI_PROVIDER": "openai"}, "AI_API_KEY is not set"),
        ({"AI_PROVIDER": "openai-compatible", "AI_API_KEY": "k"}, "AI_BASE_URL is required"),
        ({"AI_PROVIDER": "openai", "AI_API_KEY": "k", "AI_BASE_URL": "ftp://x"}, "http(s) URL"),
    ],
)
def test_configuration_says_what_is_missing(env: dict[str, str], problem: str) -> None:
    with pytest.raises(errors.AiNotConfigured, match=problem.replace("(", r"\(").replace(")", r"\)")):
        ai_config(load_settings(env=env))


@pytest.mark.parametrize(
    ("env", "url", "token_parameter"),
    [
        ({"AI_PROVIDER": "openai"}, "https://api.openai.com/v1/chat/completions", "max_completion_tokens"),
        (
            {"AI_PROVIDER": "OpenAI", "AI_BASE_URL": "http://127.0.0.1:8080/v1/"},
            "http://127.0.0.1:8080/v1/chat/completions",
            "max_tokens",
        ),
        (
            {"AI_PROVIDER": "gemini"},
            "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
            "max_tokens",
        ),
        ({"AI_PROVIDER": "anthropic"}, "https://api.anthropic.com/v1/messages", None),
    ],
)
def test_configuration_defaults(
    http: httpx.AsyncClient, env: dict[str, str], url: str, token_parameter: str | None
) -> None:
    config = ai_config(load_settings(env={"AI_API_KEY": "secret-key", **env}))
    assert "secret-key" not in repr(config)
    provider: ChatProvider = build_provider(config, http)
    assert getattr(provider, "url") == url  # noqa: B009 - both client classes have it; the base class does not
    assert getattr(provider, "token_parameter", None) == token_parameter


def test_usage_is_settled_when_the_client_leaves_while_a_send_is_pending(
    stack: LocalStack,
    db: PsycopgDatabase,
    fake_openai: OpenAIFake,
    make_user: Callable[..., User],
) -> None:
    """The client stops reading and then goes away while the body generator waits at a `yield`: Starlette
    cancels the sender without closing the generator; the response still drops the provider connection and
    commits once. Driven by a minimal ASGI server (spec 2.3, as uvicorn) whose send never completes."""
    fake_openai.reset()
    user = make_user("ai-pending")
    reservation = db.rpc(
        "reserve_ai_usage", {"user_id": user.id, "estimated_tokens": 500}, caller=Caller.service()
    )[0]
    fake_openai.next(Behaviour(chunk_delay=0.05, reply=" ".join(f"w{i}" for i in range(100))))
    # Everything on the loop the port's pool belongs to: the provider's connection too.
    http = httpx.AsyncClient()
    provider = OpenAICompatible(http, base_url=f"{fake_openai.url}/v1", api_key=fake_openai.api_key)
    chat = ChatRequest("m", (ChatMessage("user", "x" * 40),), 100)
    meter = Meter(db.port, str(reservation["reservation_id"]), "openai", "m")
    session = StreamSession(
        AdmittedCall(provider, chat, meter, Prompt(chat.messages, 100, True)), db.run(provider.stream(chat))
    )
    response = EventStreamResponse(session)

    async def serve() -> None:
        gone = anyio.Event()
        bodies = 0

        async def receive() -> dict[str, Any]:
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            nonlocal bodies
            if message["type"] == "http.response.body":
                bodies += 1
                if bodies == 3:
                    gone.set()
                    await anyio.sleep_forever()

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "method": "POST",
            "path": "/ai/chat",
            "headers": [],
        }
        with anyio.fail_after(15):
            await response(scope, receive, send)
        # Settled by the time the response returns, not later when the event loop closes leftover generators
        # (which a long-running server would do only at shutdown).
        settled_in_time.append(meter.committed is not None)

    settled_in_time: list[bool] = []
    try:
        db.run(serve())
    finally:
        db.run(http.aclose())
    assert settled_in_time == [True]
    answer = fake_openai.last
    assert answer.client_disconnected.wait(10)
    assert answer.chunks_sent < 100
    assert meter.committed is not None
    assert meter.committed.prompt_tokens == 10  # no usage reported yet: ceil(40 chars / 4)
    assert 1 <= meter.committed.completion_tokens <= 100
    rows = usage_rows(stack, user)
    assert [(r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [
        (meter.committed.prompt_tokens, meter.committed.completion_tokens)
    ]
    assert hold_statuses(stack, user) == ["committed"]
    assert month(stack, user)["held_tokens"] == 0
