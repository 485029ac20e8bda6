"""`thinbase payments …` and `webhooks …` against the local stack, with the provider fakes and a real edge
app where the command talks to one."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.cli.conftest import Checkout, apply_event, data, error, flat, run, superuser_sql
from tests.conftest import serve_edge
from tests.providers.support import checkout_request
from thinbase.cli import simulate
from thinbase.db import Caller
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.errors import SimulationError
from thinbase.fakes.payments import MidtransFake, StripeFake
from thinbase.functions.payments.providers.registry import build_providers
from thinbase.local.stack import LocalStack
from thinbase.settings import load_settings

EXPONENTS = {"USD": 2, "IDR": 2, "INR": 2, "JPY": 0, "KWD": 3, "EUR": 2}


def payment_status(stack: LocalStack, order_id: str) -> str:
    return str(
        superuser_sql(stack, "select status from public.payments where order_id = %s", (order_id,))[0][
            "status"
        ]
    )


# -- payments list / show ----------------------------------------------------------------------------------


def test_payments_list_and_show(
    stack: LocalStack, db: PsycopgDatabase, checkout: Callable[..., Checkout]
) -> None:
    bought = checkout("stripe", "USD")
    apply_event(db, bought, status="paid")
    listed = data(run("payments", "list", "--user", bought.user.email, "--json"))
    assert [(p["order_id"], p["status"]) for p in listed] == [(bought.order_id, "paid")]
    assert data(run("payments", "list", "--order", bought.order_id, "--status", "pending", "--json")) == []
    assert (
        len(data(run("payments", "list", "--since", "1h", "--provider", "stripe", "--limit", "5", "--json")))
        <= 5
    )

    by_order = data(run("payments", "show", bought.order_id, "--json"))
    by_id = data(run("payments", "show", str(bought.payment["id"]), "--json"))
    assert by_order["payment"]["id"] == by_id["payment"]["id"] == bought.payment["id"]
    assert by_order["payment"]["user_email"] == bought.user.email
    assert [(e["status"], e["event_type"]) for e in by_order["webhook_events"]] == [
        ("processed", "test.event")
    ]
    assert "payload" not in by_order["webhook_events"][0]
    trail = [(a["action"], (a["after"] or {}).get("status")) for a in by_order["audit"]]
    assert trail == [("payments.insert", "pending"), ("payments.update", "paid")]
    table = run("payments", "show", bought.order_id)
    assert table.exit_code == 0
    assert "status: pending → paid" in flat(table.stdout)
    assert "9.00 USD" in flat(table.stdout)


def test_payments_show_and_webhooks_replay_take_a_unique_prefix(
    stack: LocalStack, db: PsycopgDatabase, checkout: Callable[..., Checkout]
) -> None:
    """Like git with commits: any unique prefix of an id (or of an order id) names it; a prefix two share
    is refused naming both (exit 2); one nothing starts is not found (exit 3)."""
    bought = checkout("stripe", "USD")
    shown = data(run("payments", "show", str(bought.payment["id"])[:8], "--json"))
    assert shown["payment"]["order_id"] == bought.order_id
    by_order = data(run("payments", "show", bought.order_id[:-3], "--json"))
    assert by_order["payment"]["id"] == str(bought.payment["id"])
    shared = bought.order_id[:5]  # "TB-20…": every order of the day starts so
    assert error(run("payments", "show", shared, "--json"), 2)["message"].startswith(
        f"{shared!r} starts more than one"
    )
    assert error(run("payments", "show", "ffffffff-ffff", "--json"), 3)
    failed = apply_event(db, bought, status="paid", amount_minor=1, payload={"id": "evt_prefix"})
    superuser_sql(
        stack, "update public.payments set amount_minor = 1 where order_id = %s", (bought.order_id,)
    )
    replayed = data(run("webhooks", "replay", failed["event_id"][:10], "--json"))
    assert [(r["id"], r["outcome"]) for r in replayed] == [(failed["event_id"], "applied")]
    assert data(run("webhooks", "show", failed["event_id"][:10], "--json"))["id"] == failed["event_id"]
    assert run("webhooks", "replay", "ffffffff-ffff").exit_code == 3


def test_payments_show_and_list_refuse_unknowns(stack: LocalStack) -> None:
    unknown = error(run("payments", "show", "TB-NOPE-123", "--json"), 3)
    assert "no payment starts with 'TB-NOPE-123'" in unknown["message"]
    assert run("payments", "list", "--since", "yesterday-ish").exit_code == 2
    assert run("payments", "list", "--status", "lost").exit_code == 2
    assert error(run("payments", "list", "--user", "nobody@example.invalid", "--json"), 3)


# -- payments reconcile ------------------------------------------------------------------------------------


@pytest.fixture
def midtrans() -> Any:
    with MidtransFake(server_key="SB-Mid-server-cli") as fake:
        yield fake


def midtrans_env(fake: MidtransFake) -> dict[str, str]:
    return {"MIDTRANS_SERVER_KEY": fake.server_key, "MIDTRANS_BASE_URL": fake.url}


def test_reconcile_applies_what_the_provider_reports(
    stack: LocalStack, checkout: Callable[..., Checkout], midtrans: MidtransFake
) -> None:
    paid = checkout("midtrans", "IDR")
    midtrans.set_status(paid.order_id, "settlement", gross_amount="149000.00")
    dry = data(
        run(
            "payments",
            "reconcile",
            "--order",
            paid.order_id,
            "--dry-run",
            "--json",
            env=midtrans_env(midtrans),
        )
    )
    assert dry["payments"][0]["outcome"] == "would_apply"
    assert payment_status(stack, paid.order_id) == "pending"

    done = data(run("payments", "reconcile", "--order", paid.order_id, "--json", env=midtrans_env(midtrans)))
    (item,) = done["payments"]
    assert (item["provider_status"], item["outcome"], item["payment_status"]) == ("paid", "applied", "paid")
    assert payment_status(stack, paid.order_id) == "paid"
    # Through the ledger, like a webhook: the next notification of the same state is a duplicate.
    events = data(run("webhooks", "list", "--order", paid.order_id, "--json"))
    assert [(e["provider"], e["status"]) for e in events] == [("midtrans", "processed")]
    again = data(run("payments", "reconcile", "--order", paid.order_id, "--json", env=midtrans_env(midtrans)))
    assert again["payments"][0]["outcome"] == "unchanged"


def test_reconcile_batch_skips_young_payments_and_unconfigured_providers(
    stack: LocalStack, checkout: Callable[..., Checkout], midtrans: MidtransFake
) -> None:
    young = checkout("midtrans", "IDR")
    midtrans.set_status(young.order_id, "settlement", gross_amount="149000.00")
    result = data(
        run(
            "payments",
            "reconcile",
            "--older-than",
            "1h",
            "--provider",
            "midtrans",
            "--json",
            env=midtrans_env(midtrans),
        )
    )
    assert young.order_id not in [p["order_id"] for p in result["payments"]]
    assert payment_status(stack, young.order_id) == "pending"
    unconfigured = data(run("payments", "reconcile", "--order", young.order_id, "--json"))
    assert unconfigured["payments"][0]["outcome"] == "skipped"
    assert run("payments", "reconcile", "--older-than", "soon").exit_code == 2


def test_reconcile_says_why_a_provider_had_no_news(
    stack: LocalStack, checkout: Callable[..., Checkout], midtrans: MidtransFake
) -> None:
    """Midtrans' status API answers 404 until a payment method was chosen: reported, not an empty error."""
    bought = checkout("midtrans", "IDR")
    result = run("payments", "reconcile", "--order", bought.order_id, "--json", env=midtrans_env(midtrans))
    (item,) = envelope_data(result)["payments"]
    assert item["outcome"] == "no_news"
    assert "midtrans has no record of this payment" in item["error"]


