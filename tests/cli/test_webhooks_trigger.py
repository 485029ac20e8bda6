"""`thinbase webhooks trigger PROVIDER EVENT`: every event type each provider's normalizer maps, signed as
the provider signs it (cross-checked with the Stripe and Razorpay SDKs), sent for a fresh order of the local
trigger user or for an existing one, to one served edge app with every provider configured."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx
import pytest
import razorpay as razorpay_sdk  # type: ignore[import-untyped]  # the SDK ships no type information
import stripe as stripe_sdk

from tests.cli.conftest import Checkout, data, error, flat, run, superuser_sql
from tests.cli.test_payments_webhooks import PROVIDER_ENV, payment_status
from tests.conftest import EdgeServer, serve_edge
from thinbase.cli import simulate, trigger
from thinbase.db import Caller
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.errors import SimulationError
from thinbase.fakes.payments import MidtransFake
from thinbase.fakes.payments.base import RecordedRequest, Reply
from thinbase.functions.payments.providers import doku, lemonsqueezy, midtrans, razorpay, stripe
from thinbase.functions.payments.providers.descriptor import SampleEvent
from thinbase.functions.payments.providers.registry import PROVIDERS, build_providers
from thinbase.local.stack import LocalStack
from thinbase.settings import load_settings

EXPONENTS = {"USD": 2, "IDR": 2, "INR": 2}
CASES = [(name, event) for name, descriptor in PROVIDERS.items() for event in descriptor.sample_events]
CASE_IDS = [f"{name}-{event.name}" for name, event in CASES]


# -- the event lists -------------------------------------------------------------------------------------


def test_every_provider_lists_its_events_once_and_one_per_simulated_status() -> None:
    for name, descriptor in PROVIDERS.items():
        names = [event.name for event in descriptor.sample_events]
        assert len(names) == len(set(names)), name
        simulated = [event.payment_status for event in descriptor.sample_events if event.simulates]
        assert len(simulated) == len(set(simulated)), name
        assert set(simulated) <= set(simulate.STATUSES), name
        for event in descriptor.sample_events:
            if event.after is not None:  # what a fresh order gets first is itself listed, and pays it first
                chain = trigger.sequence(descriptor, event, fresh=True)
                assert [e.status for e in chain[:1]] == ["paid"], (name, event.name)
                assert all(e.after is None for e in chain[:1]), (name, event.name)


# Event types and statuses the providers document (reference/providers.md), whether we map them or not: each
# one our normalizer maps must be offered, and nothing else is.
DOCUMENTED_STRIPE = (
    "checkout.session.completed",
    "checkout.session.expired",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "charge.refunded",
    "charge.succeeded",
    "charge.dispute.created",
    "charge.dispute.closed",
    "charge.dispute.updated",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
)
DOCUMENTED_MIDTRANS = (
    "pending",
    "capture",
    "settlement",
    "deny",
    "cancel",
    "expire",
    "failure",
    "refund",
    "partial_refund",
    "chargeback",
    "partial_chargeback",
    "authorize",
)
DOCUMENTED_RAZORPAY = (
    "payment.authorized",
    "payment.captured",
    "payment.failed",
    "payment.refunded",
    "order.paid",
    "refund.created",
    "refund.processed",
    "refund.failed",
    "payment.dispute.created",
    "payment.dispute.won",
    "payment.dispute.lost",
    "payment.dispute.closed",
    "payment.dispute.under_review",
    "payment.dispute.action_required",
    "subscription.charged",
)
DOCUMENTED_LEMONSQUEEZY_ORDER = ("pending", "failed", "paid", "refunded", "partial_refund", "fraudulent")
# A Stripe dispute's and a Razorpay dispute's statuses (charge.dispute.closed, payment.dispute.closed).
DOCUMENTED_STRIPE_DISPUTE = (
    "warning_needs_response",
    "warning_under_review",
    "warning_closed",
    "needs_response",
    "under_review",
    "won",
    "lost",
)
DOCUMENTED_RAZORPAY_DISPUTE = ("open", "under_review", "won", "lost", "closed")


def offered(provider: str) -> set[tuple[str, str | None]]:
    return {(event.type, event.variant) for event in PROVIDERS[provider].sample_events}


def test_every_event_type_the_normalizers_map_is_offered() -> None:
    closed_disputes = {
        ("charge.dispute.closed", s)
        for s in DOCUMENTED_STRIPE_DISPUTE
        if stripe.normalize_status("charge.dispute.closed", {"status": s})
    }
    # A refund of a part is one more sample of charge.refunded (amount_refunded below the amount).
    assert {
        (t, None) for t in DOCUMENTED_STRIPE if stripe.normalize_status(t, {"payment_status": "paid"})
    } | {
        ("checkout.session.completed", "unpaid"),
        ("charge.refunded", "partial"),
    } | closed_disputes == offered("stripe")
    mapped_midtrans = {(t, None) for t in DOCUMENTED_MIDTRANS if midtrans.normalize_status(t, "accept")}
    capture_variants = {
        ("capture", f) for f in ("challenge", "deny") if midtrans.normalize_status("capture", f)
    }
    assert mapped_midtrans | capture_variants == offered("midtrans")
    assert {
        (s, None)
        for s in ("SUCCESS", "PENDING", "REDIRECT", "TIMEOUT", "FAILED", "EXPIRED", "REFUNDED")
        if doku.normalize_status(s)
    } == offered("doku")
    closed = {
        ("payment.dispute.closed", s)
        for s in DOCUMENTED_RAZORPAY_DISPUTE
        if razorpay.normalize_status("payment.dispute.closed", {"status": s})
    }
    assert {(t, None) for t in DOCUMENTED_RAZORPAY if razorpay.normalize_status(t)} | closed == offered(
        "razorpay"
    )
    order_created = {
        ("order_created", None if s == "paid" else s)
        for s in DOCUMENTED_LEMONSQUEEZY_ORDER
        if lemonsqueezy.normalize_status("order_created", s)
    }
    order_refunded = {("order_refunded", None), ("order_refunded", "partial_refund")}
    assert order_created | order_refunded == offered("lemonsqueezy")


def sample_order(provider: str, reference: str | None = "ref_trg_test") -> simulate.Order:
    currency = PROVIDERS[provider].sample_currency
    order = simulate.Order("TB-20261204-TRIGGERED01", 74900, currency, EXPONENTS[currency], reference)
    # The PaymentIntent Stripe would name for the session (what `simulate.locate` asks Stripe for).
    return replace(order, locate_reference="pi_test_known") if provider == "stripe" else order


@pytest.mark.parametrize(("provider", "event"), CASES, ids=CASE_IDS)
def test_each_event_verifies_and_parses_to_what_it_maps_to(provider: str, event: SampleEvent) -> None:
    settings = load_settings(env=PROVIDER_ENV[provider])
    order = sample_order(provider)
    webhook = simulate.build_event(provider, settings, order, event, f"http://edge.test/webhooks/{provider}")
    with httpx.Client() as http:
        checker = build_providers(settings, http)[provider]
        checker.verify_webhook(webhook.headers, webhook.body)
        parsed = checker.parse_webhook(webhook.headers, webhook.body, exponents=EXPONENTS)
    assert (parsed.event_type, parsed.status, parsed.currency) == (event.type, event.status, order.currency)
    if event.located:  # names the PaymentIntent Stripe knows for the order's session, which `locate` binds
        assert (parsed.order_id, parsed.provider_reference) == (None, None)
        assert parsed.locate_reference == order.locate_reference
    else:
        assert parsed.order_id == order.order_id or parsed.provider_reference == order.provider_reference
    assert parsed.amount_minor is not None
    if event.status == "paid" or event.payment_status == "refunded":
        assert parsed.amount_minor == order.amount_minor
    if event.payment_status == "partially_refunded":  # cumulative, a part of it
        assert 0 < parsed.amount_minor < order.amount_minor
    if provider == "stripe":  # Stripe's own SDK takes what we signed
        secret = PROVIDER_ENV["stripe"]["STRIPE_WEBHOOK_SECRET"]
        sdk_event = stripe_sdk.Webhook.construct_event(
            webhook.body.decode(), webhook.headers["Stripe-Signature"], secret
        )
        assert sdk_event.type == event.type
        assert sdk_event.id.startswith("evt_trg_")
    if provider == "razorpay":  # and Razorpay's
        sdk = razorpay_sdk.Client(auth=("key_id", "key_secret"))
        assert sdk.utility.verify_webhook_signature(
            webhook.body.decode(),
            webhook.headers["X-Razorpay-Signature"],
            PROVIDER_ENV["razorpay"]["RAZORPAY_WEBHOOK_SECRET"],
        )
        assert webhook.headers["X-Razorpay-Event-Id"].startswith("evt_trg")


def test_simulate_and_trigger_share_one_builder() -> None:
    """simulate --status S sends the event marked for S, with `sim` in its id instead of `trg`."""
    settings = load_settings(env=PROVIDER_ENV["stripe"])
    order = sample_order("stripe")
    simulated = json.loads(
        simulate.build("stripe", settings, order, "refunded", "http://x/webhooks/stripe").body
    )
    triggered = json.loads(
        simulate.build_event(
            "stripe", settings, order, PROVIDERS["stripe"].sample_event("charge.refunded"), "http://x"
        ).body
    )
    assert simulated["type"] == triggered["type"] == "charge.refunded"
    assert simulated["id"].startswith("evt_sim_")
    assert triggered["id"].startswith("evt_trg_")
    assert set(simulated["data"]["object"]) == set(triggered["data"]["object"])
    with pytest.raises(SimulationError, match="sends no webhook meaning expired"):
        simulate.build("razorpay", load_settings(env=PROVIDER_ENV["razorpay"]), order, "expired", "http://x")


def test_a_fresh_order_gets_what_its_event_needs_first() -> None:
    descriptor = PROVIDERS["midtrans"]
    chain = trigger.sequence(descriptor, descriptor.sample_event("partial_refund"), fresh=True)
    assert [e.name for e in chain] == ["settlement", "partial_refund"]
    assert trigger.sequence(descriptor, descriptor.sample_event("partial_refund"), fresh=False) == [
        descriptor.sample_event("partial_refund")
    ]


# -- against a served edge app ---------------------------------------------------------------------------


class ScriptedMidtrans(MidtransFake):
    """Midtrans whose status API knows every order of the local stack: it reports the next transaction
    status of `script`, which the test sets to what Midtrans would hold after the notifications it sends
    (the edge app applies Midtrans' paid, refund and chargeback only as its status API confirms them)."""

    def __init__(self, server_key: str, stack: LocalStack) -> None:
        super().__init__(server_key)
        self.stack = stack
        self.script: list[str] = []

    def handle(self, request: RecordedRequest) -> Reply:
        match = re.fullmatch(r"/v2/([^/]+)/status", request.path)
        if request.method == "GET" and match and self.script:
            rows = superuser_sql(
                self.stack, "select amount_minor from public.payments where order_id = %s", (match.group(1),)
            )
            if rows:
                amount = int(rows[0]["amount_minor"])
                status, fields = self.script.pop(0), {"gross_amount": f"{Decimal(amount).scaleb(-2):.2f}"}
                if status == "partial_refund":  # what the sample refunds: half of it, in all
                    fields["refund_amount"] = f"{Decimal(amount // 2).scaleb(-2):.2f}"
                self.set_status(match.group(1), status, **fields)
        return super().handle(request)


ALL_PROVIDERS = {key: value for env in PROVIDER_ENV.values() for key, value in env.items()}


@pytest.fixture(scope="module")
def midtrans_api(stack: LocalStack) -> Iterator[ScriptedMidtrans]:
    with ScriptedMidtrans(PROVIDER_ENV["midtrans"]["MIDTRANS_SERVER_KEY"], stack) as fake:
        yield fake


@pytest.fixture(scope="module")
def edge_app(stack: LocalStack, midtrans_api: ScriptedMidtrans) -> Iterator[EdgeServer]:
    """One edge app for the module, with every provider configured (Midtrans' status API: the fake)."""
    with serve_edge(stack, **ALL_PROVIDERS, MIDTRANS_BASE_URL=midtrans_api.url) as edge:
        yield edge


def trigger_run(edge: EdgeServer, *args: str) -> Any:
    return run("webhooks", "trigger", *args, "--url", edge.url, "--json", env=ALL_PROVIDERS)


@pytest.mark.parametrize(("provider", "event"), CASES, ids=CASE_IDS)
def test_trigger_for_a_fresh_order_reaches_what_the_event_maps_to(
    stack: LocalStack,
    edge_app: EdgeServer,
    midtrans_api: ScriptedMidtrans,
    provider: str,
    event: SampleEvent,
) -> None:
    descriptor = PROVIDERS[provider]
    if event.located:
        # A Stripe charge or dispute names a PaymentIntent, bound only by asking Stripe; a fresh order's
        # session is made up, so Stripe knows none: refused plainly before an order is made (paid on the
        # fake's page, an order's refund goes through: tests/fakes/test_payment_checkout.py).
        refused = error(trigger_run(edge_app, provider, event.name), 2)
        assert refused["message"].startswith(f"{event.name} cannot be sent for a fresh order")
        assert "--order" in refused["hint"]
        return
    chain = trigger.sequence(descriptor, event, fresh=True)
    confirm = {"paid", "refund", "dispute_lost"}  # what Midtrans' notifications cannot prove
    confirmed = provider == "midtrans" and event.status in confirm
    midtrans_api.script = [e.type for e in chain if e.status in confirm] if confirmed else []
    result = data(trigger_run(edge_app, provider, event.name))
    assert midtrans_api.script == []  # every paid and refund was confirmed through the status API
    assert (result["fresh_order"], result["event"]) == (True, event.name)
    assert [(s["event"], s["http_status"]) for s in result["sent"]] == [(e.name, 200) for e in chain]
    # A pending event on a pending payment changes nothing: the ledger records it as ignored.
    assert result["sent"][-1]["response"]["outcome"] == (
        "ignored" if event.status == "pending" else "applied"
    )
    assert result["payment_status"] == event.payment_status == payment_status(stack, result["order_id"])
    assert [(e["event_type"], e["status"]) for e in result["ledger"]] == [
        (e.type, "ignored" if e.status == "pending" else "processed") for e in chain
    ]
    if not confirmed:  # what was sent is what the ledger holds (Midtrans' confirmed ones: its status answer)
        assert [sent["event_key"] for sent in result["sent"]] == [e["event_key"] for e in result["ledger"]]
    if provider != "lemonsqueezy" and not confirmed:
        # Lemon Squeezy sends no event id, and Midtrans' confirmed events are keyed by its status answer.
        assert "trg" in result["ledger"][-1]["event_key"]
    (owner,) = superuser_sql(
        stack,
        "select u.email, p.plan_code, p.currency from public.payments as p join auth.users as u "
        "on u.id = p.user_id where p.order_id = %s",
        (result["order_id"],),
    )
    assert (owner["email"], owner["plan_code"], owner["currency"]) == (
        trigger.TRIGGER_EMAIL,
        "PRO",
        descriptor.sample_currency,
    )


def test_each_trigger_makes_a_new_order_and_closes_the_last_one(
    stack: LocalStack, edge_app: EdgeServer
) -> None:
    """create_payment would hand back the open payment of an earlier pending trigger: abandoned first."""
    first = data(trigger_run(edge_app, "stripe", "checkout.session.completed:unpaid"))
    second = data(trigger_run(edge_app, "stripe", "checkout.session.completed:unpaid"))
    assert first["order_id"] != second["order_id"]
    assert payment_status(stack, first["order_id"]) == "failed"
    assert payment_status(stack, second["order_id"]) == "pending"
    text = run(
        "webhooks",
        "trigger",
        "stripe",
        "checkout.session.completed",
        "--url",
        edge_app.url,
        env=ALL_PROVIDERS,
    )
    assert text.exit_code == 0, text.output
    assert "fresh order │ yes" in flat(text.stdout)
    assert "ledger: checkout.session.completed │ processed" in flat(text.stdout)


def test_trigger_for_an_existing_order(
    stack: LocalStack, db: PsycopgDatabase, checkout: Callable[..., Checkout], edge_app: EdgeServer
) -> None:
    """--order: about that payment (amount, currency and the Razorpay order its checkout stored); no event
    is sent first."""
    bought = checkout("razorpay", "INR")
    db.rpc(
        "attach_checkout",
        {"payment_id": bought.payment["id"], "provider_payment_id": f"order_{uuid.uuid4().hex[:14]}"},
        caller=Caller.service(),
    )
    paid = data(trigger_run(edge_app, "razorpay", "payment.captured", "--order", bought.order_id))
    assert (paid["fresh_order"], paid["order_id"], paid["payment_status"]) == (False, bought.order_id, "paid")
    refunded = data(trigger_run(edge_app, "razorpay", "refund.processed", "--order", bought.order_id))
    assert [s["event"] for s in refunded["sent"]] == ["refund.processed"]
    assert [(e["event_type"], e["status"]) for e in refunded["ledger"]] == [("refund.processed", "processed")]
    assert payment_status(stack, bought.order_id) == "refunded"
    # The state machine refuses a refund of a refunded payment as stale: recorded, not failed.
    again = data(trigger_run(edge_app, "razorpay", "refund.processed", "--order", bought.order_id))
    assert again["sent"][0]["response"]["outcome"] == "ignored"


def test_trigger_exits_1_when_the_app_refuses_or_records_a_failure(
    stack: LocalStack, checkout: Callable[..., Checkout], edge_app: EdgeServer
) -> None:
    bought = checkout("stripe", "EUR")  # the event names the payment's amount; another provider's order:
    wrong = run(
        "webhooks",
        "trigger",
        "doku",
        "SUCCESS",
        "--order",
        bought.order_id,
        "--url",
        edge_app.url,
        "--json",
        env=ALL_PROVIDERS,
    )
    assert wrong.exit_code == 1
    assert json.loads(wrong.stdout)["data"]["ledger"][0]["last_error"].startswith("provider_mismatch")
    other_secret = {**ALL_PROVIDERS, "STRIPE_WEBHOOK_SECRET": "whsec_another"}
    refused = run(
        "webhooks",
        "trigger",
        "stripe",
        "checkout.session.completed",
        "--url",
        edge_app.url,
        "--json",
        env=other_secret,
    )
    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["data"]["sent"][0]["http_status"] == 401
    gone = run(
        "webhooks",
        "trigger",
        "stripe",
        "checkout.session.completed",
        "--url",
        "http://127.0.0.1:9",
        env=ALL_PROVIDERS,
    )
    assert gone.exit_code == 1
    assert "could not reach the edge app" in flat(gone.stderr)
    assert payment_status(stack, bought.order_id) == "pending"


def test_trigger_refuses_unknown_events_orders_and_fresh_orders_off_the_local_stack(
    stack: LocalStack,
) -> None:
    unknown = error(run("webhooks", "trigger", "stripe", "payment_intent.succeeded", "--json"), 2)
    assert "stripe sends no event 'payment_intent.succeeded' that thinbase maps" in unknown["message"]
    assert "checkout.session.completed, checkout.session.completed:unpaid" in unknown["message"]
    missing = run("webhooks", "trigger", "stripe")
    assert missing.exit_code == 2
    assert "--list" in flat(missing.stderr)
    assert run("webhooks", "trigger", "paypal", "x").exit_code == 2
    # Without the signing secret nothing can be sent: refused before a fresh order is made.
    count = (
        "select count(*) as n from public.payments as p join auth.users as u on u.id = p.user_id "
        "where u.email = %s"
    )
    before = superuser_sql(stack, count, (trigger.TRIGGER_EMAIL,))
    unsigned = error(run("webhooks", "trigger", "midtrans", "settlement", "--json"), 2)
    assert unsigned["message"].startswith("MIDTRANS_SERVER_KEY not set")
    assert superuser_sql(stack, count, (trigger.TRIGGER_EMAIL,)) == before
    assert error(
        run(
            "webhooks",
            "trigger",
            "stripe",
            "charge.refunded",
            "--order",
            "TB-NOPE",
            "--json",
            env=PROVIDER_ENV["stripe"],
        ),
        3,
    )
    elsewhere = {"DATABASE_URL": "postgresql://postgres:x@127.0.0.1:1/postgres", **PROVIDER_ENV["stripe"]}
    fresh = error(
        run("webhooks", "trigger", "stripe", "charge.refunded", "--url", "http://x", "--json", env=elsewhere),
        2,
    )
    assert fresh["message"].startswith("--order is required off the local stack")
    no_url = run("webhooks", "trigger", "stripe", "charge.refunded", "--order", "TB-X", env=elsewhere)
    assert no_url.exit_code == 2
    assert "--url is required" in flat(no_url.stderr)


def test_trigger_lists_the_events() -> None:
    listed = data(run("webhooks", "trigger", "lemonsqueezy", "--list", "--json"))
    assert [(e["event"], e["maps_to"]) for e in listed][:2] == [
        ("order_created", "paid"),
        ("order_created:pending", "pending"),
    ]
    assert {
        "event": "order_refunded",
        "maps_to": "refund",
        "reaches": "refunded",
        "sent_first": "order_created",
        "needs_order": False,
        "simulate_status": True,
    } in listed
    assert {
        "event": "order_refunded:partial_refund",
        "maps_to": "refund",
        "reaches": "partially_refunded",
        "sent_first": "order_created",
        "needs_order": False,
        "simulate_status": False,
    } in listed
    table = run("webhooks", "trigger", "midtrans", "--list")
    assert table.exit_code == 0
    assert "capture:challenge" in table.stdout
    # Stripe's charge and dispute events are sent for an order paid at Stripe, never a fresh one.
    stripe_listed = {e["event"]: e for e in data(run("webhooks", "trigger", "stripe", "--list", "--json"))}
    assert stripe_listed["charge.dispute.closed:lost"] == {
        "event": "charge.dispute.closed:lost",
        "maps_to": "dispute_lost",
        "reaches": "charged_back",
        "sent_first": "charge.dispute.created",
        "needs_order": True,
        "simulate_status": False,
    }
    assert not stripe_listed["checkout.session.completed"]["needs_order"]
    stripe_table = run("webhooks", "trigger", "stripe", "--list")
    assert "needs --order" in flat(stripe_table.stdout)


def test_trigger_says_why_midtrans_paid_was_not_applied(
    stack: LocalStack, edge_app: EdgeServer, midtrans_api: ScriptedMidtrans
) -> None:
    """Midtrans' status API does not know the order: its paid notification is recorded as unconfirmed."""
    midtrans_api.script = []
    result = run("webhooks", "trigger", "midtrans", "settlement", "--url", edge_app.url, env=ALL_PROVIDERS)
    assert result.exit_code == 0, result.output
    assert '"outcome": "ignored"' in result.stdout
    assert "midtrans reports paid only as its status API confirms it" in flat(result.stderr)
    assert "MIDTRANS_BASE_URL" in flat(result.stderr)
