"""The plan's AI limits through the edge: the per-window request limit, the monthly token cap, and many
concurrent requests from one user against a small cap."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.ai.conftest import AiSite, auth, hold_statuses, make_plan, month, post, put_on_plan, usage_rows
from tests.conftest import User
from tests.rate_windows import within_one_window
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.fakes.ai import Behaviour
from thinbase.local.stack import LocalStack


def test_the_plans_request_limit_answers_429_rate_limited(
    stack: LocalStack, db: PsycopgDatabase, site: AiSite, make_user: Callable[..., User]
) -> None:
    user = make_user("ai-rl")
    put_on_plan(
        stack,
        user,
        make_plan(db, ai_monthly_token_cap=1_000_000, ai_requests_per_window=2, ai_window_seconds=60),
    )
    within_one_window(60)
    for _ in range(2):
        assert post(site, "/ai/generate", user, {"prompt": "hi"}).status_code == 200
    before = time.time()
    refused = post(site, "/ai/chat", user, {"messages": [{"role": "user", "content": "hi"}]})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    retry = int(refused.headers["retry-after"])
    assert 1 <= retry <= 60
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["x-ratelimit-limit"] == "2"  # the plan's ai_requests_per_window
    assert before + retry - 2 <= int(refused.headers["x-ratelimit-reset"]) <= time.time() + retry + 2
    assert len(site.fake.answers) == 2  # the provider was never called for the refused request
    assert len(usage_rows(stack, user)) == 2
    assert month(stack, user)["held_tokens"] == 0


def test_the_monthly_cap_answers_429_monthly_cap_reached(
    stack: LocalStack, db: PsycopgDatabase, site: AiSite, make_user: Callable[..., User]
) -> None:
    user = make_user("ai-cap")
    put_on_plan(stack, user, make_plan(db, ai_monthly_token_cap=500, ai_requests_per_window=100))
    site.fake.next(Behaviour(usage=(300, 250)))  # the first answer uses more than the whole cap
    first = post(site, "/ai/generate", user, {"prompt": "hi", "max_tokens": 50})
    assert first.status_code == 200, first.text
    assert month(stack, user)["used_tokens"] == 550  # the real usage is recorded even past the cap
    refused = post(site, "/ai/generate", user, {"prompt": "hi", "max_tokens": 50})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "monthly_cap_reached"
    assert int(refused.headers["retry-after"]) >= 1  # until the next UTC month
    assert refused.headers["x-ratelimit-remaining"] == "0"
    streamed = httpx.post(
        f"{site.url}/ai/chat",
        json={"messages": [{"role": "user", "content": "hi"}], "stream": True},
        headers=auth(user),
        timeout=30,
    )
    assert streamed.status_code == 429  # refused before the stream starts: a plain JSON error
    assert streamed.json()["error"]["code"] == "monthly_cap_reached"
    assert len(site.fake.answers) == 1


def test_a_plan_without_ai_is_refused(
    stack: LocalStack, db: PsycopgDatabase, openai_site: AiSite, make_user: Callable[..., User]
) -> None:
    openai_site.fake.reset()
    user = make_user("ai-noai")
    put_on_plan(stack, user, make_plan(db, ai_monthly_token_cap=0, ai_requests_per_window=0))
    refused = post(openai_site, "/ai/generate", user, {"prompt": "hi"})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "monthly_cap_reached"
    assert openai_site.fake.answers == []


@pytest.mark.parametrize("clients", [16, 32])
def test_concurrent_requests_never_pass_the_cap_by_more_than_one_estimate(
    stack: LocalStack, db: PsycopgDatabase, site: AiSite, make_user: Callable[..., User], clients: int
) -> None:
    user = make_user("ai-burst")
    cap = 1_000
    put_on_plan(stack, user, make_plan(db, ai_monthly_token_cap=cap, ai_requests_per_window=1_000))
    prompt, max_tokens = "p" * 40, 90
    estimate = 40 // 4 + max_tokens  # 100: what each request holds
    # Each answer really uses 10 + 85 = 95 tokens, a little less than its hold, and takes a moment, so
    # reservations, provider calls and commits overlap.
    site.fake.default = Behaviour(usage=(10, 85), stall=0.05)
    barrier = threading.Barrier(clients)

    def call(_: int) -> httpx.Response:
        barrier.wait()
        return httpx.post(
            f"{site.url}/ai/generate",
            json={"prompt": prompt, "max_tokens": max_tokens},
            headers=auth(user),
            timeout=60,
        )

    # Watch used + held while the burst runs: the bound must hold at every moment, not only at the end.
    peak = 0
    running = threading.Event()
    running.set()

    def watch() -> None:
        nonlocal peak
        while running.is_set():
            row = month(stack, user)
            peak = max(peak, row["used_tokens"] + row["held_tokens"])
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=clients) as pool:
            responses = list(pool.map(call, range(clients)))
    finally:
        running.clear()
        watcher.join()
    outcomes = Counter(
        r.status_code if r.status_code == 200 else r.json()["error"]["code"] for r in responses
    )
    assert set(outcomes) <= {200, "monthly_cap_reached"}, outcomes
    rows = usage_rows(stack, user)
    assert len(rows) == outcomes[200] == len(site.fake.answers)
    totals = month(stack, user)
    assert totals["held_tokens"] == 0
    assert set(hold_statuses(stack, user)) == {"committed"}
    used = sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows)
    assert used == totals["used_tokens"] == 95 * outcomes[200]
    assert used + totals["held_tokens"] <= cap + estimate
    assert 0 < peak <= cap + estimate
    assert outcomes[200] >= cap // estimate  # the cap is not undershot either: holds only ever block at cap
    assert outcomes["monthly_cap_reached"] == clients - outcomes[200] > 0
