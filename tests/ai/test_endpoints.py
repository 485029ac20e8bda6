"""POST /ai/chat and /ai/generate end to end: the real edge app (uvicorn), the local stack, and fake OpenAI
and Anthropic servers over real HTTP. Every test checks the ledger: one ai_usage row per admitted request
with the provider's own token counts, and no tokens left held."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.ai.conftest import (
    AiSite,
    auth,
    eventually,
    hold_statuses,
    make_plan,
    month,
    post,
    put_on_plan,
    stream_events,
    usage_rows,
)
from tests.conftest import EdgeServer, User, serve_edge
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.fakes.ai import DEFAULT_REPLY, Behaviour
from thinbase.local.stack import LocalStack

CHAT: dict[str, Any] = {
    "messages": [
        {"role": "system", "content": "You answer briefly."},
        {"role": "user", "content": "Say hello to the tests please"},
    ],
    "max_tokens": 64,
}


def assert_settled(stack: LocalStack, user: User, rows: list[dict[str, Any]]) -> None:
    """Every hold committed, nothing held, and the month's totals equal the ledger."""
    assert set(hold_statuses(stack, user)) <= {"committed"}
    assert len(hold_statuses(stack, user)) == len(rows)
    totals = month(stack, user)
    assert totals["held_tokens"] == 0
    assert totals["requests"] == len(rows)
    assert totals["used_tokens"] == sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows)


# -- success ------------------------------------------------------------------------------------------------


