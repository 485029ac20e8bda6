"""The payment fakes' hosted checkout pages, end to end over real HTTP: a user starts a checkout at the
served edge app, opens the page the provider's fake handed out, presses Pay, Fail or Cancel as a browser
would (plain form POSTs, the 303 followed), and the fake's signed webhooks reach the app, which updates the
subscription in the local stack. The deliveries the fakes list at /_fake/deliveries are checked against
what the app answered, and the retry schedule is read off the wire through a relay."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.cli.conftest import data, error, run
from tests.conftest import EdgeServer, User, serve_edge
from tests.fakes.relay import Relay
from thinbase.fakes.payments import FAKES, SETTINGS, FakeProvider, LemonSqueezyFake, StripeFake, build_fake
from thinbase.fakes.payments.signing import stripe_header
from thinbase.functions.payments.providers.registry import PROVIDER_NAMES as REGISTERED
from thinbase.functions.payments.providers.registry import PROVIDERS
from thinbase.local.stack import LocalStack

SECRETS = {
    "STRIPE_SECRET_KEY": "sk_test_fakes",
    "STRIPE_WEBHOOK_SECRET": "whsec_fakes_secret",
    "MIDTRANS_SERVER_KEY": "SB-Mid-server-fakes",
    "DOKU_CLIENT_ID": "MCH-0001-fakes",
    "DOKU_SECRET_KEY": "SK-fakes-secret",
    "LEMONSQUEEZY_API_KEY": "ls_test_fakes",
    "LEMONSQUEEZY_STORE_ID": "42",
    "LEMONSQUEEZY_WEBHOOK_SECRET": "ls-fakes-signing-secret",
    "LEMONSQUEEZY_VARIANT_ID": "1",
    "RAZORPAY_KEY_ID": "rzp_test_fakes",
    "RAZORPAY_KEY_SECRET": "rzp_fakes_key_secret",
    "RAZORPAY_WEBHOOK_SECRET": "rzp_fakes_webhook_secret",
}
PROVIDER_NAMES = sorted(REGISTERED)
CURRENCY = {"stripe": "USD", "midtrans": "IDR", "doku": "IDR", "lemonsqueezy": "USD", "razorpay": "INR"}
# PRO's price as the page shows it, in major units.
SHOWN = {
    "stripe": "USD 9.00",
    "midtrans": "IDR 149,000",
    "doku": "IDR 149,000",
    "lemonsqueezy": "USD 9.00",
    "razorpay": "INR 749.00",
}
# What each provider sends, by the field that names the event, for a successful and a failed payment.
PAID_EVENTS = {
    "stripe": ["checkout.session.completed"],
    "midtrans": ["settlement"],
    "doku": ["SUCCESS"],
    "lemonsqueezy": ["order_created"],
    "razorpay": ["payment.captured", "order.paid"],
}
FAILED_EVENTS = {
    "stripe": ["checkout.session.completed", "checkout.session.async_payment_failed"],
    "midtrans": ["deny"],
    "doku": ["FAILED"],
    "lemonsqueezy": ["order_created"],
    "razorpay": ["payment.failed"],
}


@pytest.fixture(scope="module")
def landing() -> Iterator[Relay]:
    """The app's landing pages (return URLs), and the relay of the retry test."""
    with Relay() as relay:
        yield relay


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeProvider]]:
    with contextlib.ExitStack() as running:
        yield {name: running.enter_context(build_fake(name, SECRETS)) for name in PROVIDER_NAMES}


@pytest.fixture(scope="module")
def shop(stack: LocalStack, fakes: dict[str, FakeProvider], landing: Relay) -> Iterator[EdgeServer]:
    base_urls = {f"{name.upper()}_BASE_URL": fake.url for name, fake in fakes.items()}
    with serve_edge(
        stack,
        PAYMENT_PROVIDER="stripe",
        ALLOWED_RETURN_URLS=f"{landing.url}/done,{landing.url}/cancelled",
        **SECRETS,
        **base_urls,
    ) as edge:
        # The edge's port is known only now; a runner that picks ports first passes webhook_url instead.
        for name, fake in fakes.items():
            fake.webhook_url = f"{edge.url}/webhooks/{name}"
        landing.target = edge.url
        yield edge


