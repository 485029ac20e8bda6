"""`thinbase webhooks trigger PROVIDER EVENT`, like `stripe trigger`: one of the provider's own event types,
signed with the configured secret, about a payment, posted to a running edge app.

The events are the ones the provider's normalizer maps (its descriptor's `sample_events`); `simulate` sends
the same bodies, chosen by our status instead. The payment is `--order`'s, or a fresh one: on the local
stack only, a pending payment made the way a checkout makes it — `create_payment` as a user (a dedicated
local user, `trigger@thinbase.local`, signed up when missing) on the first active plan priced in the
provider's sample currency, then `attach_checkout` storing the provider reference the provider's checkout
would have returned (a Stripe session id, a Razorpay order id) — since Stripe and Razorpay bind their events
by it. For a fresh order an event that needs an earlier one (a refund needs a payment) gets that one first,
as `stripe trigger charge.refunded` makes the charge it refunds.

Fresh orders stay fresh: create_payment returns the user's open payment for the same plan, provider and
currency instead of a new one, so the trigger user's open payments are abandoned first (`abandon_checkout`,
the path the checkout takes for an order the provider will not hand out again), and when its checkout rate
limit is spent it is reset (`admin_reset_rate_limit`, as `thinbase ratelimit reset` does): that user only
ever exists on a developer's local stack.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from thinbase.cli.common import Session, rpc_failure
from thinbase.cli.output import ExitCode, fail, key_values, progress, safe, stdout
from thinbase.cli.simulate import bound_here
from thinbase.db import Caller
from thinbase.errors import RpcError, SimulationError, StackError, WebhookError
from thinbase.functions.payments.providers.base import Provider
from thinbase.functions.payments.providers.descriptor import (
    ProviderDescriptor,
    SampleEvent,
    SampleOrder,
    SampleWebhook,
)
from thinbase.local.stack import LocalStack
from thinbase.settings import Settings
from thinbase.tokens import verify_hs256

TRIGGER_EMAIL = "trigger@thinbase.local"
ABANDON_REASON = "superseded by a newer `thinbase webhooks trigger` order"


@dataclass(frozen=True)
class Delivery:
    """One webhook posted, and what the edge app answered."""

    event: SampleEvent
    webhook: SampleWebhook
    event_key: str | None  # the ledger's key for it, where the provider is configured here to parse it
    http_status: int
    answer: Any  # the decoded JSON body, else the text

    @property
    def ok(self) -> bool:
        return 200 <= self.http_status < 300

    @property
    def outcome(self) -> str | None:
        return self.answer.get("outcome") if isinstance(self.answer, dict) else None

    def summary(self) -> dict[str, Any]:
        return {
            "event": self.event.name,
            "maps_to": self.event.status,
            "event_key": self.event_key,
            "http_status": self.http_status,
            "response": self.answer,
        }


def sequence(descriptor: ProviderDescriptor, event: SampleEvent, *, fresh: bool) -> list[SampleEvent]:
    """What to send, in order: for a fresh order the events `event` needs first, then `event`."""
    chain = [event]
    while fresh and chain[0].after is not None:
        chain.insert(0, descriptor.sample_event(chain[0].after))
    return chain


def require_signing(
    descriptor: ProviderDescriptor, event: SampleEvent, settings: Settings, as_json: bool
) -> None:
    """Exit 2 now, before a fresh order is made, when the sample cannot be signed (a secret not set): a
    practice run of the builder on a placeholder order."""
    placeholder = SampleOrder("TB-00000000-CHECK", 100, descriptor.sample_currency, 2, "placeholder")
    try:
        descriptor.sample_webhook(settings, placeholder, event, "http://127.0.0.1/webhooks", tag="trg")
    except SimulationError as exc:
        fail(str(exc), code=ExitCode.USAGE, as_json=as_json)


def require_locatable(descriptor: ProviderDescriptor, event: SampleEvent, as_json: bool) -> None:
    """Exit 2 now, before a fresh order is made, for an event the edge app binds by asking the provider (a
    Stripe charge or dispute names a PaymentIntent): a fresh order's checkout reference is made up, so the
    provider knows no payment of it and the event could never be bound."""
    if event.located:
        fail(
            f"{event.name} cannot be sent for a fresh order: it names {descriptor.name}'s own object (a "
            f"PaymentIntent), which the edge app binds by asking {descriptor.label}, and a fresh order's "
            "checkout is made up, so it knows none",
            hint="pay a checkout first (on the fake's hosted page: `make dev`, or `thinbase local up "
            f"--fakes`), then `thinbase webhooks trigger {descriptor.name} {event.name} --order TB-…`",
            code=ExitCode.USAGE,
            as_json=as_json,
        )


def _trigger_user(as_json: bool) -> tuple[LocalStack, dict[str, Any], Caller]:
    """The local stack, its trigger user (signed up when missing) and that user as a caller with a fresh
    session's verified claims, as the edge app has them after a sign-in."""
    stack = LocalStack()
    try:
        user = stack.find_user(TRIGGER_EMAIL) or stack.create_user(
            TRIGGER_EMAIL, metadata={"full_name": "webhooks trigger"}
        )
        token = stack.user_token(user)
        claims = verify_hs256(token, stack.state().jwt_secret)
    except (StackError, psycopg.Error) as exc:
        fail(
            f"the trigger user cannot be made: {exc}",
            hint="is the stack running? `thinbase local up`",
            as_json=as_json,
        )
    return stack, user, Caller.user(claims, token)