def test_reconcile_reports_provider_errors(
    stack: LocalStack, checkout: Callable[..., Checkout], midtrans: MidtransFake
) -> None:
    bought = checkout("midtrans", "IDR")
    midtrans.fail_next(500)
    result = run("payments", "reconcile", "--order", bought.order_id, "--json", env=midtrans_env(midtrans))
    assert result.exit_code == 1
    (item,) = envelope_data(result)["payments"]
    assert item["outcome"] == "error"
    assert "500" in item["error"]
    assert payment_status(stack, bought.order_id) == "pending"


def test_reconcile_fails_when_the_state_machine_refuses_what_the_provider_reports(
    stack: LocalStack, checkout: Callable[..., Checkout], midtrans: MidtransFake
) -> None:
    short = checkout("midtrans", "IDR")
    midtrans.set_status(short.order_id, "settlement", gross_amount="1000.00")  # not the 149,000 asked for
    result = run("payments", "reconcile", "--order", short.order_id, "--json", env=midtrans_env(midtrans))
    assert result.exit_code == 1
    parsed = json.loads(result.stdout)
    assert parsed["ok"] is False
    assert parsed["error"]["code"] == "failure"
    (item,) = parsed["data"]["payments"]
    assert item["outcome"] == "failed"
    assert payment_status(stack, short.order_id) == "pending"


