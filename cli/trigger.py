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

from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from thinbase.cli.common import Session, rpc_failure
from thinbase.cli.output import fail
from thinbase.db import Caller
from thinbase.errors import RpcError, StackError
from thinbase.functions.payments.providers.descriptor import ProviderDescriptor, SampleEvent, SampleWebhook
from thinbase.local.stack import LocalStack
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


def deliver(
    http: httpx.Client, endpoint: str, event: SampleEvent, webhook: SampleWebhook, event_key: str | None
) -> Delivery:
    """POST the webhook; httpx.HTTPError when the edge app cannot be reached."""
    response = http.post(endpoint, headers=webhook.headers, content=webhook.body)
    try:
        answer: Any = response.json()
    except ValueError:
        answer = response.text
    return Delivery(event, webhook, event_key, response.status_code, answer)


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