def start_checkout(client: httpx.Client, shop: EdgeServer, user: User, provider: str) -> dict[str, Any]:
    response = client.post(
        f"{shop.url}/payments/checkout",
        json={"plan": "PRO", "provider": provider, "currency": CURRENCY[provider]},
        headers={"Authorization": f"Bearer {user.token}"},
    )
    assert response.status_code == 200, response.text
    checkout: dict[str, Any] = response.json()
    return checkout


def page_of(fake: FakeProvider, checkout: dict[str, Any]) -> str:
    if fake.name == "razorpay":  # Razorpay orders have no hosted page URL; the token is the order id
        assert checkout["redirect_url"] is None
        return fake.page_url(checkout["token"])
    url: str = checkout["redirect_url"]
    assert url.startswith(f"{fake.url}/checkout/")
    return url


def deliveries(fake: FakeProvider, after: int = 0) -> list[dict[str, Any]]:
    response = httpx.get(f"{fake.url}/_fake/deliveries", params={"after": str(after)})
    assert response.status_code == 200
    listed: list[dict[str, Any]] = response.json()["deliveries"]
    return listed


def last_seq(fake: FakeProvider) -> int:
    listed = deliveries(fake)
    return int(listed[-1]["seq"]) if listed else 0


def event_name(provider: str, body: str) -> str:
    data = json.loads(body)
    name = {
        "stripe": lambda: data["type"],
        "midtrans": lambda: data["transaction_status"],
        "doku": lambda: data["transaction"]["status"],
        "lemonsqueezy": lambda: data["meta"]["event_name"],
        "razorpay": lambda: data["event"],
    }[provider]()
    return str(name)


def payment(stack: LocalStack, payment_id: str) -> dict[str, Any]:
    with stack.superuser_connection() as conn:
        row = conn.execute(
            "select p.status, p.provider_payment_id, s.plan_code, s.funded_by_payment_id "
            "from public.payments p join public.subscriptions s on s.user_id = p.user_id where p.id = %s",
            (payment_id,),
        ).fetchone()
    assert row is not None
    return dict(row)


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
def test_pay_on_the_fake_checkout_page_activates_the_plan(
    provider: str,
    stack: LocalStack,
    shop: EdgeServer,
    fakes: dict[str, FakeProvider],
    landing: Relay,
    make_user: Callable[..., User],
) -> None:
    fake, user = fakes[provider], make_user("payer")
    before = last_seq(fake)
    with httpx.Client(timeout=30) as client:
        checkout = start_checkout(client, shop, user, provider)
        url = page_of(fake, checkout)
        page = client.get(url)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        for shown in (SHOWN[provider], checkout["order_id"], 'id="pay"', 'id="fail"', 'id="cancel"'):
            assert shown in page.text

        landed = client.post(url, data={"action": "pay"}, follow_redirects=True)
    assert [step.status_code for step in landed.history] == [303]
    assert landed.status_code == 200
    if provider == "razorpay":  # our Razorpay order carries no return URL
        assert str(landed.url).startswith(f"{fake.url}/_fake/return?order_id={checkout['order_id']}")
    else:
        assert str(landed.url).startswith(f"{landing.url}/done")
    if provider == "midtrans":  # Snap's finish redirect reports the result
        assert "transaction_status=settlement" in str(landed.url)

    # The first delivery happened before the 303: the plan is active when the browser lands.
    row = payment(stack, checkout["payment_id"])
    assert (row["status"], row["plan_code"]) == ("paid", "PRO")
    assert str(row["funded_by_payment_id"]) == checkout["payment_id"]
    sent = deliveries(fake, after=before)
    assert [event_name(provider, d["body"]) for d in sent] == PAID_EVENTS[provider]
    assert [d["seq"] for d in sent] == list(range(before + 1, before + 1 + len(sent)))
    for delivery in sent:
        assert delivery["provider"] == provider
        assert delivery["url"] == f"{shop.url}/webhooks/{provider}"
        assert delivery["attempts"] == [{"status": 200, "error": None}]
        assert delivery["delivered"] is True

    # The fake's status API agrees with its webhooks (reconciliation would find the same).
    reference = row["provider_payment_id"]
    if provider == "lemonsqueezy":  # looked up by its own order id, which only the webhook carries
        assert isinstance(fake, LemonSqueezyFake)
        reference = fake.ls_order_id(checkout["order_id"])
    with httpx.Client() as http:
        status = (
            PROVIDERS[provider]
            .build(shop.settings, http)
            .fetch_status(checkout["order_id"], reference, amount_exponent=2)
        )
    assert status is not None
    assert status.status == "paid"


