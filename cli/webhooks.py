"""`thinbase webhooks …`: the webhook ledger — list and inspect deliveries, replay failed ones through the
same SQL path, and send signed test webhooks to a running edge app.

Replay: the ledger keeps each event's provider payload, and (from migration 20261122004000 on) the
normalized input apply_payment_event received. The raw body a provider signed is not stored, so an event
cannot be verified and parsed again; instead `operator_replay_webhook_event` feeds the stored input back
through apply_payment_event, whose claim re-opens a failed event. Only failed events are replayed.
"""

from __future__ import annotations

import enum
import json
import re
import uuid
from datetime import datetime
from typing import Annotated, Any

import httpx
import typer

from thinbase.cli import simulate, trigger
from thinbase.cli.common import (
    JsonOption,
    LimitOption,
    Session,
    currency_exponents,
    match_id,
    parse_instant,
    session,
    short,
)
from thinbase.cli.output import (
    ExitCode,
    emit_json,
    fail,
    key_values,
    progress,
    progress_bar,
    render,
    safe,
    stdout,
    table,
)
from thinbase.cli.payments import ProviderName
from thinbase.errors import RpcError, SimulationError

app = typer.Typer(
    help="The webhook ledger: list, show, replay failed events, simulate and trigger signed deliveries."
)


class EventStatus(enum.StrEnum):
    received = "received"
    processing = "processing"
    processed = "processed"
    failed = "failed"
    ignored = "ignored"


# What a simulated event brings a payment to; mypy cannot see members built from a tuple (`.value` only).
SimulatedStatus = enum.StrEnum("SimulatedStatus", {s: s for s in simulate.STATUSES})  # type: ignore[misc]


_ID_PREFIX = re.compile(r"^[0-9a-fA-F-]{4,36}$")


def _event_id(value: str) -> str:
    """A whole event id, or a prefix of one (resolved against the ledger by `_resolve`)."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        if _ID_PREFIX.match(value):
            return value.lower()
        raise typer.BadParameter(
            f"{value!r} is not an event id (a UUID, or a unique prefix of one, from `thinbase webhooks list`)"
        ) from None


def _resolve(db: Session, value: str) -> str:
    """A whole id as it is; a prefix as the one event id it starts."""
    if len(value) == 36:
        return value
    return match_id(db, "webhook_events", value, noun="webhook event")


@app.command("list")
def list_events(
    status: Annotated[
        EventStatus | None, typer.Option(help="Only events in this state (e.g. failed).")
    ] = None,
    provider: Annotated[ProviderName | None, typer.Option(help="Only this provider's events.")] = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            parser=parse_instant, help="Only received since then: ISO 8601, or a duration ago (2h)."
        ),
    ] = None,
    order: Annotated[str | None, typer.Option(help="Only events about this order id.")] = None,
    limit: LimitOption = 50,
    as_json: JsonOption = False,
) -> None:
    """List webhook deliveries, newest first (payloads with `webhooks show`)."""
    with session(as_json) as db:
        rows: list[dict[str, Any]] = db.call(
            "admin_list_webhook_events",
            {
                "status": status.value if status else None,
                "provider": provider.value if provider else None,
                "since": since.isoformat() if since else None,
                "order_id": order,
                "limit": limit,
            },
        )
    render(
        as_json,
        rows,
        lambda: table(
            ("id", "received", "provider", "type", "order", "status", "tries", "error"),
            (
                (
                    r["id"],
                    r["received_at"],
                    r["provider"],
                    r["event_type"],
                    r["order_id"],
                    r["status"],
                    r["attempts"],
                    short(r["last_error"], 40),
                )
                for r in rows
            ),
            title=f"webhook events ({len(rows)})",
        ),
    )


@app.command()
def show(
    event_id: Annotated[
        str,
        typer.Argument(help="The event's id, or a unique prefix of it (`webhooks list`).", parser=_event_id),
    ],
    as_json: JsonOption = False,
) -> None:
    """One webhook delivery with its payload and stored normalized input. Exits 3 when unknown."""
    with session(as_json) as db:
        rows: list[dict[str, Any]] = db.call("admin_get_webhook_event", {"id": _resolve(db, event_id)})
    event = rows[0]
    if as_json:
        emit_json(event)
        return
    key_values(
        [
            (key.replace("_", " "), value)
            for key, value in event.items()
            if key not in ("payload", "normalized")
        ]
        + [
            ("normalized", json.dumps(event.get("normalized")))
            if event.get("normalized")
            else ("normalized", "")
        ],
        title=f"webhook event {event['id']}",
    )
    # ensure_ascii: a payload's strings (customer names, descriptions) reach the terminal only as escapes.
    stdout.print_json(json.dumps(event["payload"]), ensure_ascii=True)


@app.command()
def replay(
    event_ids: Annotated[
        list[str],
        typer.Argument(
            help="Ids of failed events to re-apply, or unique prefixes (`webhooks list --status failed`)."
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Re-apply failed events through apply_payment_event, the path a provider's redelivery takes.

    The state machine decides again from the event's stored input (after, say, a payment's amount was
    corrected). Exits 3 when an id is unknown, 1 when an event could not be replayed (not failed, or no
    stored input) or the state machine refused it again (outcome `failed`)."""
    ids = [_event_id(value) for value in event_ids]
    results: list[dict[str, Any]] = []
    with session(as_json) as db, progress_bar("replaying", len(ids)) as advance:
        for event_id in (_resolve(db, value) for value in ids):
            try:
                rows = db.try_call("operator_replay_webhook_event", {"id": event_id})
                results.append({"id": event_id, **rows[0], "error": None, "status": 200})
            except RpcError as exc:
                detail = exc.details or exc.message
                results.append(
                    {
                        "id": event_id,
                        "outcome": "error",
                        "error": f"{exc.message}: {detail}",
                        "status": exc.status,
                    }
                )
            advance()
    statuses = {r["status"] for r in results if r["error"]}
    refused = sum(r["outcome"] == "failed" for r in results)  # replayed, and the state machine said no again
    exit_code = (
        ExitCode.FAILURE if statuses - {404} or refused else ExitCode.NOT_FOUND if statuses else ExitCode.OK
    )
    not_replayed = sum(bool(r["error"]) for r in results)
    if as_json:
        emit_json(
            [{k: v for k, v in r.items() if k != "status"} for r in results],
            failed=(exit_code, f"{not_replayed} event(s) not replayed, {refused} refused again")
            if exit_code != ExitCode.OK
            else None,
        )
    else:
        table(
            ("event", "was", "outcome", "payment", "error"),
            (
                (r["id"], r.get("previous_status"), r["outcome"], r.get("payment_status"), r["error"])
                for r in results
            ),
            title="replay",
        )
    if exit_code != ExitCode.OK:
        raise typer.Exit(int(exit_code))


