"""The AI fakes as `make dev` runs them: Gemini through the real edge app (AI_PROVIDER=gemini, answered and
streamed, its usage in the ledger), Gemini's answer to a wrong key, and the standalone knobs — `delay`,
`fail`, `port` and THINBASE_FAKE_AI_DELAY / THINBASE_FAKE_AI_FAIL — for each of the three providers, checked
through the edge app's own provider clients (build_provider), so the fakes answer what the app can read."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.ai.conftest import AiSite, auth, stream_events, usage_rows
from tests.aio import collect, run
from tests.conftest import EdgeServer, User, free_port, serve_edge
from thinbase import errors
from thinbase.fakes.ai import (
    DEFAULT_REPLY,
    AiFake,
    AnthropicFake,
    Behaviour,
    GeminiFake,
    OpenAIFake,
    ai_knobs_from_env,
)
from thinbase.functions.ai.base import ChatMessage, ChatProvider, ChatRequest
from thinbase.functions.ai.config import AiConfig, build_provider
from thinbase.local.stack import LocalStack

MODEL = "gemini-fake-flash"
CHAT: dict[str, Any] = {
    "messages": [
        {"role": "system", "content": "You answer briefly."},
        {"role": "user", "content": "Say hello to the fakes"},
    ],
    "max_tokens": 64,
}
HELLO = ChatRequest("m", (ChatMessage("user", "hello there"),), 50)
FAKES: dict[str, Callable[..., AiFake]] = {
    "openai": OpenAIFake,
    "anthropic": AnthropicFake,
    "gemini": GeminiFake,
}


@pytest.fixture(scope="module")
def gemini() -> Iterator[GeminiFake]:
    with GeminiFake() as fake:
        yield fake


@pytest.fixture(scope="module")
def gemini_edge(stack: LocalStack, gemini: GeminiFake) -> Iterator[EdgeServer]:
    with serve_edge(
        stack, AI_PROVIDER="gemini", AI_BASE_URL=gemini.base_url, AI_API_KEY=gemini.api_key, AI_MODEL=MODEL
    ) as edge:
        yield edge


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


@pytest.fixture(scope="module")
def app_http() -> Iterator[httpx.AsyncClient]:
    """What the edge app's provider clients send with (async, on the tests' loop)."""
    client = httpx.AsyncClient()
    yield client
    run(client.aclose())


def client(provider: str, fake: AiFake, http: httpx.AsyncClient, api_key: str | None = None) -> ChatProvider:
    """The edge app's client for `provider`, configured the way the runner configures the app."""
    config = AiConfig(provider, fake.base_url, fake.api_key if api_key is None else api_key, "m")
    return build_provider(config, http)


def raw_post(provider: str, fake: AiFake, http: httpx.Client) -> httpx.Response:
    """A well-formed request in the provider's own shape, as its SDK would send it."""
    messages = [{"role": "user", "content": "hi"}]
    if provider == "anthropic":
        return http.post(
            f"{fake.base_url}/v1/messages",
            json={"model": "m", "max_tokens": 16, "messages": messages},
            headers={"x-api-key": fake.api_key, "anthropic-version": "2023-06-01"},
        )
    return http.post(
        f"{fake.base_url}/chat/completions",
        json={"model": "m", "messages": messages},
        headers={"Authorization": f"Bearer {fake.api_key}"},
    )


