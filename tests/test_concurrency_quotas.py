"""Concurrency for core schema II on real connections: 32 clients, three runs each."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable

import pytest

from tests.client_ips import fresh_ip
from tests.concurrency import hammer
from tests.conftest import User
from thinbase.db import Caller
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.local.stack import LocalStack

CLIENTS = 32
RUNS = range(3)


@pytest.fixture(scope="module")
def capped_plan(db: PsycopgDatabase) -> str:
    """A plan with a 10,000-token monthly cap and no practical request limit."""
    code = f"CAP_{uuid.uuid4().hex[:8].upper()}"
    db.rpc(
        "admin_upsert_plan",
        {
            "code": code,
            "name": "Capped",
            "ai_monthly_token_cap": 10_000,
            "ai_requests_per_window": 1000,
            "ai_window_seconds": 60,
            "active": False,
        },
        caller=Caller.service(),
    )
    return code


@pytest.mark.parametrize("run", RUNS)
def test_ai_reservations_never_pass_the_cap_by_more_than_one_estimate(
    stack: LocalStack, make_user: Callable[..., User], capped_plan: str, run: int
) -> None:
    user = make_user("quota")
    with stack.superuser_connection() as conn:
        conn.execute(
            "update public.subscriptions set plan_code = %s, current_period_end = now() + interval '1 month' "
            "where user_id = %s",
            (capped_plan, user.id),
        )
    estimate = 1_000

    def reserve(database: PsycopgDatabase, _: int) -> bool:
        row = database.rpc(
            "reserve_ai_usage", {"user_id": user.id, "estimated_tokens": estimate}, caller=Caller.service()
        )[0]
        assert row["allowed"] or row["reason"] == "monthly_cap_reached", row
        return bool(row["allowed"])

    admitted = hammer(stack.authenticator_url(), CLIENTS, 1, reserve).count(True)
    with stack.superuser_connection() as conn:
        usage = conn.execute(
            "select used_tokens + held_tokens as total from private.ai_monthly_usage where user_id = %s",
            (user.id,),
        ).fetchone()
    assert usage is not None
    assert usage["total"] == admitted * estimate
    assert usage["total"] <= 10_000 + estimate
    assert admitted == 10  # admitted while used + held < cap: exactly cap / estimate here


@pytest.mark.parametrize("run", RUNS)
def test_one_email_from_32_clients_joins_once(stack: LocalStack, run: int) -> None:
    email = f"waiting-{uuid.uuid4().hex[:10]}@example.test"

    def join(database: PsycopgDatabase, index: int) -> str:
        # Distinct client IPs, so the per-IP rate limit is not what decides.
        headers = {"x-forwarded-for": fresh_ip()}
        return str(
            database.rpc(
                "join_waitlist", {"email": email, "source": "test"}, caller=Caller.anon(), headers=headers
            )
        )

    outcomes = Counter(hammer(stack.authenticator_url(), CLIENTS, 1, join))
    assert outcomes == {"joined": 1, "already_joined": CLIENTS - 1}
    with stack.superuser_connection() as conn:
        rows = conn.execute("select count(*) as n from public.waitlist where email = %s", (email,)).fetchone()
    assert rows is not None
    assert rows["n"] == 1