@app.command("simulate")
def simulate_webhook(
    provider: Annotated[ProviderName, typer.Argument(help="The provider whose webhook to imitate.")],
    order: Annotated[str, typer.Option("--order", help="Our order id (TB-…) the event is about.")],
    status: Annotated[SimulatedStatus, typer.Option("--status", help="What the event reports.")],
    url: Annotated[
        str | None,
        typer.Option(
            help="The edge app's base URL; required for a project (its SUPABASE_URL is the Supabase API, "
            "not the edge app); default on the local stack: its edge app."
        ),
    ] = None,
    amount: Annotated[
        int | None,
        typer.Option(help="Amount in minor units (default: the payment's; a different one fails it)."),
    ] = None,
    currency: Annotated[str | None, typer.Option(help="Currency (default: the payment's).")] = None,
    as_json: JsonOption = False,
) -> None:
    """POST a webhook signed with the configured secret, as PROVIDER sends it, to a running edge app.

    Tests a setup end to end without the provider (like `stripe trigger`).

    The amount and currency come from the payment unless given (exit 3 for an unknown order without them).
    Exits 1 when the edge app refuses the webhook or cannot be reached."""
    from thinbase.errors import WebhookError
    from thinbase.functions.payments.providers.registry import build_providers

    with session(as_json) as db:
        settings = db.target.settings
        if url is None and db.target.kind != "local":
            fail(
                "--url is required: the edge app of a project is served on a host of its own",
                hint="e.g. --url https://api.example.com (where /webhooks/{provider} is reachable)",
                code=ExitCode.USAGE,
                as_json=as_json,
            )
        reference: str | None = None
        if amount is None or currency is None:
            payment = db.call("operator_get_payment", {"payment": order})["payment"]
            amount = payment["amount_minor"] if amount is None else amount
            currency = payment["currency"] if currency is None else currency
            reference = payment["provider_payment_id"]
        else:  # the payment's provider reference binds Stripe and Razorpay events, when there is one
            try:
                reference = db.try_call("operator_get_payment", {"payment": order})["payment"][
                    "provider_payment_id"
                ]
            except RpcError:
                reference = None
        exponents = currency_exponents(db)
    assert amount is not None
    assert currency is not None
    currency = currency.upper()
    if currency not in exponents:
        fail(f"unknown currency {currency}", code=ExitCode.USAGE, as_json=as_json)
    # On the local stack SUPABASE_URL is the local edge app itself (`thinbase local env`).
    base = (url or settings.supabase_url or f"http://127.0.0.1:{settings.port}").rstrip("/")
    endpoint = f"{base}/webhooks/{provider.value}"
    details = simulate.Order(order, amount, currency, exponents[currency], reference)
    with httpx.Client(timeout=30) as http:
        try:
            sample = simulate.simulated(provider.value, simulate.status_named(status.value))
            # A Stripe refund names the PaymentIntent Stripe knows for the order's session: asked first.
            details = simulate.locate(provider.value, settings, http, details, sample)
            webhook = simulate.build_event(provider.value, settings, details, sample, endpoint, tag="sim")
        except SimulationError as exc:
            fail(str(exc), code=ExitCode.USAGE, as_json=as_json)
        # Check our own work first when the provider is fully configured here: the edge app verifies and
        # parses with the same code, so a body that fails here would only fail there.
        configured = build_providers(settings, http)
        checker = configured.get(provider.value)
        if checker is not None:
            try:
                checker.verify_webhook(webhook.headers, webhook.body)
                event = checker.parse_webhook(webhook.headers, webhook.body, exponents=exponents)
                event = simulate.bound_here(checker, event)  # a Stripe refund: where Stripe says it belongs
            except WebhookError as exc:
                fail(f"the simulated webhook does not verify here: {exc}", as_json=as_json)
            except SimulationError as exc:
                fail(str(exc), as_json=as_json)
            # The action the event stands for (a refund of all of it, for --status refunded).
            if event.status != sample.status or not event.bound or event.order_id not in (None, order):
                fail(
                    f"the simulated webhook parses as {event.status} for {event.order_id}",
                    as_json=as_json,
                )
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
    data = {"url": endpoint, "http_status": response.status_code, "response": answer}
    ok = 200 <= response.status_code < 300
    outcome = answer.get("outcome") if isinstance(answer, dict) else None
    if ok and outcome == "failed":  # accepted, and refused by the state machine: the setup is not right
        if as_json:
            emit_json(data, failed=(ExitCode.FAILURE, "the state machine recorded the event as failed"))
        else:
            stdout.print_json(json.dumps(answer), ensure_ascii=True)
        fail(
            "the webhook was recorded as failed",
            hint="`thinbase webhooks list --status failed` says why (an amount or currency that differs "
            "from the payment, another provider's order)",
        )
    if as_json and ok:
        emit_json(data)
    elif not as_json:
        progress(f"POST {endpoint} → {response.status_code}")
        if isinstance(answer, dict):
            stdout.print_json(json.dumps(answer), ensure_ascii=True)
        else:
            stdout.print(safe(answer))
    if not ok:
        fail(
            f"the edge app answered {response.status_code}",
            hint="401: the edge app has another secret than this environment; 404: the provider is not "
            "configured there",
            as_json=as_json,
        )