def _paid_plan(db: Session, currency: str) -> str:
    """The first active plan, in the catalog's order, with a price in `currency` (PRO in the seed)."""
    plans: list[dict[str, Any]] = db.call("operator_list_plans")
    priced = [p for p in plans if p["active"] and currency in (p.get("prices") or {})]
    if not priced:
        fail(
            f"no active plan has a price in {currency}",
            hint="`thinbase plans list` shows the prices; give a plan one in that currency",
            as_json=db.as_json,
        )
    return str(min(priced, key=lambda p: p["sort_order"])["code"])


def fresh_payment(db: Session, descriptor: ProviderDescriptor) -> dict[str, Any]:
    """A new pending payment of the trigger user for `descriptor`'s provider (see the module docstring)."""
    _, user, caller = _trigger_user(db.as_json)
    user_id = str(user["id"])
    currency = descriptor.sample_currency
    plan = _paid_plan(db, currency)
    open_payments: list[dict[str, Any]] = db.call(
        "admin_list_payments",
        {"status": "pending", "provider": descriptor.name, "user_id": user_id, "limit": 500},
    )
    for payment in open_payments:
        if (payment["plan_code"], payment["currency"]) == (plan, currency):
            try:
                db.try_call("abandon_checkout", {"payment_id": payment["id"], "reason": ABANDON_REASON})
            except RpcError as exc:  # 409: one with a checkout (someone paid as this user in a browser)
                if exc.status != 409:
                    rpc_failure(exc, as_json=db.as_json)
    args = {"plan": plan, "provider": descriptor.name, "currency": currency}
    try:
        payment = _create_payment(db, caller, args)
    except RpcError as exc:
        if exc.status != 429:
            rpc_failure(exc, as_json=db.as_json)
        db.call("admin_reset_rate_limit", {"namespace": "create_payment", "subject": user_id})
        try:
            payment = _create_payment(db, caller, args)
        except RpcError as again:
            rpc_failure(again, as_json=db.as_json)
    if payment["id"] in {p["id"] for p in open_payments}:
        fail(
            f"the trigger user's open payment {payment['order_id']} has a checkout and cannot be replaced",
            hint=f"trigger an event for it with --order {payment['order_id']}",
            as_json=db.as_json,
        )
    if descriptor.sample_reference is not None:
        payment = db.call(
            "attach_checkout",
            {"payment_id": payment["id"], "provider_payment_id": descriptor.sample_reference("trg")},
        )
    return payment