def test_a_stripe_checkout_paid_on_the_page_is_refunded_through_trigger(
    stack: LocalStack, shop: EdgeServer, fakes: dict[str, FakeProvider], make_user: Callable[..., User]
) -> None:
    """Paid on the fake's page, the session has a PaymentIntent the fake knows: `webhooks trigger` asks for
    it, its refunds name it, and the edge app binds them through the fake's session search (`locate`). A
    refund of a part keeps the plan; the rest refunds all of it and ends the plan."""
    fake, user = fakes["stripe"], make_user("refunded")
    with httpx.Client(timeout=30) as client:
        checkout = start_checkout(client, shop, user, "stripe")
        assert client.post(page_of(fake, checkout), data={"action": "pay"}).status_code == 303
    assert (payment(stack, checkout["payment_id"])["plan_code"]) == "PRO"
    env = {**SECRETS, "STRIPE_BASE_URL": fake.url}
    args = ("webhooks", "trigger", "stripe", "--order", checkout["order_id"], "--url", shop.url, "--json")
    partial = data(run(*args[:3], "charge.refunded:partial", *args[3:], env=env))
    assert [(s["event"], s["maps_to"], s["response"]["outcome"]) for s in partial["sent"]] == [
        ("charge.refunded:partial", "refund", "applied")
    ]
    assert partial["payment_status"] == "partially_refunded"
    assert partial["ledger"][0]["status"] == "processed"
    row = payment(stack, checkout["payment_id"])
    assert (row["status"], row["plan_code"]) == ("partially_refunded", "PRO")
    full = data(run(*args[:3], "charge.refunded", *args[3:], env=env))
    assert full["payment_status"] == "refunded"
    assert payment(stack, checkout["payment_id"])["plan_code"] == "FREE"
    # An order whose session Stripe gave no PaymentIntent (never paid): said plainly, nothing sent.
    with httpx.Client(timeout=30) as client:
        unpaid = start_checkout(client, shop, make_user("unpaid"), "stripe")
    refused = error(run(*args[:3], "charge.refunded", "--order", unpaid["order_id"], *args[5:], env=env), 2)
    assert f"charge.refunded for {unpaid['order_id']} cannot be located" in refused["message"]
    assert payment(stack, unpaid["payment_id"])["status"] == "pending"


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
def test_cancel_sends_nothing_and_fail_sends_the_providers_failure(
    provider: str,
    stack: LocalStack,
    shop: EdgeServer,
    fakes: dict[str, FakeProvider],
    landing: Relay,
    make_user: Callable[..., User],
) -> None:
    fake, user = fakes[provider], make_user("decliner")
    before = last_seq(fake)
    with httpx.Client(timeout=30) as client:
        checkout = start_checkout(client, shop, user, provider)
        url = page_of(fake, checkout)

        cancelled = client.post(url, data={"action": "cancel"})
        assert cancelled.status_code == 303
        if provider == "razorpay":
            assert cancelled.headers["location"].startswith(f"{fake.url}/_fake/return?")
        elif provider in ("stripe", "doku"):  # the two that take a cancel URL
            assert cancelled.headers["location"] == f"{landing.url}/cancelled"
        else:
            assert cancelled.headers["location"] == f"{landing.url}/done"
        assert deliveries(fake, after=before) == []
        assert payment(stack, checkout["payment_id"])["status"] == "pending"
        assert 'id="pay"' in client.get(url).text  # the checkout stays open, as at the provider

        failed = client.post(url, data={"action": "fail"}, follow_redirects=True)
        assert (failed.history[0].status_code, failed.status_code) == (303, 200)
        row = payment(stack, checkout["payment_id"])
        assert (row["status"], row["plan_code"]) == ("failed", "FREE")
        sent = deliveries(fake, after=before)
        assert [event_name(provider, d["body"]) for d in sent] == FAILED_EVENTS[provider]
        assert all(d["attempts"] == [{"status": 200, "error": None}] for d in sent)

        closed = client.get(url)
        assert "This checkout is failed." in closed.text
        assert 'id="pay"' not in closed.text
        assert client.post(url, data={"action": "pay"}).status_code == 409
    assert len(deliveries(fake, after=before)) == len(sent)