@app.command("trigger")
def trigger_webhook(
    provider: Annotated[ProviderName, typer.Argument(help="The provider whose webhook to send.")],
    event: Annotated[
        str | None,
        typer.Argument(
            help="The provider's event type (`--list` shows them), e.g. checkout.session.completed, "
            "settlement, SUCCESS, order_created, payment.captured; TYPE:VALUE where a field decides the "
            "outcome (checkout.session.completed:unpaid, capture:challenge, order_created:pending).",
            show_default=False,
        ),
    ] = None,
    order: Annotated[
        str | None,
        typer.Option(
            "--order",
            help="Our order id (TB-…) the event is about; default: a fresh pending payment of the local "
            "user trigger@thinbase.local (local stack only).",
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            help="The edge app's base URL; required for a project; default on the local stack: its edge app."
        ),
    ] = None,
    list_events: Annotated[
        bool, typer.Option("--list", help="List PROVIDER's event types and what each one maps to.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """POST one of PROVIDER's own event types, signed with the configured secret, to a running edge app.

    Like `stripe trigger`: without --order a fresh order is made first (and, for a refund, paid first with
    the provider's payment event). Prints what was sent, the edge app's answers and the payment's ledger.
    Exits 2 for an unknown EVENT (listing the valid ones) or no --order off the local stack, 3 for an
    unknown order, 1 when the edge app refuses a webhook, cannot be reached, or records it as failed."""
    from thinbase.functions.payments.providers.registry import build_providers

    descriptor = simulate.descriptor(provider.value)
    if list_events:
        rows = [
            {
                "event": e.name,
                "maps_to": e.status,
                "reaches": e.payment_status,
                "sent_first": e.after,
                # Bound only by asking the provider (a Stripe charge): for a paid order (--order) only.
                "needs_order": e.located,
                "simulate_status": e.simulates,
            }
            for e in descriptor.sample_events
        ]
        render(
            as_json,
            rows,
            lambda: table(
                ("event", "maps to", "payment becomes", "fresh order: sent first", "simulate --status"),
                (
                    (
                        r["event"],
                        r["maps_to"],
                        r["reaches"],
                        "needs --order" if r["needs_order"] else r["sent_first"],
                        r["reaches"] if r["simulate_status"] else "",
                    )
                    for r in rows
                ),
                title=f"{descriptor.label} events thinbase maps",
            ),
        )
        return
    if event is None:
        fail(
            "EVENT is required",
            hint=f"`thinbase webhooks trigger {provider.value} --list` lists them",
            code=ExitCode.USAGE,
            as_json=as_json,
        )
    try:
        chosen = descriptor.sample_event(event)
    except SimulationError as exc:
        fail(str(exc), code=ExitCode.USAGE, as_json=as_json)

    with session(as_json) as db:
        settings = db.target.settings
        local = db.target.kind == "local"
        if url is None and not local:
            fail(
                "--url is required: the edge app of a project is served on a host of its own",
                hint="e.g. --url https://api.example.com (where /webhooks/{provider} is reachable)",
                code=ExitCode.USAGE,
                as_json=as_json,
            )
        if order is None and not local:
            fail(
                "--order is required off the local stack: a fresh order is made only on the local stack",
                hint="name a pending payment of this project: --order TB-… (`thinbase payments list`)",
                code=ExitCode.USAGE,
                as_json=as_json,
            )
        trigger.require_signing(descriptor, chosen, settings, as_json)
        if order is None:
            trigger.require_locatable(descriptor, chosen, as_json)
            payment = trigger.fresh_payment(db, descriptor)
            known: set[str] = set()
        else:
            found = db.call("operator_get_payment", {"payment": order})
            payment, known = found["payment"], {e["id"] for e in found["webhook_events"]}
        exponents = currency_exponents(db)
    order_id = str(payment["order_id"])
    currency = str(payment["currency"])
    details = simulate.Order(
        order_id, int(payment["amount_minor"]), currency, exponents[currency], payment["provider_payment_id"]
    )
    base = (url or settings.supabase_url or f"http://127.0.0.1:{settings.port}").rstrip("/")
    endpoint = f"{base}/webhooks/{provider.value}"
    events = trigger.sequence(descriptor, chosen, fresh=order is None)

    with httpx.Client(timeout=30) as http:
        try:
            # A Stripe charge names the PaymentIntent Stripe knows for the order's session: asked first.
            details = simulate.locate(provider.value, settings, http, details, chosen)
            webhooks = [
                simulate.build_event(provider.value, settings, details, e, endpoint, tag="trg")
                for e in events
            ]
        except SimulationError as exc:
            fail(str(exc), code=ExitCode.USAGE, as_json=as_json)
        # As simulate: check our own work first where the provider is configured here too.
        checker = build_providers(settings, http).get(provider.value)
        keys = trigger.check_here(checker, events, webhooks, order_id, exponents, as_json=as_json)
        deliveries = trigger.send(http, endpoint, events, webhooks, keys, as_json=as_json)
    with session(as_json) as db:
        payment_status, ledger = trigger.ledger_entries(db, order_id, known)

    data = {
        "provider": provider.value,
        "event": chosen.name,
        "order_id": order_id,
        "fresh_order": order is None,
        "url": endpoint,
        "sent": [d.summary() for d in deliveries],
        "payment_status": payment_status,
        "ledger": ledger,
    }
    refused = next((d for d in deliveries if not d.ok), None)
    recorded_failed = next((d for d in deliveries if d.ok and d.outcome == "failed"), None)
    if not as_json:
        trigger.show(
            data, deliveries, unconfirmed=checker is not None and chosen.status in checker.confirm_statuses
        )
    if refused is not None:
        if as_json:
            emit_json(data, failed=(ExitCode.FAILURE, f"the edge app answered {refused.http_status}"))
        fail(
            f"the edge app answered {refused.http_status} to {refused.event.name}",
            hint="401: the edge app has another secret than this environment; 404: the provider is not "
            "configured there",
        )
    if recorded_failed is not None:
        if as_json:
            emit_json(data, failed=(ExitCode.FAILURE, "the state machine recorded the event as failed"))
        fail(
            f"{recorded_failed.event.name} was recorded as failed",
            hint=f"`thinbase webhooks list --order {order_id} --status failed` says why",
        )
    if as_json:
        emit_json(data)
