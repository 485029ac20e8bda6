"""End to end over real HTTP against the local stack: a user signed up with `thinbase local user create`
starts a checkout at a provider (a local fake of its documented API), the provider sends signed
webhooks, and the subscription follows — duplicates change nothing, refunds and late events behave as
"Core schema I" says, and the audit log shows it all."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from typer.testing import CliRunner

from tests.conftest import EdgeServer, serve_edge
from thinbase import tokens
from thinbase.cli.main import app as cli
from thinbase.fakes.payments import MidtransFake, StripeFake
from thinbase.local.stack import LocalStack

RETURN_URL = "https://app.example.test/billing/done"
STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET = "sk_test_e2e", "whsec_e2e_secret"
MIDTRANS_SERVER_KEY = "SB-Mid-server-e2e"


@pytest.fixture(scope="module")
def stripe_fake() -> Iterator[StripeFake]:
    # It answers the session search Stripe's `locate` asks: a refund (a charge event) is bound through it.
    with StripeFake(secret_key=STRIPE_SECRET_KEY, webhook_secret=STRIPE_WEBHOOK_SECRET) as fake:
        yield fake


@pytest.fixture(scope="module")
def midtrans_fake() -> Iterator[MidtransFake]:
    with MidtransFake(server_key=MIDTRANS_SERVER_KEY) as fake:
        yield fake


def shop_env(stripe_fake: StripeFake, midtrans_fake: MidtransFake) -> dict[str, str]:
    """The shop's settings (also used by tests/test_pooled.py, which serves it through PgBouncer)."""
    return {
        "PAYMENT_PROVIDER": "stripe",
        "ALLOWED_RETURN_URLS": RETURN_URL,
        "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
        "STRIPE_BASE_URL": stripe_fake.url,
        "MIDTRANS_SERVER_KEY": MIDTRANS_SERVER_KEY,
        "MIDTRANS_BASE_URL": midtrans_fake.url,
    }


@pytest.fixture(scope="module")
def shop(stack: LocalStack, stripe_fake: StripeFake, midtrans_fake: MidtransFake) -> Iterator[EdgeServer]:
    with serve_edge(stack, **shop_env(stripe_fake, midtrans_fake)) as server:
        yield server


def signup() -> dict[str, Any]:
    result = CliRunner().invoke(
        cli, ["local", "user", "create", f"buyer-{uuid.uuid4().hex[:8]}@example.test", "--json"]
    )
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)["data"]
    return data


def subscription(stack: LocalStack, user_id: str) -> dict[str, Any]:
    with stack.superuser_connection() as conn:
        row = conn.execute(
            "select plan_code, status, current_period_start, current_period_end, funded_by_payment_id "
            "from public.subscriptions where user_id = %s",
            (user_id,),
        ).fetchone()
    assert row is not None
    return row


def post_webhook(client: httpx.Client, provider: str, signed: tuple[dict[str, str], bytes]) -> httpx.Response:
    headers, body = signed
    return client.post(f"/webhooks/{provider}", content=body, headers=headers)


