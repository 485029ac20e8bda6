"""Findings 1 and 2 of the attack pass, reproduced over real HTTP against the local stack and the provider
fakes: what binds a webhook to a payment must be something our server set, and a field the signature does
not cover must not decide a payment's state.

- Razorpay: a buyer pays their own Razorpay order with Checkout notes naming another buyer's order. It used
  to pay the other order (payment.captured mapped by notes), pay their own (order.paid mapped by receipt)
  and then refund the other one. Now every event of that payment is bound by the Razorpay order id our
  checkout stored, and the disagreeing notes fail it.
- Midtrans: the signature covers order_id, status_code and gross_amount only. A genuine notification
  re-posted with transaction_status or fraud_status changed used to be applied. Now a status_code that
  contradicts the status is refused, and paid or refunded is applied only as the status API confirms it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import EdgeServer, User, serve_edge
from thinbase.fakes.payments import MidtransFake, RazorpayFake, signing
from thinbase.local.stack import LocalStack


@pytest.fixture(scope="module")
def razorpay_fake() -> Iterator[RazorpayFake]:
    with RazorpayFake(
        key_id="rzp_test_forgery", key_secret="rzp_forgery", webhook_secret="whs_forgery"
    ) as fake:
        yield fake


@pytest.fixture(scope="module")
def midtrans_fake() -> Iterator[MidtransFake]:
    with MidtransFake(server_key="SB-Mid-server-forgery") as fake:
        yield fake


@pytest.fixture(scope="module")
def shop(stack: LocalStack, razorpay_fake: RazorpayFake, midtrans_fake: MidtransFake) -> Iterator[EdgeServer]:
    with serve_edge(
        stack,
        ALLOWED_RETURN_URLS="https://app.example.test/done",
        RAZORPAY_KEY_ID="rzp_test_forgery",
        RAZORPAY_KEY_SECRET="rzp_forgery",
        RAZORPAY_WEBHOOK_SECRET="whs_forgery",
        RAZORPAY_BASE_URL=razorpay_fake.url,
        MIDTRANS_SERVER_KEY="SB-Mid-server-forgery",
        MIDTRANS_BASE_URL=midtrans_fake.url,
    ) as server:
        yield server


def checkout(shop: EdgeServer, user: User, provider: str, currency: str) -> dict[str, Any]:
    answer = httpx.post(
        f"{shop.url}/payments/checkout",
        json={"plan": "PRO", "provider": provider, "currency": currency},
        headers={"Authorization": f"Bearer {user.token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    created: dict[str, Any] = answer.json()
    return created


def deliver(shop: EdgeServer, provider: str, signed: tuple[dict[str, str], bytes]) -> httpx.Response:
    headers, body = signed
    return httpx.post(f"{shop.url}/webhooks/{provider}", content=body, headers=headers, timeout=30)


def state(stack: LocalStack, order_id: str) -> tuple[str, str]:
    """(payment status, the buyer's plan)."""
    with stack.superuser_connection() as conn:
        row = conn.execute(
            "select p.status, s.plan_code from public.payments as p "
            "join public.subscriptions as s on s.user_id = p.user_id where p.order_id = %s",
            (order_id,),
        ).fetchone()
    assert row is not None
    return row["status"], row["plan_code"]


def ledger(stack: LocalStack, provider: str, event_key: str) -> dict[str, Any]:
    with stack.superuser_connection() as conn:
        row = conn.execute(
            "select order_id, status, last_error from private.webhook_events "
            "where provider = %s and event_key = %s",
            (provider, event_key),
        ).fetchone()
    assert row is not None
    return dict(row)


def test_razorpay_notes_naming_another_order_pay_nothing(
    stack: LocalStack, shop: EdgeServer, razorpay_fake: RazorpayFake, make_user: Any
) -> None:
    attacker, victim = make_user("rzp-attacker"), make_user("rzp-victim")
    mine = checkout(shop, attacker, "razorpay", "INR")
    theirs = checkout(shop, victim, "razorpay", "INR")
    assert mine["token"]
    assert mine["token"] != theirs["token"]  # each a Razorpay order of its own

    # The attacker pays their own Razorpay order, with Checkout notes naming the victim's order.
    razorpay_fake.set_status(mine["order_id"], "captured", notes={"order_id": theirs["order_id"]})
    for event in ("payment.captured", "order.paid"):
        signed = razorpay_fake.webhook(event, mine["order_id"], event_id=f"evt_{uuid.uuid4().hex[:14]}")
        answer = deliver(shop, "razorpay", signed)
        assert (answer.status_code, answer.json()["outcome"]) == (200, "failed"), answer.text
        recorded = ledger(stack, "razorpay", signed[0]["X-Razorpay-Event-Id"])
        assert recorded["order_id"] == mine["order_id"]  # bound by the Razorpay order, not the notes
        assert recorded["last_error"].startswith(
            f"order_mismatch: a client-set field names order {theirs['order_id']}"
        )
    razorpay_fake.set_status(mine["order_id"], "refunded", notes={"order_id": theirs["order_id"]})
    refund = deliver(shop, "razorpay", razorpay_fake.webhook("refund.processed", mine["order_id"]))
    assert (refund.status_code, refund.json()["outcome"]) == (200, "failed")

    assert state(stack, theirs["order_id"]) == ("pending", "FREE")
    assert state(stack, mine["order_id"]) == ("pending", "FREE")


def test_razorpay_events_are_bound_by_the_razorpay_order(
    stack: LocalStack, shop: EdgeServer, razorpay_fake: RazorpayFake, make_user: Any
) -> None:
    """The honest path: notes absent (the client passed none) — the Razorpay order alone binds every event."""
    buyer = make_user("rzp-buyer")
    bought = checkout(shop, buyer, "razorpay", "INR")
    razorpay_fake.set_status(bought["order_id"], "captured", notes={})
    paid = deliver(shop, "razorpay", razorpay_fake.webhook("payment.captured", bought["order_id"]))
    assert (paid.json()["outcome"], paid.json()["payment_status"]) == ("applied", "paid"), paid.text
    again = deliver(shop, "razorpay", razorpay_fake.webhook("order.paid", bought["order_id"]))
    assert again.json()["outcome"] == "ignored"  # the same payment, told again
    assert state(stack, bought["order_id"]) == ("paid", "PRO")
    razorpay_fake.set_status(bought["order_id"], "refunded", notes={})
    refunded = deliver(shop, "razorpay", razorpay_fake.webhook("refund.processed", bought["order_id"]))
    assert refunded.json()["payment_status"] == "refunded"
    assert state(stack, bought["order_id"]) == ("refunded", "FREE")


def tamper(signed: tuple[dict[str, str], bytes], **fields: str) -> tuple[dict[str, str], bytes]:
    """A genuine Midtrans notification with unsigned fields changed: its signature still verifies."""
    headers, body = signed
    return headers, json.dumps(json.loads(body) | fields).encode()


def test_midtrans_status_code_must_match_the_status(
    stack: LocalStack, shop: EdgeServer, midtrans_fake: MidtransFake, make_user: Any
) -> None:
    buyer = make_user("mt-code")
    bought = checkout(shop, buyer, "midtrans", "IDR")
    genuine = midtrans_fake.notification(bought["order_id"], "pending")
    forged = tamper(genuine, transaction_status="settlement", transaction_id="txn-forged")
    answer = deliver(shop, "midtrans", forged)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_payload"
    assert state(stack, bought["order_id"]) == ("pending", "FREE")


def test_midtrans_paid_is_applied_only_as_the_status_api_confirms(
    stack: LocalStack, shop: EdgeServer, midtrans_fake: MidtransFake, make_user: Any
) -> None:
    buyer = make_user("mt-fraud")
    bought = checkout(shop, buyer, "midtrans", "IDR")
    # A card payment held for review: capture with fraud_status challenge (status_code 200) is pending.
    challenged = midtrans_fake.notification(bought["order_id"], "capture", fraud_status="challenge")
    assert deliver(shop, "midtrans", challenged).json()["payment_status"] == "pending"
    forged = tamper(challenged, fraud_status="accept")  # status_code 200 fits capture: only the API knows
    answer = deliver(shop, "midtrans", forged)
    assert answer.status_code == 200, answer.text
    assert answer.json()["payment_status"] == "pending"
    assert state(stack, bought["order_id"]) == ("pending", "FREE")

    # Once Midtrans itself reports the capture accepted, the same notification is applied.
    midtrans_fake.set_status(bought["order_id"], "capture", fraud_status="accept")
    accepted = deliver(shop, "midtrans", forged)
    assert (accepted.json()["outcome"], accepted.json()["payment_status"]) == ("applied", "paid")
    assert state(stack, bought["order_id"]) == ("paid", "PRO")


def test_midtrans_forged_refund_is_not_applied(
    stack: LocalStack, shop: EdgeServer, midtrans_fake: MidtransFake, make_user: Any
) -> None:
    buyer = make_user("mt-refund")
    bought = checkout(shop, buyer, "midtrans", "IDR")
    settled = midtrans_fake.notification(bought["order_id"], "settlement")
    assert deliver(shop, "midtrans", settled).json()["outcome"] == "applied"
    forged = tamper(settled, transaction_status="refund")  # status_code 200, as a real refund's
    answer = deliver(shop, "midtrans", forged)
    assert answer.status_code == 200, answer.text
    assert answer.json()["payment_status"] == "paid"
    assert state(stack, bought["order_id"]) == ("paid", "PRO")


def test_midtrans_paid_unknown_to_the_status_api_is_ignored(
    stack: LocalStack, shop: EdgeServer, midtrans_fake: MidtransFake, make_user: Any
) -> None:
    buyer = make_user("mt-unknown")
    bought = checkout(shop, buyer, "midtrans", "IDR")
    body: dict[str, Any] = {
        "order_id": bought["order_id"],
        "transaction_status": "settlement",
        "transaction_id": "txn-nobody",
        "status_code": "200",
        "gross_amount": f"{bought['amount_minor'] // 100}.00",
        "currency": "IDR",
        "fraud_status": "accept",
    }
    body["signature_key"] = signing.midtrans_signature(
        body["order_id"], "200", body["gross_amount"], "SB-Mid-server-forgery"
    )
    answer = deliver(shop, "midtrans", ({"Content-Type": "application/json"}, json.dumps(body).encode()))
    assert (answer.status_code, answer.json()["outcome"]) == (200, "ignored"), answer.text
    assert state(stack, bought["order_id"]) == ("pending", "FREE")


def test_midtrans_status_api_down_answers_503_so_midtrans_retries(
    stack: LocalStack, shop: EdgeServer, midtrans_fake: MidtransFake, make_user: Any
) -> None:
    buyer = make_user("mt-down")
    bought = checkout(shop, buyer, "midtrans", "IDR")
    settled = midtrans_fake.notification(bought["order_id"], "settlement")
    midtrans_fake.fail_next(500)
    answer = deliver(shop, "midtrans", settled)
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "provider_unavailable"
    assert state(stack, bought["order_id"]) == ("pending", "FREE")
    assert deliver(shop, "midtrans", settled).json()["outcome"] == "applied"  # the redelivery
