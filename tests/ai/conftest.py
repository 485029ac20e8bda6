"""Fixtures for the AI endpoint tests: the two fake providers, edge apps configured for each, plans."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest

from tests.conftest import EdgeServer, User, serve_edge
from thinbase.db import Caller
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.fakes.ai import AiFake, AnthropicFake, OpenAIFake
from thinbase.local.stack import LocalStack

T = TypeVar("T")


@pytest.fixture(scope="package")
def fake_openai() -> Iterator[OpenAIFake]:
    with OpenAIFake() as fake:
        yield fake


@pytest.fixture(scope="package")
def fake_anthropic() -> Iterator[AnthropicFake]:
    with AnthropicFake() as fake:
        yield fake


@dataclass
class AiSite:
    """An edge app wired to one fake provider."""

    provider: str  # the AI_PROVIDER value, and what ai_usage.provider records
    edge: EdgeServer
    fake: AiFake
    model: str  # AI_MODEL

    @property
    def url(self) -> str:
        return self.edge.url


@pytest.fixture(scope="package")
def openai_site(stack: LocalStack, fake_openai: OpenAIFake) -> Iterator[AiSite]:
    with serve_edge(
        stack,
        AI_PROVIDER="openai",
        AI_BASE_URL=f"{fake_openai.url}/v1",
        AI_API_KEY=fake_openai.api_key,
        AI_MODEL="gpt-fake-mini",
    ) as edge:
        yield AiSite("openai", edge, fake_openai, "gpt-fake-mini")


@pytest.fixture(scope="package")
def anthropic_site(stack: LocalStack, fake_anthropic: AnthropicFake) -> Iterator[AiSite]:
    with serve_edge(
        stack,
        AI_PROVIDER="anthropic",
        AI_BASE_URL=fake_anthropic.url,
        AI_API_KEY=fake_anthropic.api_key,
        AI_MODEL="claude-fake-haiku",
    ) as edge:
        yield AiSite("anthropic", edge, fake_anthropic, "claude-fake-haiku")


@pytest.fixture(params=["openai", "anthropic"])
def site(request: pytest.FixtureRequest) -> Iterator[AiSite]:
    """Each test that takes `site` runs against both providers; the fake starts each test fresh."""
    chosen: AiSite = request.getfixturevalue(f"{request.param}_site")
    chosen.fake.reset()
    yield chosen
    chosen.fake.reset()


def auth(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {user.token}"}


def post(site: AiSite, path: str, user: User | None, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{site.url}{path}", json=body, headers=auth(user) if user else {}, timeout=30)


def stream_events(
    site: AiSite, user: User, body: dict[str, Any]
) -> tuple[httpx.Response, list[dict[str, Any]]]:
    """POST /ai/chat with stream: true; the response and its SSE `data:` objects (or the JSON error)."""
    with httpx.stream(
        "POST", f"{site.url}/ai/chat", json={**body, "stream": True}, headers=auth(user), timeout=30
    ) as response:
        if response.status_code != 200:
            response.read()
            return response, [response.json()]
        events = [
            json.loads(line[len("data: ") :]) for line in response.iter_lines() if line.startswith("data: ")
        ]
    return response, events


def make_plan(db: PsycopgDatabase, **fields: Any) -> str:
    code = f"AI_{uuid.uuid4().hex[:8].upper()}"
    db.rpc(
        "admin_upsert_plan",
        {"code": code, "name": "AI test plan", "active": False, **fields},
        caller=Caller.service(),
    )
    return code


def put_on_plan(stack: LocalStack, user: User, plan: str) -> None:
    with stack.superuser_connection() as conn:
        conn.execute(
            "update public.subscriptions set plan_code = %s, status = 'active', "
            "current_period_end = now() + interval '1 month' where user_id = %s",
            (plan, user.id),
        )


def usage_rows(stack: LocalStack, user: User) -> list[dict[str, Any]]:
    with stack.superuser_connection() as conn:
        return conn.execute(
            "select request_id::text, provider, model, prompt_tokens, completion_tokens "
            "from public.ai_usage where user_id = %s order by id",
            (user.id,),
        ).fetchall()


def month(stack: LocalStack, user: User) -> dict[str, Any]:
    """This UTC month's row: used, held, requests (zeros before the first reservation)."""
    with stack.superuser_connection() as conn:
        row = conn.execute(
            "select used_tokens, held_tokens, requests from private.ai_monthly_usage "
            "where user_id = %s and month = private.utc_month(now())",
            (user.id,),
        ).fetchone()
    return row or {"used_tokens": 0, "held_tokens": 0, "requests": 0}


def hold_statuses(stack: LocalStack, user: User) -> list[str]:
    with stack.superuser_connection() as conn:
        rows = conn.execute(
            "select status from private.ai_holds where user_id = %s order by created_at", (user.id,)
        ).fetchall()
    return [str(row["status"]) for row in rows]


def eventually(probe: Callable[[], T | None], timeout: float = 15.0) -> T:
    """The first truthy result of `probe`, polling until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {result!r})")
        time.sleep(0.05)