def envelope_data(result: Any) -> Any:
    import json

    return json.loads(result.stdout)["data"]


# -- webhooks list / show / replay -------------------------------------------------------------------------


def test_webhooks_list_show_and_replay(
    stack: LocalStack, db: PsycopgDatabase, checkout: Callable[..., Checkout]
) -> None:
    bought = checkout("stripe", "USD")
    failed = apply_event(db, bought, status="paid", amount_minor=800, payload={"id": "evt_short"})
    assert failed["outcome"] == "failed"
    listed = data(run("webhooks", "list", "--order", bought.order_id, "--status", "failed", "--json"))
    assert [e["id"] for e in listed] == [failed["event_id"]]
    shown = data(run("webhooks", "show", failed["event_id"], "--json"))
    assert shown["payload"] == {"id": "evt_short"}
    assert shown["normalized"]["amount_minor"] == 800
    assert shown["normalized"]["status"] == "paid"
    assert "amount_mismatch" in shown["last_error"]
    table = run("webhooks", "show", failed["event_id"])
    assert table.exit_code == 0
    assert "evt_short" in table.stdout

    # Replaying without fixing the cause fails the same way: the state machine decides, and the exit code
    # says so (it used to be 0).
    refused = run("webhooks", "replay", failed["event_id"], "--json")
    assert refused.exit_code == 1
    again = envelope_data(refused)
    assert [(r["outcome"], r["previous_status"], r["payment_status"]) for r in again] == [
        ("failed", "failed", "pending")
    ]
    assert run("webhooks", "replay", failed["event_id"]).exit_code == 1
    # The operator corrects the payment (here: the amount the provider really charged) and replays.
    superuser_sql(
        stack, "update public.payments set amount_minor = 800 where order_id = %s", (bought.order_id,)
    )
    replayed = data(run("webhooks", "replay", failed["event_id"], "--json"))
    assert [(r["outcome"], r["payment_status"]) for r in replayed] == [("applied", "paid")]
    assert payment_status(stack, bought.order_id) == "paid"
    assert data(run("webhooks", "show", failed["event_id"], "--json"))["attempts"] == 4


def test_webhooks_replay_and_show_refuse(
    stack: LocalStack, db: PsycopgDatabase, checkout: Callable[..., Checkout]
) -> None:
    bought = checkout("stripe", "USD")
    processed = apply_event(db, bought, status="paid")
    result = run("webhooks", "replay", processed["event_id"], "--json")
    assert result.exit_code == 1
    (item,) = envelope_data(result)
    assert item["outcome"] == "error"
    assert item["error"].startswith("not_replayable")
    unknown = str(uuid.uuid4())
    assert run("webhooks", "replay", unknown).exit_code == 3
    assert run("webhooks", "replay", "not-a-uuid").exit_code == 2
    assert error(run("webhooks", "show", unknown, "--json"), 3)
    assert run("webhooks", "show", "42").exit_code == 2
    assert run("webhooks", "list", "--status", "lost").exit_code == 2


# -- webhooks simulate -------------------------------------------------------------------------------------

PROVIDER_ENV = {
    "stripe": {"STRIPE_SECRET_KEY": "sk_test_cli", "STRIPE_WEBHOOK_SECRET": "whsec_cli_secret"},
    "midtrans": {"MIDTRANS_SERVER_KEY": "SB-Mid-server-cli"},
    "doku": {"DOKU_CLIENT_ID": "MCH-0001-CLI", "DOKU_SECRET_KEY": "SK-cli-secret"},
    "lemonsqueezy": {
        "LEMONSQUEEZY_API_KEY": "ls_cli",
        "LEMONSQUEEZY_STORE_ID": "7",
        "LEMONSQUEEZY_WEBHOOK_SECRET": "ls-cli-signing",
        "LEMONSQUEEZY_VARIANT_ID": "1",
    },
    "razorpay": {
        "RAZORPAY_KEY_ID": "rzp_test_cli",
        "RAZORPAY_KEY_SECRET": "rzp_cli",
        "RAZORPAY_WEBHOOK_SECRET": "whs_cli",
    },
}
CURRENCY = {"stripe": "KWD", "midtrans": "IDR", "doku": "IDR", "lemonsqueezy": "USD", "razorpay": "INR"}
UNSUPPORTED = {("lemonsqueezy", "expired"), ("razorpay", "pending"), ("razorpay", "expired")}
REFERENCE = {"stripe": "cs_test_simulated", "razorpay": "order_simulated01"}  # payments.provider_payment_id


