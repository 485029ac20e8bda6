"""Concurrency on real connections: 32 clients, each scenario three times on fresh keys and users.

These are the guarantees the money path rests on: a rate limit admits exactly its limit, a paid event
extends a subscription once however often it is delivered, and concurrent checkouts create one payment.
"""

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
from thinbase.errors import RpcError
from thinbase.local.stack import LocalStack

CLIENTS = 32
RUNS = range(3)


@pytest.mark.parametrize("run", RUNS)
def test_rate_limit_admits_exactly_the_limit(stack: LocalStack, run: int) -> None:
    key = f"concurrency-{uuid.uuid4()}"

    def consume(database: PsycopgDatabase, _: int) -> bool:
        rows = database.rpc(
            "consume_rate_limit",
            {"namespace": "test", "subject": key, "max_requests": 100, "window_seconds": 3600},
            caller=Caller.service(),
        )
        return bool(rows[0]["allowed"])

    results = hammer(stack.authenticator_url(), CLIENTS, 50, consume)
    assert len(results) == 1600
    assert results.count(True) == 100


def _paid_event(order_id: str, amount: int, currency: str, key: str) -> dict[str, Any]:
    return {
        "provider": "stripe",
        "event_key": key,
        "event_type": "checkout.session.completed",
        "order_id": order_id,
        "status": "paid",
        "amount_minor": amount,
        "currency": currency,
        "payload": {"test": True},
    }


@pytest.mark.parametrize("run", RUNS)
def test_one_paid_event_delivered_32_times_extends_once(
    stack: LocalStack, db: PsycopgDatabase, make_user: Callable[..., User], run: int
) -> None:
    user = make_user("storm")
    payment = db.rpc(
        "create_payment", {"plan": "PRO", "provider": "stripe", "currency": "USD"}, caller=user.caller
    )
    event = _paid_event(payment["order_id"], payment["amount_minor"], "USD", f"evt_{uuid.uuid4().hex}")

    def deliver(database: PsycopgDatabase, _: int) -> str:
        return str(database.rpc("apply_payment_event", event, caller=Caller.service())[0]["outcome"])

    outcomes = Counter(hammer(stack.authenticator_url(), CLIENTS, 1, deliver))
    assert outcomes == {"applied": 1, "duplicate": CLIENTS - 1}
    with stack.superuser_connection() as conn:
        sub = conn.execute(
            "select plan_code, status, current_period_end - current_period_start as length, "
            "funded_by_payment_id "
            "from public.subscriptions where user_id = %s",
            (user.id,),
        ).fetchone()
        extensions = conn.execute(
            "select count(*) as n from private.audit_logs where entity = 'subscriptions' and entity_id = %s "
            "and action = 'subscriptions.update'",
            (user.id,),
        ).fetchone()
    assert sub is not None
    assert extensions is not None
    assert (sub["plan_code"], sub["status"], str(sub["funded_by_payment_id"])) == (
        "PRO",
        "active",
        payment["id"],
    )
    assert sub["length"].days in (28, 29, 30, 31)  # exactly one month, not two
    assert extensions["n"] == 1


@pytest.mark.parametrize("run", RUNS)
def test_distinct_paid_events_for_one_order_extend_once(
    stack: LocalStack, db: PsycopgDatabase, make_user: Callable[..., User], run: int
) -> None:
    """Providers send several 'paid' events for one payment (capture, settlement): the payment pays once."""
    user = make_user("multi")
    payment = db.rpc(
        "create_payment", {"plan": "PRO", "provider": "stripe", "currency": "USD"}, caller=user.caller
    )

    def deliver(database: PsycopgDatabase, index: int) -> str:
        event = _paid_event(
            payment["order_id"], payment["amount_minor"], "USD", f"evt_{run}_{index}_{uuid.uuid4().hex}"
        )
        return str(database.rpc("apply_payment_event", event, caller=Caller.service())[0]["outcome"])

    outcomes = Counter(hammer(stack.authenticator_url(), CLIENTS, 1, deliver))
    assert outcomes == {"applied": 1, "ignored": CLIENTS - 1}


@pytest.mark.parametrize("run", RUNS)
def test_concurrent_checkouts_create_one_payment(
    stack: LocalStack, make_user: Callable[..., User], run: int
) -> None:
    user = make_user("checkout")

    def checkout(database: PsycopgDatabase, _: int) -> str:
        try:
            row = database.rpc(
                "create_payment",
                {"plan": "PRO", "provider": "midtrans", "currency": "IDR"},
                caller=user.caller,
            )
        except RpcError as exc:
            return f"error:{exc.code}:{exc.message}"
        return str(row["id"])

    results = hammer(stack.authenticator_url(), CLIENTS, 1, checkout)
    assert len(set(results)) == 1, Counter(results)
    assert not results[0].startswith("error")
    with stack.superuser_connection() as conn:
        count = conn.execute(
            "select count(*) as n from public.payments where user_id = %s", (user.id,)
        ).fetchone()
    assert count is not None
    assert count["n"] == 1