def test_stripe_checkout_to_active_subscription_and_back(
    stack: LocalStack, shop: EdgeServer, stripe_fake: StripeFake
) -> None:
    user = signup()
    auth = {"Authorization": f"Bearer {user['access_token']}"}
    with httpx.Client(base_url=shop.url, timeout=30) as client:
        assert client.post("/payments/checkout", json={"plan": "PRO"}).status_code == 401

        first = client.post("/payments/checkout", json={"plan": "PRO", "currency": "USD"}, headers=auth)
        assert first.status_code == 200, first.text
        checkout = first.json()
        assert checkout["provider"] == "stripe"
        assert (checkout["amount_minor"], checkout["currency"]) == (900, "USD")
        assert checkout["redirect_url"]
        sessions_before = len(stripe_fake.sessions)
        again = client.post("/payments/checkout", json={"plan": "PRO", "currency": "USD"}, headers=auth)
        assert again.json()["payment_id"] == checkout["payment_id"]
        assert len(stripe_fake.sessions) == sessions_before  # the same open checkout, no second session

        order_id = checkout["order_id"]
        stripe_fake.set_status(order_id, "complete")
        paid = stripe_fake.event("checkout.session.completed", order_id)
        answer = post_webhook(client, "stripe", paid)
        assert answer.status_code == 200, answer.text
        assert answer.json()["outcome"] == "applied"
        active = subscription(stack, user["id"])
        assert (active["plan_code"], active["status"]) == ("PRO", "active")
        assert str(active["funded_by_payment_id"]) == checkout["payment_id"]

        for _ in range(3):  # at-least-once delivery: the same event again changes nothing
            duplicate = post_webhook(client, "stripe", paid)
            assert (duplicate.status_code, duplicate.json()["outcome"]) == (200, "duplicate")
        assert subscription(stack, user["id"]) == active

        tampered_headers, tampered_body = paid
        forged = client.post(
            "/webhooks/stripe", content=tampered_body.replace(b'"paid"', b'"PAID"'), headers=tampered_headers
        )
        assert forged.status_code == 401
        assert forged.json()["error"]["code"] == "invalid_signature"

        stripe_fake.set_status(order_id, "complete", refunded=True)
        refund = post_webhook(client, "stripe", stripe_fake.event("charge.refunded", order_id))
        assert (refund.status_code, refund.json()["outcome"]) == (200, "applied")
        assert refund.json()["payment_status"] == "refunded"
        back = subscription(stack, user["id"])
        assert (back["plan_code"], back["status"], back["current_period_end"]) == ("FREE", "active", None)

        unknown = post_webhook(client, "stripe", stripe_fake.event("customer.created", order_id))
        assert (unknown.status_code, unknown.json()["outcome"]) == (200, "ignored")

    with stack.superuser_connection() as conn:
        actions = [
            row["action"]
            for row in conn.execute(
                "select action from private.audit_logs where entity_id in (%s, %s) order by id",
                (user["id"], checkout["payment_id"]),
            )
        ]
    assert "payments.insert" in actions
    assert actions.count("subscriptions.update") == 2  # activated once, reverted once
    assert actions.index("payments.insert") < actions.index("subscriptions.update")


def test_midtrans_late_pending_after_settlement_is_ignored(
    stack: LocalStack, shop: EdgeServer, midtrans_fake: MidtransFake
) -> None:
    user = signup()
    auth = {"Authorization": f"Bearer {user['access_token']}"}
    with httpx.Client(base_url=shop.url, timeout=30) as client:
        created = client.post(
            "/payments/checkout",
            json={"plan": "PRO", "provider": "midtrans", "currency": "IDR"},
            headers=auth,
        )
        assert created.status_code == 200, created.text
        checkout = created.json()
        assert checkout["token"]
        order_id = checkout["order_id"]
        settled = post_webhook(client, "midtrans", midtrans_fake.notification(order_id, "settlement"))
        assert (settled.status_code, settled.json()["outcome"]) == (200, "applied")
        late = post_webhook(client, "midtrans", midtrans_fake.notification(order_id, "pending"))
        assert late.status_code == 200
        assert (late.json()["outcome"], late.json()["payment_status"]) == ("ignored", "paid")
    assert subscription(stack, user["id"])["plan_code"] == "PRO"
    with stack.superuser_connection() as conn:
        ledger = conn.execute(
            "select status, last_error from private.webhook_events where order_id = %s order by received_at",
            (order_id,),
        ).fetchall()
    assert [row["status"] for row in ledger] == ["processed", "ignored"]
    assert "stale_or_repeated" in ledger[1]["last_error"]