@pytest.mark.parametrize("provider", sorted(PROVIDER_ENV))
@pytest.mark.parametrize("status", simulate.STATUSES)
def test_simulated_webhooks_verify_and_parse_with_the_providers_own_code(provider: str, status: Any) -> None:
    settings = load_settings(env=PROVIDER_ENV[provider])
    currency = CURRENCY[provider]
    order = simulate.Order(
        "TB-20261122-SIMULATED01",
        74900 if currency != "KWD" else 12340,
        currency,
        EXPONENTS[currency],
        REFERENCE.get(provider),
        # The PaymentIntent Stripe knows for the session, which `simulate.locate` asks Stripe for first.
        "pi_test_known" if provider == "stripe" else None,
    )
    url = f"http://edge.test/webhooks/{provider}"
    if (provider, status) in UNSUPPORTED:
        with pytest.raises(SimulationError, match="sends no webhook"):
            simulate.build(provider, settings, order, status, url)
        return
    webhook = simulate.build(provider, settings, order, status, url)
    with httpx.Client() as http:
        checker = build_providers(settings, http)[provider]
        checker.verify_webhook(webhook.headers, webhook.body)
        event = checker.parse_webhook(webhook.headers, webhook.body, exponents=EXPONENTS)
    # A full refund is reported as a refund of all of it (DOKU's status inquiry says REFUNDED as before).
    expected = "refund" if status == "refunded" and provider != "doku" else status
    assert (event.status, event.currency) == (expected, currency)
    assert simulate.simulated(provider, status).status == expected  # what simulate's self-check compares
    if provider == "stripe" and status == "refunded":
        # A charge names the session's PaymentIntent as Stripe knows it; the webhook route binds it by
        # asking Stripe which session it belongs to (Stripe's `locate`).
        assert (event.order_id, event.provider_reference) == (None, None)
        assert event.locate_reference == order.locate_reference
    else:
        # Bound to the payment by our order id, or by the provider reference its checkout stored.
        assert event.order_id == order.order_id or (
            event.order_id is None and event.provider_reference == order.provider_reference
        )
        assert event.provider_reference in (None, order.provider_reference)
    assert event.amount_minor == order.amount_minor


@pytest.fixture(scope="module")
def stripe_api() -> Iterator[StripeFake]:
    """Stripe's API for the CLI and the edge app: sessions, and the session search `locate` asks."""
    env = PROVIDER_ENV["stripe"]
    with StripeFake(secret_key=env["STRIPE_SECRET_KEY"], webhook_secret=env["STRIPE_WEBHOOK_SECRET"]) as fake:
        yield fake


def test_simulate_refuses_a_razorpay_order_without_its_razorpay_order() -> None:
    """Razorpay's events are bound by the Razorpay order the checkout created: none, nothing to sign."""
    with pytest.raises(SimulationError, match="no Razorpay order yet"):
        simulate.build(
            "razorpay",
            load_settings(env=PROVIDER_ENV["razorpay"]),
            simulate.Order("TB-X", 74900, "INR", 2),
            "paid",
            "http://x/webhooks/razorpay",
        )


def test_simulate_needs_the_secret(stack: LocalStack) -> None:
    with pytest.raises(SimulationError, match="STRIPE_WEBHOOK_SECRET not set"):
        simulate.build(
            "stripe",
            load_settings(env={}),
            simulate.Order("TB-X", 900, "USD", 2),
            "paid",
            "http://x/webhooks/stripe",
        )


