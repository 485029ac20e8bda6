"""`Idempotency-Key` on POST /payments/checkout, over real HTTP against the local stack and the Stripe fake:
the same key and body answer once (replays marked), another body is 422, concurrent duplicates run once,
and a 5xx is not stored, so its retry runs again."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import EdgeServer, User, serve_edge
from thinbase.fakes.payments import StripeFake
from thinbase.local.stack import LocalStack

BODY = {"plan": "PRO", "provider": "stripe", "currency": "USD"}


@pytest.fixture(scope="module")
def stripe_fake() -> Iterator[StripeFake]:
    with StripeFake(secret_key="sk_test_idem", webhook_secret="whsec_idem") as fake:
        yield fake


@pytest.fixture(scope="module")
def shop(stack: LocalStack, stripe_fake: StripeFake) -> Iterator[EdgeServer]:
    with serve_edge(
        stack,
        ALLOWED_RETURN_URLS="https://app.example.test/done",
        STRIPE_SECRET_KEY="sk_test_idem",
        STRIPE_WEBHOOK_SECRET="whsec_idem",
        STRIPE_BASE_URL=stripe_fake.url,
    ) as server:
        yield server


def post(shop: EdgeServer, user: User, body: dict[str, Any], key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {user.token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return httpx.post(f"{shop.url}/payments/checkout", json=body, headers=headers, timeout=30)


def payments(stack: LocalStack, user: User) -> int:
    with stack.superuser_connection() as conn:
        row = conn.execute(
            "select count(*) as n from public.payments where user_id = %s", (user.id,)
        ).fetchone()
    assert row is not None
    return int(row["n"])


def test_the_same_key_and_body_answer_once(shop: EdgeServer, stack: LocalStack, make_user: Any) -> None:
    user = make_user("idem-once")
    key = uuid.uuid4().hex
    first = post(shop, user, BODY, key)
    assert first.status_code == 200, first.text
    assert "idempotent-replayed" not in first.headers
    again = post(shop, user, {"currency": "USD", "plan": "PRO", "provider": "stripe"}, key)  # keys reordered
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert payments(stack, user) == 1


def test_another_body_with_the_same_key_is_refused(shop: EdgeServer, make_user: Any) -> None:
    user = make_user("idem-reused")
    key = uuid.uuid4().hex
    assert post(shop, user, BODY, key).status_code == 200
    other = post(shop, user, {**BODY, "plan": "PRO_YEARLY"}, key)
    assert other.status_code == 422, other.text
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_a_client_error_is_stored_and_replayed(shop: EdgeServer, make_user: Any) -> None:
    user = make_user("idem-4xx")
    key = uuid.uuid4().hex
    body = {**BODY, "plan": "NO_SUCH_PLAN"}
    first = post(shop, user, body, key)
    assert (first.status_code, first.json()["error"]["code"]) == (400, "unknown_plan")
    again = post(shop, user, body, key)
    assert (again.status_code, again.headers.get("idempotent-replayed")) == (400, "true")
    assert again.json() == first.json()


def test_a_server_error_is_not_stored_so_the_retry_runs(
    shop: EdgeServer, stack: LocalStack, stripe_fake: StripeFake, make_user: Any
) -> None:
    user = make_user("idem-5xx")
    key = uuid.uuid4().hex
    stripe_fake.fail_next(500)
    failed = post(shop, user, BODY, key)
    assert (failed.status_code, failed.json()["error"]["code"]) == (502, "provider_error")
    retried = post(shop, user, BODY, key)
    assert retried.status_code == 200, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert retried.json()["redirect_url"]
    assert payments(stack, user) == 1


def test_keys_belong_to_their_user(shop: EdgeServer, stack: LocalStack, make_user: Any) -> None:
    alice, bob = make_user("idem-alice"), make_user("idem-bob")
    key = uuid.uuid4().hex
    mine = post(shop, alice, BODY, key)
    theirs = post(shop, bob, BODY, key)
    assert (mine.status_code, theirs.status_code) == (200, 200)
    assert "idempotent-replayed" not in theirs.headers
    assert mine.json()["payment_id"] != theirs.json()["payment_id"]


def test_a_bad_key_is_refused(shop: EdgeServer, make_user: Any) -> None:
    answer = post(shop, make_user("idem-bad"), BODY, "not a key")
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "invalid_idempotency_key")


def test_concurrent_duplicates_run_once(
    shop: EdgeServer, stack: LocalStack, stripe_fake: StripeFake, make_user: Any
) -> None:
    user = make_user("idem-race")
    key = uuid.uuid4().hex
    sessions_before = len(stripe_fake.sessions)
    stripe_fake.stall_next(1.0)  # the first request holds its key while the others arrive
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def one() -> None:
        response = post(shop, user, BODY, key)
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=one) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ran = [a for a in answers if a.status_code == 200 and "idempotent-replayed" not in a.headers]
    replayed = [a for a in answers if a.status_code == 200 and "idempotent-replayed" in a.headers]
    waiting = [a for a in answers if a.status_code == 409]
    assert len(ran) == 1, [a.text for a in answers]
    assert waiting, "no duplicate arrived while the first ran: the race was not exercised"
    assert len(ran) + len(replayed) + len(waiting) == 16
    assert all(a.json()["error"]["code"] == "idempotency_key_in_use" for a in waiting)
    assert all(a.json() == ran[0].json() for a in replayed)
    assert len(stripe_fake.sessions) == sessions_before + 1
    assert payments(stack, user) == 1