def test_a_5xx_is_retried_on_schedule_until_the_app_takes_it(
    stack: LocalStack,
    shop: EdgeServer,
    fakes: dict[str, FakeProvider],
    landing: Relay,
    make_user: Callable[..., User],
) -> None:
    fake, user = fakes["stripe"], make_user("retried")
    before, hits = last_seq(fake), len(landing.hits)
    landing.answer(503, 503)  # then the relay passes the webhook on to the app
    fake.webhook_url = f"{landing.url}/webhooks/stripe"
    try:
        with httpx.Client(timeout=30) as client:
            checkout = start_checkout(client, shop, user, "stripe")
            paid = client.post(page_of(fake, checkout), data={"action": "pay"})
            assert paid.status_code == 303  # the browser goes on; the fake keeps trying
            assert payment(stack, checkout["payment_id"])["status"] == "pending"
            deadline = time.monotonic() + 10
            while not (sent := deliveries(fake, after=before)) or not sent[0]["delivered"]:
                assert time.monotonic() < deadline, sent
                time.sleep(0.1)
    finally:
        fake.webhook_url = f"{shop.url}/webhooks/stripe"

    assert [a["status"] for a in sent[0]["attempts"]] == [503, 503, 200]
    seen = landing.hits[hits:]
    assert [hit.status for hit in seen] == [503, 503, 200]
    first_wait, second_wait = seen[1].at - seen[0].at, seen[2].at - seen[1].at
    assert 0.45 <= first_wait < 0.95, first_wait  # 0.5 s, then
    assert 0.95 <= second_wait < 1.9, second_wait  # 1 s (then 2, 4, 8)
    row = payment(stack, checkout["payment_id"])
    assert (row["status"], row["plan_code"]) == ("paid", "PRO")


def test_a_4xx_is_final_and_stopping_a_fake_ends_its_retries(
    shop: EdgeServer, fakes: dict[str, FakeProvider]
) -> None:
    fake = fakes["stripe"]
    body = b'{"id": "evt_forged", "object": "event", "type": "checkout.session.completed"}'
    forged = {"Content-Type": "application/json", "Stripe-Signature": stripe_header("whsec_other", body)}
    refused = fake.deliver(forged, body)  # the real app refuses it: 401 invalid_signature
    assert [a.status for a in refused.attempts] == [401]
    assert not refused.delivered
    assert not refused.pending
    time.sleep(0.8)  # past the first retry's time: none comes
    listed = next(d for d in deliveries(fake) if d["seq"] == refused.seq)
    assert [a["status"] for a in listed["attempts"]] == [401]
    assert "invalid_signature" in listed["attempts"][0]["error"]
    assert (listed["delivered"], listed["body"]) == (False, body.decode())
    assert listed["headers"] == forged

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}/webhooks/stripe"
    alone = StripeFake(SECRETS["STRIPE_SECRET_KEY"], SECRETS["STRIPE_WEBHOOK_SECRET"], webhook_url=nowhere)
    alone.start()
    unreachable = alone.deliver(forged, body)
    assert unreachable.attempts[0].status is None
    assert unreachable.attempts[0].error
    assert unreachable.pending
    assert alone.deliverer.pending_retries() == 1
    started = time.monotonic()
    alone.stop()
    assert time.monotonic() - started < 1.0  # the waiting retry was woken and ended
    assert alone.deliverer.pending_retries() == 0
    assert len(unreachable.attempts) == 1