def _create_payment(db: Session, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """create_payment as the user, as POST /payments/checkout calls it; RpcError through."""
    payment: dict[str, Any] = db.database.rpc("create_payment", args, caller=caller)
    return payment


def check_here(
    checker: Provider | None,
    events: Sequence[SampleEvent],
    webhooks: Sequence[SampleWebhook],
    order_id: str,
    exponents: Mapping[str, int],
    *,
    as_json: bool,
) -> list[str | None]:
    """Verify and parse each webhook with the provider's own code where it is configured here (the edge app
    does the same, so a body that fails here would only fail there); exits 1 when one does not hold. Returns
    each one's ledger key (None without a `checker`)."""
    keys: list[str | None] = []
    for event, webhook in zip(events, webhooks, strict=True):
        if checker is None:
            keys.append(None)
            continue
        try:
            checker.verify_webhook(webhook.headers, webhook.body)
            parsed = checker.parse_webhook(webhook.headers, webhook.body, exponents=exponents)
            parsed = bound_here(checker, parsed)  # a Stripe charge: where Stripe says it belongs
        except WebhookError as exc:
            fail(f"the {event.name} webhook does not verify here: {exc}", as_json=as_json)
        except SimulationError as exc:
            fail(str(exc), as_json=as_json)
        if parsed.status != event.status or not parsed.bound or parsed.order_id not in (None, order_id):
            fail(f"the {event.name} webhook parses as {parsed.status} for {parsed.order_id}", as_json=as_json)
        keys.append(parsed.event_key)
    return keys


def send(
    http: httpx.Client,
    endpoint: str,
    events: Sequence[SampleEvent],
    webhooks: Sequence[SampleWebhook],
    keys: Sequence[str | None],
    *,
    as_json: bool,
) -> list[Delivery]:
    """POST the webhooks in order, stopping after the first the edge app refuses; exits 1 when it cannot be
    reached."""
    deliveries: list[Delivery] = []
    for event, webhook, key in zip(events, webhooks, keys, strict=True):
        try:
            response = http.post(endpoint, headers=webhook.headers, content=webhook.body)
        except httpx.HTTPError as exc:
            fail(
                f"could not reach the edge app at {endpoint}: {exc}",
                hint="is it running? `thinbase serve --local`, or pass --url",
                as_json=as_json,
            )
        try:
            answer: Any = response.json()
        except ValueError:
            answer = response.text
        deliveries.append(Delivery(event, webhook, key, response.status_code, answer))
        if not deliveries[-1].ok:
            break
    return deliveries


def ledger_entries(db: Session, order_id: str, known: set[str]) -> tuple[str | None, list[dict[str, Any]]]:
    """The payment's status and its ledger entries not in `known` (ids), oldest first; (None, []) when the
    payment cannot be read."""
    try:
        found = db.try_call("operator_get_payment", {"payment": order_id})
    except RpcError:
        return None, []
    entries = [
        {key: event.get(key) for key in ("event_type", "event_key", "status", "last_error")}
        for event in found["webhook_events"]
        if event["id"] not in known
    ]
    return str(found["payment"]["status"]), entries


def show(data: Mapping[str, Any], deliveries: Sequence[Delivery], *, unconfirmed: bool) -> None:
    """The text report: each POST and its answer, then the payment and its new ledger entries. `unconfirmed`:
    the event's status is one the provider's status API must confirm (Midtrans' paid and refunded)."""
    for delivery in deliveries:
        key = f" ({delivery.event_key})" if delivery.event_key else ""
        progress(f"POST {data['url']} {delivery.event.name}{key} → {delivery.http_status}")
        if isinstance(delivery.answer, dict):
            stdout.print_json(json.dumps(delivery.answer), ensure_ascii=True)
        else:
            stdout.print(safe(delivery.answer))
    ledger = [
        (f"ledger: {entry['event_type']}", f"{entry['status']} {entry['last_error'] or ''}".strip())
        for entry in data["ledger"]
    ]
    key_values(
        [
            ("order", data["order_id"]),
            ("fresh order", "yes" if data["fresh_order"] else "no"),
            ("payment", data["payment_status"]),
            *ledger,
        ],
        title=f"{data['provider']} {data['event']}",
    )
    if unconfirmed and deliveries and deliveries[-1].outcome == "ignored":
        provider = data["provider"]
        progress(
            f"{provider} reports {deliveries[-1].event.status} only as its status API confirms it: the edge "
            f"app asked it, and it does not know {data['order_id']} (point the edge app's "
            f"{provider.upper()}_BASE_URL at a fake that does)"
        )
