"""The database stops in the middle of a webhook burst (a cluster of this test's own, not the shared
stack). While it is down the edge app answers 503; after it restarts, the provider's retries (simulated:
every event is delivered again until it gets a 2xx) bring every event in exactly once. Nothing is lost."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import serve_edge
from thinbase.db import Caller
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.fakes.payments.signing import stripe_header
from thinbase.local.stack import LocalStack
from thinbase.tokens import verify_hs256

WEBHOOK_SECRET = "whsec_outage_test"
EVENTS = 40


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack(Path(tmp_path_factory.mktemp("outage")) / "stack")
    stack.up()
    yield stack
    stack.down()
    state = stack.load_state()
    if state is not None:
        shutil.rmtree(state.cluster_dir, ignore_errors=True)


def paid_event(index: int, order_id: str) -> bytes:
    return json.dumps(
        {
            "id": f"evt_outage_{index:04d}",
            "object": "event",
            "type": "checkout.session.completed",
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": f"cs_outage_{index:04d}",
                    "object": "checkout.session",
                    "client_reference_id": order_id,
                    "status": "complete",
                    "payment_status": "paid",
                    "amount_total": 900,
                    "currency": "usd",
                    "metadata": {"order_id": order_id},
                }
            },
        }
    ).encode()


def deliver(url: str, body: bytes) -> int:
    headers = {"Content-Type": "application/json", "Stripe-Signature": stripe_header(WEBHOOK_SECRET, body)}
    try:
        return httpx.post(f"{url}/webhooks/stripe", content=body, headers=headers, timeout=30).status_code
    except httpx.HTTPError:
        return 599


def test_outage_mid_burst_loses_nothing(own_stack: LocalStack) -> None:
    database = PsycopgDatabase(own_stack.authenticator_url())
    secret = own_stack.state().jwt_secret
    orders: list[str] = []
    users: list[str] = []
    for index in range(EVENTS):
        row = own_stack.create_user(f"outage-{index}@example.test")
        claims = verify_hs256(own_stack.user_token(row), secret)
        payment = database.rpc(
            "create_payment",
            {"plan": "PRO", "provider": "stripe", "currency": "USD"},
            caller=Caller.user(claims),
        )
        orders.append(payment["order_id"])
        users.append(str(row["id"]))
    database.close()
    bodies = [paid_event(index, order) for index, order in enumerate(orders)]
    half = EVENTS // 2
    port = own_stack.state().port

    with serve_edge(
        own_stack, STRIPE_SECRET_KEY="sk_test_outage", STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET
    ) as edge:
        with ThreadPoolExecutor(max_workers=8) as pool:
            first = list(pool.map(lambda body: deliver(edge.url, body), bodies[:half]))
        assert first == [200] * half

        own_stack.down()
        with ThreadPoolExecutor(max_workers=half) as pool:
            during = list(pool.map(lambda body: deliver(edge.url, body), bodies[half:]))
        assert during == [503] * (EVENTS - half), during

        own_stack.up()
        assert own_stack.state().port == port
        # The provider retries every event it has not seen acknowledged, and (at least once) re-sends
        # some it has: here, everything, until each gets a 2xx.
        pending = list(range(EVENTS))
        deadline = time.monotonic() + 60
        while pending and time.monotonic() < deadline:
            with ThreadPoolExecutor(max_workers=8) as pool:
                codes = list(pool.map(lambda i: deliver(edge.url, bodies[i]), pending))
            pending = [i for i, code in zip(pending, codes, strict=True) if code != 200]
            if pending:
                time.sleep(0.5)
        assert pending == []

    with own_stack.superuser_connection() as conn:
        ledger = conn.execute(
            "select status, count(*) as n from private.webhook_events group by status"
        ).fetchall()
        payments = conn.execute(
            "select status, count(*) as n from public.payments group by status"
        ).fetchall()
        subs: list[dict[str, Any]] = conn.execute(
            "select plan_code, current_period_end - current_period_start as length from public.subscriptions "
            "where user_id = any(%s::uuid[])",
            (users,),
        ).fetchall()
    assert {row["status"]: row["n"] for row in ledger} == {"processed": EVENTS}
    assert {row["status"]: row["n"] for row in payments} == {"paid": EVENTS}
    assert len(subs) == EVENTS
    assert all(sub["plan_code"] == "PRO" and sub["length"].days <= 31 for sub in subs)  # extended once each