def test_the_page_escapes_what_it_shows_and_refuses_what_it_does_not_know() -> None:
    """No stack needed: a Stripe fake without webhook_url, driven through its own API."""
    hostile = '<script>alert("x")</script>'
    form = {
        "mode": "payment",
        "client_reference_id": hostile,
        "success_url": "https://app.example.test/done?session={CHECKOUT_SESSION_ID}",
        "line_items[0][price_data][currency]": "jpy",
        "line_items[0][price_data][unit_amount]": "1400",
        "line_items[0][price_data][product_data][name]": "Pro",
        "line_items[0][quantity]": "1",
    }
    auth = {"Authorization": "Bearer sk_test_page"}
    with StripeFake("sk_test_page", "whsec_page") as fake, httpx.Client(base_url=fake.url) as client:
        created = client.post("/v1/checkout/sessions", headers=auth, data=form)
        assert created.status_code == 200, created.text
        session = created.json()
        page = client.get(f"/checkout/{session['id']}")
        assert "<script>" not in page.text
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page.text
        assert "JPY 1,400" in page.text  # zero-decimal: no minor units shown

        assert client.get("/checkout/cs_test_unknown").status_code == 404
        assert client.post(f"/checkout/{session['id']}", data={"action": "refund"}).status_code == 400
        assert client.get("/_fake/deliveries", params={"after": "x"}).status_code == 400

        paid = client.post(f"/checkout/{session['id']}", data={"action": "pay"})
        assert paid.status_code == 303
        assert paid.headers["location"] == f"https://app.example.test/done?session={session['id']}"
        assert client.get("/_fake/deliveries").json() == {"deliveries": []}  # no webhook_url: none sent
        assert fake.sessions[session["id"]]["payment_status"] == "paid"
        assert len(fake.requests) == 1  # the page's requests are not API calls
        with pytest.raises(ValueError, match="no webhook_url"):
            fake.deliver({}, b"{}")

        # What the buttons do, by our order id: the latest checkout of the order.
        again = client.post("/v1/checkout/sessions", headers=auth, data=form)
        assert again.status_code == 200
        assert fake.complete_order(hostile, "fail") == []
        assert fake.sessions[again.json()["id"]]["payment_status"] == "unpaid"
        assert "This checkout is failed." in client.get(f"/checkout/{again.json()['id']}").text
        with pytest.raises(ValueError, match="already failed"):
            fake.complete_order(hostile, "pay")
        with pytest.raises(KeyError):
            fake.complete_order("TB-unknown")


def test_there_is_a_fake_for_every_provider_built_from_its_settings() -> None:
    assert sorted(FAKES) == sorted(SETTINGS) == PROVIDER_NAMES
    assert {name: PROVIDERS[name].required_settings for name in PROVIDER_NAMES} == SETTINGS
    for name in PROVIDER_NAMES:
        assert isinstance(build_fake(name, SECRETS, webhook_url="http://127.0.0.1:9/x"), FAKES[name])
    with pytest.raises(ValueError, match="the razorpay fake needs RAZORPAY_WEBHOOK_SECRET"):
        build_fake("razorpay", {**SECRETS, "RAZORPAY_WEBHOOK_SECRET": " "})
    with pytest.raises(ValueError, match="no payment fake for 'paypal'"):
        build_fake("paypal", SECRETS)
    lemon = build_fake("lemonsqueezy", {**SECRETS, "LEMONSQUEEZY_VARIANT_PRO": "77"})
    assert isinstance(lemon, LemonSqueezyFake)
    assert lemon.variants == {"1", "77"}