@pytest.mark.parametrize("run", RUNS)
def test_replays_racing_redeliveries_of_a_failed_event_apply_it_once(
    stack: LocalStack, db: PsycopgDatabase, make_user: Callable[..., User], run: int
) -> None:
    """An operator replays a failed event while the provider redelivers it: one applies, none deadlocks."""
    user = make_user("replay")
    payment = db.rpc(
        "create_payment", {"plan": "PRO", "provider": "stripe", "currency": "USD"}, caller=user.caller
    )
    event = _paid_event(payment["order_id"], payment["amount_minor"] + 1, "USD", f"evt_{uuid.uuid4().hex}")
    first = db.rpc("apply_payment_event", event, caller=Caller.service())[0]
    assert first["outcome"] == "failed"  # amount mismatch
    with stack.superuser_connection() as conn:  # the operator corrects the payment's amount
        conn.execute(
            "update public.payments set amount_minor = %s where id = %s",
            (event["amount_minor"], payment["id"]),
        )

    def replay_or_redeliver(database: PsycopgDatabase, index: int) -> str:
        try:
            if index % 2:
                rows = database.rpc(
                    "operator_replay_webhook_event", {"id": first["event_id"]}, caller=Caller.service()
                )
            else:
                rows = database.rpc("apply_payment_event", event, caller=Caller.service())
        except RpcError as exc:
            return f"error:{exc.code}:{exc.message}"
        return str(rows[0]["outcome"])

    outcomes = Counter(hammer(stack.authenticator_url(), CLIENTS, 1, replay_or_redeliver))
    assert outcomes["applied"] == 1, outcomes
    # The others found the event applied: a duplicate, or (a replay that read it after the commit) not
    # replayable any more. Never a deadlock or any other error.
    assert set(outcomes) <= {"applied", "duplicate", "error:PT409:not_replayable"}, outcomes
    with stack.superuser_connection() as conn:
        row = conn.execute(
            "select e.status, e.attempts, p.status as payment_status, "
            "(select count(*) from private.audit_logs as a where a.entity = 'subscriptions' "
            " and a.entity_id = %s and a.action = 'subscriptions.update') as extensions "
            "from private.webhook_events as e join public.payments as p on p.order_id = e.order_id "
            "where e.id = %s",
            (user.id, first["event_id"]),
        ).fetchone()
    assert row is not None
    assert (row["status"], row["attempts"], row["payment_status"], row["extensions"]) == (
        "processed",
        2,
        "paid",
        1,
    )


@pytest.mark.parametrize("run", RUNS)
def test_paid_and_refund_deliveries_racing_end_in_one_serial_order(
    stack: LocalStack, db: PsycopgDatabase, make_user: Callable[..., User], run: int
) -> None:
    """16 deliveries of a paid event and 16 of its refund, all at once: the outcome is one of the two serial
    orders (paid then refunded: refunded and back on FREE; refund first, ignored: paid and on PRO), never a
    mix, and each event is recorded once."""
    user = make_user("race")
    payment = db.rpc(
        "create_payment", {"plan": "PRO", "provider": "stripe", "currency": "USD"}, caller=user.caller
    )
    paid = _paid_event(payment["order_id"], payment["amount_minor"], "USD", f"evt_paid_{uuid.uuid4().hex}")
    refund = {**paid, "event_key": f"evt_refund_{uuid.uuid4().hex}", "status": "refunded"}

    def deliver(database: PsycopgDatabase, index: int) -> str:
        event = paid if index % 2 else refund
        outcome = database.rpc("apply_payment_event", event, caller=Caller.service())[0]["outcome"]
        return f"{event['status']}:{outcome}"

    outcomes = Counter(hammer(stack.authenticator_url(), CLIENTS, 1, deliver))
    assert outcomes["paid:applied"] == 1, outcomes
    assert outcomes["paid:duplicate"] == CLIENTS // 2 - 1, outcomes
    with stack.superuser_connection() as conn:
        state = conn.execute(
            "select p.status, s.plan_code from public.payments as p "
            "join public.subscriptions as s on s.user_id = p.user_id where p.id = %s",
            (payment["id"],),
        ).fetchone()
        ledger = conn.execute(
            "select event_key, status from private.webhook_events where order_id = %s",
            (payment["order_id"],),
        ).fetchall()
    assert state is not None
    refund_outcome = {row["event_key"]: row["status"] for row in ledger}[refund["event_key"]]
    if outcomes["refunded:applied"] == 1:  # paid, then refunded
        assert (state["status"], state["plan_code"], refund_outcome) == ("refunded", "FREE", "processed")
    else:  # the refund came first and was ignored: the payment stays paid
        assert outcomes["refunded:ignored"] == 1, outcomes
        assert (state["status"], state["plan_code"], refund_outcome) == ("paid", "PRO", "ignored")
    assert len(ledger) == 2  # each event recorded once, however often delivered