def test_provider_failure_leaves_the_payment_pending_and_retryable(
    stack: LocalStack, shop: EdgeServer, stripe_fake: StripeFake
) -> None:
    user = signup()
    auth = {"Authorization": f"Bearer {user['access_token']}"}
    with httpx.Client(base_url=shop.url, timeout=30) as client:
        stripe_fake.fail_next(500)
        failed = client.post(
            "/payments/checkout", json={"plan": "PRO_YEARLY", "currency": "EUR"}, headers=auth
        )
        assert failed.status_code == 502
        assert failed.json()["error"]["code"] == "provider_error"
        retried = client.post(
            "/payments/checkout", json={"plan": "PRO_YEARLY", "currency": "EUR"}, headers=auth
        )
        assert retried.status_code == 200, retried.text
        assert retried.json()["redirect_url"]
    with stack.superuser_connection() as conn:
        rows = conn.execute("select status from public.payments where user_id = %s", (user["id"],)).fetchall()
    assert [row["status"] for row in rows] == ["pending"]


def test_a_midtrans_order_taken_by_a_lost_answer_is_abandoned_and_a_new_order_started(
    stack: LocalStack, shop: EdgeServer, midtrans_fake: MidtransFake
) -> None:
    """Midtrans accepts an order id once. When its answer to a checkout is lost (a timeout after it created
    the transaction), a retry for that order is refused as "already taken"; the payment is abandoned and
    the retry starts a new order instead of failing until the payment expires."""
    user = signup()
    auth = {"Authorization": f"Bearer {user['access_token']}"}
    body = {"plan": "PRO", "provider": "midtrans", "currency": "IDR"}
    with httpx.Client(base_url=shop.url, timeout=30) as client:
        midtrans_fake.fail_next(504)
        assert client.post("/payments/checkout", json=body, headers=auth).status_code == 502
        with stack.superuser_connection() as conn:
            lost = conn.execute(
                "select order_id from public.payments where user_id = %s", (user["id"],)
            ).fetchone()
        assert lost is not None
        midtrans_fake.orders[lost["order_id"]] = {"lost": True}  # Midtrans did create it; the answer was lost
        retried = client.post("/payments/checkout", json=body, headers=auth)
        assert retried.status_code == 200, retried.text
        assert retried.json()["token"]
        assert retried.json()["order_id"] != lost["order_id"]
        again = client.post("/payments/checkout", json=body, headers=auth)
        assert again.json()["order_id"] == retried.json()["order_id"]  # the new order's checkout is reused
    with stack.superuser_connection() as conn:
        rows = conn.execute(
            "select order_id, status, metadata ->> 'abandoned' as abandoned from public.payments "
            "where user_id = %s order by created_at",
            (user["id"],),
        ).fetchall()
    assert [(r["status"], r["abandoned"]) for r in rows] == [
        ("failed", "provider_duplicate_order"),
        ("pending", None),
    ]


def test_a_disabled_provider_names_the_settings_it_lacks(shop: EdgeServer) -> None:
    user = signup()
    response = httpx.post(
        f"{shop.url}/payments/checkout",
        json={"plan": "PRO", "provider": "razorpay"},
        headers={"Authorization": f"Bearer {user['access_token']}"},
    )
    assert response.json()["error"] == {
        "code": "provider_disabled",
        "message": "Payment provider razorpay is not configured here: set RAZORPAY_KEY_ID, "
        "RAZORPAY_KEY_SECRET, RAZORPAY_WEBHOOK_SECRET.",
    }


