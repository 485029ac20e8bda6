"""Refunds and disputes on real connections (32 clients): a refund delivered 32 times is applied once, and
a refund racing a dispute ends in the one state both orders lead to (20261204006020: a refund during a
dispute keeps the payment disputed unless it refunds everything)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.concurrency import hammer
from tests.conftest import User
from thinbase.db import Caller
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.local.stack import LocalStack

CLIENTS = 32


def _event(order_id: str, status: str, key: str, amount: int | None = None) -> dict[str, Any]:
    return {
        "provider": "stripe",
        "event_key": key,
        "event_type": f"test.{status}",
        "order_id": order_id,
        "status": status,
        "amount_minor": amount,
        "currency": "USD",
        "payload": {"test": True},
    }


def _paid_payment(db: PsycopgDatabase, user: User) -> dict[str, Any]:
    payment: dict[str, Any] = db.rpc(
        "create_payment", {"plan": "PRO", "provider": "stripe", "currency": "USD"}, caller=user.caller
    )
    paid = _event(payment["order_id"], "paid", f"evt_{uuid.uuid4().hex}", payment["amount_minor"])
    assert db.rpc("apply_payment_event", paid, caller=Caller.service())[0]["outcome"] == "applied"
    return payment


def _state(stack: LocalStack, payment: dict[str, Any], user: User) -> dict[str, Any]:
    with stack.superuser_connection() as conn:
        row = conn.execute(
            "select p.status, p.refunded_minor, s.plan_code, s.status as subscription "
            "from public.payments as p join public.subscriptions as s on s.user_id = p.user_id "
            "where p.id = %s and s.user_id = %s",
            (payment["id"], user.id),
        ).fetchone()
    assert row is not None
    return dict(row)


def _deliver(events: list[dict[str, Any]]) -> Callable[[PsycopgDatabase, int], tuple[str, str]]:
    """Client i delivers events[i % len(events)]: (its status, the outcome)."""

    def deliver(database: PsycopgDatabase, index: int) -> tuple[str, str]:
        event = events[index % len(events)]
        rows = database.rpc("apply_payment_event", event, caller=Caller.service())
        return event["status"], str(rows[0]["outcome"])

    return deliver


@pytest.mark.parametrize("run", range(2))
def test_one_refund_delivered_32_times_is_applied_once(
    stack: LocalStack, db: PsycopgDatabase, make_user: Callable[..., User], run: int
) -> None:
    user = make_user("refund-storm")
    payment = _paid_payment(db, user)
    refund = _event(payment["order_id"], "refund", f"evt_{uuid.uuid4().hex}", 300)
    outcomes = Counter(hammer(stack.authenticator_url(), CLIENTS, 1, _deliver([refund])))
    assert outcomes == {("refund", "applied"): 1, ("refund", "duplicate"): CLIENTS - 1}
    assert _state(stack, payment, user) == {
        "status": "partially_refunded",
        "refunded_minor": 300,
        "plan_code": "PRO",
        "subscription": "active",
    }
    # The same cumulative amount under 32 keys (webhook, reconciliation, a retry of another endpoint ...):
    # it did not grow again, so each is ignored and nothing changes.
    again = [_event(payment["order_id"], "refund", f"evt_{uuid.uuid4().hex}", 300) for _ in range(CLIENTS)]
    outcomes = Counter(hammer(stack.authenticator_url(), CLIENTS, 1, _deliver(again)))
    assert outcomes == {("refund", "ignored"): CLIENTS}
    assert _state(stack, payment, user)["refunded_minor"] == 300


@pytest.mark.parametrize(
    ("refunded", "end"),
    [
        # A partial refund and a dispute, in either order: disputed, with the part refunded; plan held.
        (300, {"status": "disputed", "refunded_minor": 300, "plan_code": "PRO", "subscription": "past_due"}),
        # A full refund and a dispute, in either order: refunded (a dispute of it is stale); plan gone.
        (900, {"status": "refunded", "refunded_minor": 900, "plan_code": "FREE", "subscription": "active"}),
    ],
)
def test_a_refund_racing_a_dispute_ends_in_one_state(
    stack: LocalStack,
    db: PsycopgDatabase,
    make_user: Callable[..., User],
    refunded: int,
    end: dict[str, Any],
) -> None:
    user = make_user("refund-race")
    payment = _paid_payment(db, user)
    refund = _event(payment["order_id"], "refund", f"evt_{uuid.uuid4().hex}", refunded)
    dispute = _event(payment["order_id"], "dispute_opened", f"evt_{uuid.uuid4().hex}")
    outcomes = Counter(hammer(stack.authenticator_url(), CLIENTS, 1, _deliver([refund, dispute])))
    half = CLIENTS // 2
    assert outcomes[("refund", "applied")] == 1
    assert outcomes[("refund", "duplicate")] == half - 1
    # The dispute is applied, or (a full refund first) recorded as stale; once either way.
    assert outcomes[("dispute_opened", "applied")] + outcomes[("dispute_opened", "ignored")] == 1
    assert outcomes[("dispute_opened", "duplicate")] == half - 1
    if refunded == 300:
        assert outcomes[("dispute_opened", "applied")] == 1
    assert _state(stack, payment, user) == end
    with stack.superuser_connection() as conn:
        ledger = conn.execute(
            "select count(*) as n from private.webhook_events where event_key in (%s, %s)",
            (refund["event_key"], dispute["event_key"]),
        ).fetchone()
    assert ledger == {"n": 2}