@pytest.mark.parametrize("provider", ["stripe", "doku"])
def test_simulate_posts_a_signed_webhook_to_a_running_edge_app(
    stack: LocalStack,
    db: PsycopgDatabase,
    checkout: Callable[..., Checkout],
    stripe_api: StripeFake,
    provider: str,
) -> None:
    bought = checkout(provider, CURRENCY[provider] if provider != "stripe" else "USD")
    env = PROVIDER_ENV[provider]
    if provider == "stripe":
        # A Stripe refund names the PaymentIntent of the order's Checkout Session, which simulate asks Stripe
        # for and the edge app binds by asking Stripe: a session at the fake, paid there.
        env = {**env, "STRIPE_BASE_URL": stripe_api.url}
        with httpx.Client() as http:
            session = build_providers(load_settings(env=env), http)["stripe"].create_checkout(
                checkout_request(order_id=bought.order_id, idempotency_key=bought.order_id)
            )
        db.rpc(
            "attach_checkout",
            {"payment_id": bought.payment["id"], "provider_payment_id": session.provider_payment_id},
            caller=Caller.service(),
        )
        # Unpaid, the session has no PaymentIntent: simulate says so and sends nothing.
        args = ("webhooks", "simulate", "stripe", "--order", bought.order_id, "--status", "refunded")
        unpaid = error(run(*args, "--url", "http://127.0.0.1:9", "--json", env=env), 2)
        assert f"charge.refunded for {bought.order_id} cannot be located" in unpaid["message"]
        stripe_api.set_status(bought.order_id, "complete")
    with serve_edge(stack, **env) as edge:
        result = data(
            run(
                "webhooks",
                "simulate",
                provider,
                "--order",
                bought.order_id,
                "--status",
                "paid",
                "--url",
                edge.url,
                "--json",
                env=env,
            )
        )
        assert result["http_status"] == 200
        assert result["response"] == {"received": True, "outcome": "applied", "payment_status": "paid"}
        assert payment_status(stack, bought.order_id) == "paid"
        refunded = data(
            run(
                "webhooks",
                "simulate",
                provider,
                "--order",
                bought.order_id,
                "--status",
                "refunded",
                "--url",
                edge.url,
                "--json",
                env=env,
            )
        )
        assert refunded["response"]["payment_status"] == "refunded"


def test_simulate_whose_webhook_is_recorded_as_failed_exits_1(
    stack: LocalStack, checkout: Callable[..., Checkout]
) -> None:
    """An amount other than the payment's is accepted by the edge app (200) and failed by the state
    machine: that is not a working setup, so the command fails (it used to exit 0)."""
    bought = checkout("stripe", "USD")
    env = PROVIDER_ENV["stripe"]
    with serve_edge(stack, **env) as edge:
        args = ("webhooks", "simulate", "stripe", "--order", bought.order_id, "--status", "paid")
        result = run(*args, "--amount", "1", "--url", edge.url, "--json", env=env)
        assert result.exit_code == 1
        assert envelope_data(result)["response"]["outcome"] == "failed"
        assert run(*args, "--amount", "2", "--url", edge.url, env=env).exit_code == 1
    assert payment_status(stack, bought.order_id) == "pending"


def test_simulate_for_a_project_needs_the_edge_apps_url(stack: LocalStack) -> None:
    """A project's SUPABASE_URL is the Supabase API, not the edge app: no guessing where to post."""
    elsewhere = {"DATABASE_URL": "postgresql://postgres:x@127.0.0.1:1/postgres", **PROVIDER_ENV["stripe"]}
    result = run("webhooks", "simulate", "stripe", "--order", "TB-X", "--status", "paid", env=elsewhere)
    assert result.exit_code == 2
    assert "--url is required" in flat(result.stderr)


def test_simulate_reports_a_refused_webhook_and_an_unreachable_app(
    stack: LocalStack, checkout: Callable[..., Checkout]
) -> None:
    bought = checkout("stripe", "USD")
    with serve_edge(stack, **PROVIDER_ENV["stripe"]) as edge:
        wrong = {"STRIPE_WEBHOOK_SECRET": "whsec_another"}
        refused = run(
            "webhooks",
            "simulate",
            "stripe",
            "--order",
            bought.order_id,
            "--status",
            "paid",
            "--url",
            edge.url,
            "--json",
            env=wrong,
        )
        assert "answered 401" in error(refused, 1)["message"]
        assert payment_status(stack, bought.order_id) == "pending"
    gone = run(
        "webhooks",
        "simulate",
        "stripe",
        "--order",
        bought.order_id,
        "--status",
        "paid",
        "--url",
        edge.url,
        env=PROVIDER_ENV["stripe"],
    )
    assert gone.exit_code == 1
    assert "could not reach the edge app" in flat(gone.stderr)
    unknown = run(
        "webhooks", "simulate", "stripe", "--order", "TB-NOPE", "--status", "paid", env=PROVIDER_ENV["stripe"]
    )
    assert unknown.exit_code == 3
    unsupported = run(
        "webhooks",
        "simulate",
        "razorpay",
        "--order",
        bought.order_id,
        "--status",
        "expired",
        env=PROVIDER_ENV["razorpay"],
    )
    assert unsupported.exit_code == 2
    assert "sends no webhook meaning expired" in flat(unsupported.stderr)