def test_a_provider_that_refuses_the_connection_is_unreachable_not_slow(stack: LocalStack) -> None:
    """A refused connection used to be reported as provider_timeout; the base URL in use is the setting to
    check, so it is named."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{closed.getsockname()[1]}"
    with serve_edge(
        stack,
        PAYMENT_PROVIDER="stripe",
        ALLOWED_RETURN_URLS=RETURN_URL,
        STRIPE_SECRET_KEY="sk_test_e2e",
        STRIPE_WEBHOOK_SECRET="whsec_e2e_secret",
        STRIPE_BASE_URL=base,
    ) as edge:
        user = signup()
        response = httpx.post(
            f"{edge.url}/payments/checkout",
            json={"plan": "PRO", "currency": "USD"},
            headers={"Authorization": f"Bearer {user['access_token']}"},
            timeout=30,
        )
    assert response.status_code == 502
    assert response.json()["error"] == {
        "code": "provider_unreachable",
        "message": f"stripe could not be reached at {base}; try again.",
    }


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"plan": "NOPE"}, 400, "unknown_plan"),
        ({"plan": "PRO", "provider": "paypal"}, 400, "unknown_provider"),
        ({"plan": "PRO", "provider": "razorpay"}, 400, "provider_disabled"),
        ({"plan": "PRO", "currency": "KWD"}, 400, "currency_not_available"),
        ({"plan": "PRO", "return_url": "https://evil.example/"}, 400, "invalid_return_url"),
        ({"currency": "USD"}, 400, "invalid_plan"),
    ],
)
def test_checkout_rejects_bad_requests_with_clear_codes(
    shop: EdgeServer, body: dict[str, Any], status: int, code: str
) -> None:
    user = signup()
    response = httpx.post(
        f"{shop.url}/payments/checkout",
        json=body,
        headers={"Authorization": f"Bearer {user['access_token']}"},
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "raw",
    [
        # JSON escapes of text PostgreSQL cannot store (NUL) or that is not Unicode (an unpaired surrogate),
        # in the fields create_payment receives: refused when the body is read, before the database.
        rb'{"plan": "PRO\u0000"}',
        rb'{"plan": "\ud800"}',
        rb'{"plan": "PRO", "currency": "US\u0000"}',
        rb'{"plan": "PRO", "currency": "\udc00SD"}',
        rb'{"plan": "PRO", "provider": "stripe\u0000"}',
    ],
    ids=["nul-plan", "surrogate-plan", "nul-currency", "surrogate-currency", "nul-provider"],
)
def test_checkout_refuses_text_the_database_cannot_store(shop: EdgeServer, raw: bytes) -> None:
    user = signup()
    response = httpx.post(
        f"{shop.url}/payments/checkout",
        content=raw,
        headers={"Authorization": f"Bearer {user['access_token']}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_json"


def test_a_deleted_users_token_cannot_start_a_checkout(stack: LocalStack, shop: EdgeServer) -> None:
    # The access token stays valid until it expires, but its account is gone: the payment's foreign key
    # to auth.users fails. That is the caller's identity failing (401), not a server error.
    user = signup()
    with stack.superuser_connection() as conn:
        conn.execute("delete from auth.users where id = %s", (user["id"],))
    response = httpx.post(
        f"{shop.url}/payments/checkout",
        json={"plan": "PRO"},
        headers={"Authorization": f"Bearer {user['access_token']}"},
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "subject",
    [
        "urn:uuid:{id}",
        "{{{id}}}",
        "{hex}",
        "{upper}",
    ],
    ids=["urn", "braces", "no-hyphens", "upper-case"],
)
def test_a_token_whose_subject_is_not_a_canonical_user_id_is_refused(
    stack: LocalStack, shop: EdgeServer, subject: str
) -> None:
    # uuid.UUID() reads all of these, PostgreSQL's uuid input only some, and text comparisons (storage
    # paths, `auth.uid()::text`) none: Supabase Auth writes `sub` as the canonical lower-case form only.
    user = signup()
    user_id = uuid.UUID(user["id"])
    sub = subject.format(id=user_id, hex=user_id.hex, upper=str(user_id).upper())
    claims = {**jwt.decode(user["access_token"], options={"verify_signature": False}), "sub": sub}
    token = tokens.sign(claims, stack.state().jwt_secret)
    response = httpx.post(
        f"{shop.url}/payments/checkout", json={"plan": "PRO"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthorized"