def test_gemini_through_the_edge_app_answers_and_streams(
    stack: LocalStack, gemini: GeminiFake, gemini_edge: EdgeServer, make_user: Callable[..., User]
) -> None:
    gemini.reset()
    user = make_user("fake-gemini")
    answer = httpx.post(f"{gemini_edge.url}/ai/chat", json=CHAT, headers=auth(user), timeout=30)
    assert answer.status_code == 200, answer.text
    sent = gemini.last
    # Exactly what the app sends Gemini: its OpenAI-compatible path, a Bearer key, max_tokens.
    assert sent.path == "/v1beta/openai/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {gemini.api_key}"
    assert (sent.body["model"], sent.body["max_tokens"], sent.body["messages"]) == (
        MODEL,
        64,
        CHAT["messages"],
    )
    assert sent.usage is not None
    body = answer.json()
    assert (body["text"], body["model"], body["usage_estimated"]) == (DEFAULT_REPLY, MODEL, False)
    assert body["usage"] == {
        "prompt_tokens": sent.usage[0],
        "completion_tokens": sent.usage[1],
        "total_tokens": sum(sent.usage),
    }

    response, events = stream_events(AiSite("gemini", gemini_edge, gemini, MODEL), user, CHAT)
    assert response.status_code == 200
    streamed = gemini.last
    assert streamed.body["stream"] is True
    assert streamed.body["stream_options"] == {"include_usage": True}
    deltas = [e["delta"] for e in events if "delta" in e]
    assert len(deltas) > 5  # piece by piece
    assert "".join(deltas) == DEFAULT_REPLY
    assert streamed.usage is not None
    assert events[-1] == {
        "done": True,
        "model": MODEL,
        "finish_reason": "stop",
        "usage": {
            "prompt_tokens": streamed.usage[0],
            "completion_tokens": streamed.usage[1],
            "total_tokens": sum(streamed.usage),
        },
        "usage_estimated": False,
    }
    rows = usage_rows(stack, user)
    assert [(r["provider"], r["model"], r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [
        ("gemini", MODEL, *sent.usage),
        ("gemini", MODEL, *streamed.usage),
    ]


def test_gemini_answers_a_wrong_key_with_its_400(
    gemini: GeminiFake, http: httpx.Client, app_http: httpx.AsyncClient
) -> None:
    gemini.reset()
    raw = http.post(
        f"{gemini.base_url}/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": "Bearer wrong"},
    )
    assert raw.status_code == 400
    (error,) = raw.json()
    assert (error["error"]["status"], error["error"]["details"][0]["reason"]) == (
        "INVALID_ARGUMENT",
        "API_KEY_INVALID",
    )
    with pytest.raises(errors.AiProviderAuthFailed):
        run(client("gemini", gemini, app_http, api_key="wrong").complete(HELLO))
    # Gemini has no native generateContent here: the app never calls it.
    native = http.post(
        f"{gemini.url}/v1beta/models/m:generateContent", json={}, headers={"x-goog-api-key": gemini.api_key}
    )
    assert native.status_code == 404


# The error body each provider sends with a 503 (reference/providers.md §8).
UNAVAILABLE: dict[str, Callable[[Any], Any]] = {
    "openai": lambda body: body["error"]["type"],
    "anthropic": lambda body: (body["type"], body["error"]["type"]),
    "gemini": lambda body: (body[0]["error"]["code"], body[0]["error"]["status"]),
}
UNAVAILABLE_EXPECTED = {
    "openai": "server_error",
    "anthropic": ("error", "api_error"),
    "gemini": (503, "UNAVAILABLE"),
}


@pytest.mark.parametrize("provider", FAKES)
def test_the_fail_knob_answers_every_request_with_the_providers_error(
    provider: str, http: httpx.Client, app_http: httpx.AsyncClient
) -> None:
    with FAKES[provider](fail=503) as fake:
        raw = raw_post(provider, fake, http)
        assert raw.status_code == 503
        assert UNAVAILABLE[provider](raw.json()) == UNAVAILABLE_EXPECTED[provider]
        with pytest.raises(errors.AiProviderUnavailable) as caught:
            run(client(provider, fake, app_http).complete(HELLO))
        assert caught.value.provider_status == 503
        with pytest.raises(errors.AiProviderUnavailable):
            run(client(provider, fake, app_http).stream(HELLO))
        assert [a.status for a in fake.answers] == [503, 503, 503]
        # A test's queued behaviour still wins, once; reset() keeps the knob.
        fake.next(Behaviour(), Behaviour(status=429))
        assert run(client(provider, fake, app_http).complete(HELLO)).text == DEFAULT_REPLY
        with pytest.raises(errors.AiProviderBusy):
            run(client(provider, fake, app_http).complete(HELLO))
        fake.reset()
        assert raw_post(provider, fake, http).status_code == 503


@pytest.mark.parametrize("provider", FAKES)
def test_the_delay_knob_slows_the_answer_and_every_chunk(provider: str, app_http: httpx.AsyncClient) -> None:
    delay = 0.03
    port = free_port()
    pieces = len(DEFAULT_REPLY.split(" "))
    with FAKES[provider](delay=delay, port=port) as fake:
        assert fake.url == f"http://127.0.0.1:{port}"
        started = time.monotonic()
        assert run(client(provider, fake, app_http).complete(HELLO)).text == DEFAULT_REPLY
        assert time.monotonic() - started >= delay
        started = time.monotonic()
        stream = run(client(provider, fake, app_http).stream(HELLO))
        try:
            deltas = collect(stream)
        finally:
            run(stream.aclose())
        elapsed = time.monotonic() - started
    assert deltas == [f"{word} " for word in DEFAULT_REPLY.split(" ")[:-1]] + [DEFAULT_REPLY.split(" ")[-1]]
    # The fake sleeps `delay` before answering and again before each text chunk, one after another, so the
    # last chunk cannot arrive sooner than this however the client's reads are scheduled.
    assert elapsed >= delay * (1 + pieces)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {}),
        ({"THINBASE_FAKE_AI_DELAY": " ", "THINBASE_FAKE_AI_FAIL": ""}, {}),
        ({"THINBASE_FAKE_AI_DELAY": "0.5", "THINBASE_FAKE_AI_FAIL": "429"}, {"delay": 0.5, "fail": 429}),
        ({"THINBASE_FAKE_AI_DELAY": "2"}, {"delay": 2.0}),
        ({"THINBASE_FAKE_AI_FAIL": " 503 "}, {"fail": 503}),
        ({"THINBASE_FAKE_AI_DELAY": "slow"}, "THINBASE_FAKE_AI_DELAY must be a number of seconds"),
        ({"THINBASE_FAKE_AI_DELAY": "-1"}, "THINBASE_FAKE_AI_DELAY must be a number of seconds"),
        ({"THINBASE_FAKE_AI_DELAY": "nan"}, "THINBASE_FAKE_AI_DELAY must be a number of seconds"),
        ({"THINBASE_FAKE_AI_DELAY": "601"}, "from 0 to 600"),
        ({"THINBASE_FAKE_AI_FAIL": "200"}, "THINBASE_FAKE_AI_FAIL must be an HTTP error status"),
        ({"THINBASE_FAKE_AI_FAIL": "503.5"}, "THINBASE_FAKE_AI_FAIL must be an HTTP error status"),
        ({"THINBASE_FAKE_AI_FAIL": "yes"}, "not 'yes'"),
    ],
)
def test_knobs_from_the_environment(env: dict[str, str], expected: dict[str, Any] | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=expected):
            ai_knobs_from_env(env)
    else:
        assert ai_knobs_from_env(env) == expected


def test_the_constructor_refuses_knobs_that_make_no_sense() -> None:
    with pytest.raises(ValueError, match="HTTP error status"):
        OpenAIFake(fail=200)
    with pytest.raises(ValueError, match="from 0 to 600 seconds"):
        GeminiFake(delay=-0.1)