def test_generate_answers_and_records_the_real_usage(
    stack: LocalStack, site: AiSite, make_user: Callable[..., User]
) -> None:
    user = make_user("ai-gen")
    response = post(site, "/ai/generate", user, {"prompt": "Three names for a bakery", "max_tokens": 100})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["text"] == DEFAULT_REPLY
    assert body["model"] == site.model
    sent = site.fake.last
    assert sent.usage is not None
    assert body["usage"] == {
        "prompt_tokens": sent.usage[0],
        "completion_tokens": sent.usage[1],
        "total_tokens": sum(sent.usage),
    }
    assert body["usage_estimated"] is False
    # What went to the provider: the configured model, one user message, our max_tokens.
    assert sent.body["model"] == site.model
    assert sent.body["messages"] == [{"role": "user", "content": "Three names for a bakery"}]
    assert sent.body.get("max_tokens") == 100
    rows = usage_rows(stack, user)
    assert [(r["provider"], r["model"], r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [
        (site.provider, site.model, sent.usage[0], sent.usage[1])
    ]
    assert_settled(stack, user, rows)


def test_chat_sends_the_conversation_in_the_providers_shape(
    stack: LocalStack, site: AiSite, make_user: Callable[..., User]
) -> None:
    user = make_user("ai-chat")
    response = post(site, "/ai/chat", user, CHAT)
    assert response.status_code == 200, response.text
    sent = site.fake.last.body
    if site.provider == "anthropic":
        assert sent["system"] == "You answer briefly."
        assert sent["messages"] == [{"role": "user", "content": "Say hello to the tests please"}]
        assert site.fake.last.headers["anthropic-version"] == "2023-06-01"
        assert site.fake.last.headers["x-api-key"] == site.fake.api_key
        assert "authorization" not in site.fake.last.headers
    else:
        assert sent["messages"] == CHAT["messages"]
        assert site.fake.last.headers["authorization"] == f"Bearer {site.fake.api_key}"
        assert "stream" not in sent
    rows = usage_rows(stack, user)
    assert len(rows) == 1
    assert (rows[0]["prompt_tokens"], rows[0]["completion_tokens"]) == site.fake.last.usage
    assert_settled(stack, user, rows)


def test_a_stream_relays_deltas_then_done_with_the_final_usage(
    stack: LocalStack, site: AiSite, make_user: Callable[..., User]
) -> None:
    user = make_user("ai-stream")
    response, events = stream_events(site, user, CHAT)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    deltas = [e["delta"] for e in events if "delta" in e]
    assert len(deltas) > 5  # really streamed, piece by piece
    assert "".join(deltas) == DEFAULT_REPLY
    done = events[-1]
    sent = site.fake.last
    assert sent.usage is not None
    assert done == {
        "done": True,
        "model": site.model,
        "finish_reason": "end_turn" if site.provider == "anthropic" else "stop",
        "usage": {
            "prompt_tokens": sent.usage[0],
            "completion_tokens": sent.usage[1],
            "total_tokens": sum(sent.usage),
        },
        "usage_estimated": False,
    }
    if site.provider == "openai":
        assert sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["stream"] is True
    rows = usage_rows(stack, user)
    assert [(r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [sent.usage]
    assert_settled(stack, user, rows)


def test_the_plans_model_wins_over_ai_model(
    stack: LocalStack, db: PsycopgDatabase, site: AiSite, make_user: Callable[..., User]
) -> None:
    user = make_user("ai-plan-model")
    plan = make_plan(
        db,
        ai_monthly_token_cap=100_000,
        ai_requests_per_window=100,
        ai_window_seconds=60,
        ai_model="plan-model-x",
    )
    put_on_plan(stack, user, plan)
    response = post(site, "/ai/generate", user, {"prompt": "hi"})
    assert response.status_code == 200, response.text
    assert site.fake.last.body["model"] == "plan-model-x"
    assert site.fake.last.body.get("max_tokens") == 1024  # the default
    assert [r["model"] for r in usage_rows(stack, user)] == ["plan-model-x"]


def test_a_provider_without_usage_is_charged_our_estimate(
    stack: LocalStack, openai_site: AiSite, make_user: Callable[..., User]
) -> None:
    """Some OpenAI-compatible servers report no usage: charge ceil(chars / 4) of prompt and of answer."""
    openai_site.fake.reset()
    user = make_user("ai-nousage")
    openai_site.fake.next(Behaviour(omit_usage=True), Behaviour(omit_usage=True))
    prompt = "Count the characters of this prompt"
    response = post(openai_site, "/ai/generate", user, {"prompt": prompt})
    assert response.status_code == 200, response.text
    expected = (math.ceil(len(prompt) / 4), math.ceil(len(DEFAULT_REPLY) / 4))
    assert response.json()["usage_estimated"] is True
    assert (
        response.json()["usage"]["prompt_tokens"],
        response.json()["usage"]["completion_tokens"],
    ) == expected
    _, events = stream_events(openai_site, user, {"messages": [{"role": "user", "content": prompt}]})
    assert events[-1]["usage_estimated"] is True
    rows = usage_rows(stack, user)
    assert [(r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [expected, expected]
    assert_settled(stack, user, rows)


# -- provider failures --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "status", "code", "retry_after"),
    [
        (Behaviour(status=401), 502, "ai_provider_auth_failed", None),
        (Behaviour(status=403), 502, "ai_provider_auth_failed", None),
        (Behaviour(status=429, headers={"retry-after": "7"}), 503, "ai_provider_busy", "7"),
        (Behaviour(status=429), 503, "ai_provider_busy", None),
        (Behaviour(status=500), 503, "ai_provider_unavailable", None),
        (Behaviour(status=529, headers={"retry-after": "3"}), 503, "ai_provider_unavailable", "3"),
        (Behaviour(status=404), 502, "ai_provider_rejected", None),
    ],
    ids=["401", "403", "429-retry-after", "429", "500", "529", "404"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_provider_errors_map_to_clear_answers_and_charge_nothing(
    stack: LocalStack,
    site: AiSite,
    make_user: Callable[..., User],
    behaviour: Behaviour,
    status: int,
    code: str,
    retry_after: str | None,
    stream: bool,
) -> None:
    user = make_user("ai-fail")
    site.fake.next(behaviour)
    if stream:
        response, events = stream_events(site, user, CHAT)
        body = events[0]
    else:
        response = post(site, "/ai/chat", user, CHAT)
        body = response.json()
    assert response.status_code == status, body
    assert body["error"]["code"] == code
    assert "sk-" not in body["error"]["message"]  # OpenAI's 401 message echoes a masked key: never passed on
    assert response.headers.get("retry-after") == retry_after
    rows = usage_rows(stack, user)
    assert [(r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [(0, 0)]
    assert_settled(stack, user, rows)


def test_a_wrong_api_key_is_an_auth_failure(
    stack: LocalStack, fake_openai: Any, make_user: Callable[..., User]
) -> None:
    fake_openai.reset()
    user = make_user("ai-badkey")
    with serve_edge(
        stack, AI_PROVIDER="openai", AI_BASE_URL=f"{fake_openai.url}/v1", AI_API_KEY="sk-wrong", AI_MODEL="m"
    ) as edge:
        response = httpx.post(
            f"{edge.url}/ai/generate", json={"prompt": "hi"}, headers=auth(user), timeout=30
        )
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "ai_provider_auth_failed"
    assert [(r["prompt_tokens"], r["completion_tokens"]) for r in usage_rows(stack, user)] == [(0, 0)]


def test_an_unreachable_provider_is_503_and_charges_nothing(
    stack: LocalStack, make_user: Callable[..., User]
) -> None:
    from tests.conftest import free_port

    user = make_user("ai-down")
    with serve_edge(
        stack,
        AI_PROVIDER="openai-compatible",
        AI_BASE_URL=f"http://127.0.0.1:{free_port()}/v1",
        AI_API_KEY="k",
        AI_MODEL="m",
    ) as edge:
        response = httpx.post(
            f"{edge.url}/ai/generate", json={"prompt": "hi"}, headers=auth(user), timeout=30
        )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "ai_provider_unreachable"
    rows = usage_rows(stack, user)
    assert [(r["provider"], r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [
        ("openai-compatible", 0, 0)
    ]
    assert_settled(stack, user, rows)


def test_a_failure_mid_stream_sends_an_error_event_and_charges_only_what_was_reported(
    stack: LocalStack, site: AiSite, make_user: Callable[..., User]
) -> None:
    user = make_user("ai-midfail")
    site.fake.next(Behaviour(error_event_after=3))
    response, events = stream_events(site, user, CHAT)
    assert response.status_code == 200
    assert [e["delta"] for e in events[:-1]] == [w + " " for w in DEFAULT_REPLY.split(" ")[:3]]
    assert events[-1] == {
        "error": {
            "code": "ai_provider_unavailable",
            "message": "The AI provider failed in the middle of the answer; try again shortly.",
        }
    }
    # Anthropic reported the input tokens (and 1 output token) in message_start; OpenAI reported nothing.
    reported = site.fake.last.usage if site.provider == "anthropic" else (0, 0)
    rows = eventually(lambda: usage_rows(stack, user))
    assert [(r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [reported]
    assert_settled(stack, user, rows)


def test_a_dropped_provider_connection_mid_stream_is_reported_and_charges_only_what_was_reported(
    stack: LocalStack, site: AiSite, make_user: Callable[..., User]
) -> None:
    user = make_user("ai-drop")
    site.fake.next(Behaviour(break_after=2))
    response, events = stream_events(site, user, CHAT)
    assert response.status_code == 200
    assert len([e for e in events if "delta" in e]) == 2
    assert events[-1]["error"]["code"] == "ai_provider_stream_interrupted"
    reported = (
        (site.fake.last.usage[0], 1) if site.provider == "anthropic" and site.fake.last.usage else (0, 0)
    )
    rows = eventually(lambda: usage_rows(stack, user))
    assert [(r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [reported]
    assert_settled(stack, user, rows)


# -- the client goes away -----------------------------------------------------------------------------------


def test_a_client_that_disconnects_mid_stream_is_still_charged_once(
    stack: LocalStack, site: AiSite, make_user: Callable[..., User]
) -> None:
    """The provider connection is dropped and usage committed exactly once: the input tokens the provider
    reported (Anthropic) or our estimate (OpenAI reports usage only at the end), plus streamed chars / 4."""
    user = make_user("ai-leave")
    reply = " ".join(f"word{i}" for i in range(60))
    site.fake.next(Behaviour(chunk_delay=0.1, reply=reply))
    received: list[str] = []
    with httpx.stream(
        "POST", f"{site.url}/ai/chat", json={**CHAT, "stream": True}, headers=auth(user), timeout=30
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                received.append(json.loads(line[6:])["delta"])
            if len(received) == 3:
                break  # leaving the block closes the connection mid-stream
    answer = site.fake.last
    assert answer.client_disconnected.wait(15), "the edge never dropped the provider connection"
    assert answer.chunks_sent < 60
    rows = eventually(lambda: usage_rows(stack, user))
    assert len(rows) == 1
    prompt_chars = sum(len(m["content"]) for m in CHAT["messages"])
    expected_prompt = (
        answer.usage[0] if site.provider == "anthropic" and answer.usage else math.ceil(prompt_chars / 4)
    )
    assert rows[0]["prompt_tokens"] == expected_prompt
    streamed_at_least = math.ceil(len("".join(received)) / 4)
    streamed_at_most = math.ceil(len(reply) / 4)
    assert streamed_at_least <= rows[0]["completion_tokens"] <= min(streamed_at_most, CHAT["max_tokens"])
    assert_settled(stack, user, rows)


# -- refusals before any provider call ----------------------------------------------------------------------


def test_without_a_token_it_is_401(site: AiSite) -> None:
    for path, body in (("/ai/chat", CHAT), ("/ai/generate", {"prompt": "hi"})):
        response = post(site, path, None, body)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        bad = httpx.post(f"{site.url}{path}", json=body, headers={"Authorization": "Bearer nope"}, timeout=30)
        assert bad.status_code == 401
    assert site.fake.answers == []


def test_unconfigured_ai_is_503(
    stack: LocalStack, edge: EdgeServer, make_user: Callable[..., User], fake_openai: Any
) -> None:
    user = make_user("ai-off")
    for path, body in (("/ai/chat", CHAT), ("/ai/generate", {"prompt": "hi"})):
        response = httpx.post(f"{edge.url}{path}", json=body, headers=auth(user), timeout=30)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "ai_not_configured"
    # openai-compatible needs a base URL; a key is always needed.
    for env in (
        {"AI_PROVIDER": "openai-compatible", "AI_API_KEY": "k", "AI_MODEL": "m"},
        {"AI_PROVIDER": "anthropic", "AI_MODEL": "m"},
        {"AI_PROVIDER": "mystery", "AI_API_KEY": "k", "AI_MODEL": "m"},
    ):
        with serve_edge(stack, **env) as other:
            response = httpx.post(
                f"{other.url}/ai/generate", json={"prompt": "hi"}, headers=auth(user), timeout=30
            )
            assert response.status_code == 503, env
            assert response.json()["error"]["code"] == "ai_not_configured"
    assert usage_rows(stack, user) == []
    assert hold_statuses(stack, user) == []


def test_no_model_anywhere_is_503_and_the_hold_is_released(
    stack: LocalStack, fake_openai: Any, make_user: Callable[..., User]
) -> None:
    fake_openai.reset()
    user = make_user("ai-nomodel")
    with serve_edge(stack, AI_PROVIDER="openai", AI_BASE_URL=f"{fake_openai.url}/v1", AI_API_KEY="k") as edge:
        response = httpx.post(
            f"{edge.url}/ai/generate", json={"prompt": "hi"}, headers=auth(user), timeout=30
        )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "ai_not_configured"
    assert fake_openai.answers == []
    rows = usage_rows(stack, user)
    assert [(r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [(0, 0)]
    assert_settled(stack, user, rows)


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/ai/chat", {}, "invalid_messages"),
        ("/ai/chat", {"messages": []}, "invalid_messages"),
        ("/ai/chat", {"messages": "hi"}, "invalid_messages"),
        ("/ai/chat", {"messages": [{"role": "tool", "content": "x"}]}, "invalid_messages"),
        ("/ai/chat", {"messages": [{"role": "user", "content": ["parts"]}]}, "invalid_messages"),
        ("/ai/chat", {"messages": [{"role": "user", "content": "  "}]}, "invalid_messages"),
        (
            "/ai/chat",
            {"messages": [{"role": "system", "content": "only a system prompt"}]},
            "invalid_messages",
        ),
        ("/ai/chat", {"messages": [{"role": "assistant", "content": "I start"}]}, "invalid_messages"),
        ("/ai/chat", {"messages": [{"role": "user", "content": "x"}] * 101}, "invalid_messages"),
        ("/ai/chat", {"messages": [{"role": "user", "content": "x" * 64_001}]}, "prompt_too_long"),
        ("/ai/chat", {"messages": [{"role": "user", "content": "x" * 40_000}] * 2}, "prompt_too_long"),
        ("/ai/chat", {"messages": [{"role": "user", "content": "x"}], "stream": "yes"}, "invalid_stream"),
        ("/ai/chat", {"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "invalid_max_tokens"),
        (
            "/ai/chat",
            {"messages": [{"role": "user", "content": "x"}], "max_tokens": 4097},
            "invalid_max_tokens",
        ),
        (
            "/ai/chat",
            {"messages": [{"role": "user", "content": "x"}], "max_tokens": True},
            "invalid_max_tokens",
        ),
        ("/ai/generate", {}, "invalid_prompt"),
        ("/ai/generate", {"prompt": 5}, "invalid_prompt"),
        ("/ai/generate", {"prompt": "x" * 64_001}, "prompt_too_long"),
        ("/ai/generate", {"prompt": "x", "max_tokens": "10"}, "invalid_max_tokens"),
    ],
)
def test_bad_input_is_400_before_anything_is_reserved(
    stack: LocalStack,
    openai_site: AiSite,
    make_user: Callable[..., User],
    path: str,
    body: dict[str, Any],
    code: str,
) -> None:
    user = make_user("ai-bad")
    response = post(openai_site, path, user, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    assert hold_statuses(stack, user) == []


def test_bodies_must_be_json_and_small(openai_site: AiSite, make_user: Callable[..., User]) -> None:
    user = make_user("ai-body")
    not_json = httpx.post(
        f"{openai_site.url}/ai/generate", content=b"prompt=hi", headers=auth(user), timeout=30
    )
    assert not_json.status_code == 415
    huge = httpx.post(
        f"{openai_site.url}/ai/generate",
        content=b'{"prompt": "' + b"x" * 600_000 + b'"}',
        headers={**auth(user), "Content-Type": "application/json"},
        timeout=30,
    )
    assert huge.status_code == 413
