"""POST /webhooks/{provider}: signed payment events, at least once and in any order.

Order of work: cap the body (1 MiB), verify the signature over the raw bytes (before any database work),
normalize, bind an event that names only the provider's own object (a Stripe charge or dispute names a
PaymentIntent) through the provider's API (`Locating.locate`), confirm with the provider's status API what
the signature does not cover (a provider's `confirm_statuses`: Midtrans' paid, refund and chargeback), then
one call to apply_payment_event, which claims the event in the ledger and applies it in a single
transaction. Answers:
  200  applied, duplicate, ignored (including event types we do not handle: a 4xx would make providers
       disable the endpoint)
  400  malformed body          401  bad or missing signature          413  body too large
  503  database, or the provider's API (status, locate) unreachable: the provider retries, nothing is lost
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from thinbase.db import Caller
from thinbase.errors import HttpError, ProviderError, ProviderUnconfirmed, WebhookError
from thinbase.functions._shared.context import call_rpc
from thinbase.functions._shared.http import read_body
from thinbase.functions._shared.state import app_state
from thinbase.functions.payments.providers._payload import check_event
from thinbase.functions.payments.providers.base import Locating, PaymentEvent, Provider

log = logging.getLogger("thinbase.webhooks")


async def _record_unhandled(
    request: Request, provider: Provider, event: PaymentEvent, reason: str = "unhandled event type"
) -> str:
    """Events we do not act on are still written to the ledger, as ignored, for operators to see."""
    claim: list[dict[str, Any]] = await call_rpc(
        request,
        "claim_webhook_event",
        {
            "provider": provider.name,
            "event_key": event.event_key,
            "event_type": event.event_type,
            "payload": event.payload,
        },
        caller=Caller.service(),
    )
    if claim[0]["outcome"] == "claimed":
        await call_rpc(
            request,
            "complete_webhook_event",
            {"event_id": claim[0]["event_id"], "status": "ignored", "error": reason},
            caller=Caller.service(),
        )
        return "ignored"
    return str(claim[0]["outcome"])


async def _confirmed(
    provider: Provider, event: PaymentEvent, exponents: dict[str, int]
) -> PaymentEvent | None:
    """What the provider's status API says about the payment a hint-only notification names; None when it
    knows nothing about it. Raises 503 when the API cannot be asked, so the provider redelivers."""
    exponent = exponents.get(event.currency or "")
    if event.order_id is None or exponent is None:
        return None
    try:
        answer = await run_in_threadpool(
            provider.fetch_status, event.order_id, event.provider_reference, amount_exponent=exponent
        )
    except ProviderError as exc:
        log.warning("status check failed: %s", exc, extra={"provider": provider.name})
        raise ProviderUnconfirmed(str(exc), kind=exc.kind, service=provider.name) from exc
    return answer if answer is not None and answer.status is not None else None


async def _located(provider: Provider, event: PaymentEvent) -> PaymentEvent | None:
    """The event bound to our checkout of the provider object it names; None when the provider knows no
    checkout of ours for it. Raises 503 when the provider's API cannot be asked, so it redelivers."""
    if not isinstance(provider, Locating):
        return None
    try:
        located = await run_in_threadpool(provider.locate, event)
    except ProviderError as exc:
        log.warning("locating the event's payment failed: %s", exc, extra={"provider": provider.name})
        raise ProviderUnconfirmed(str(exc), kind=exc.kind, service=provider.name) from exc
    return located if located is not None and located.bound else None


async def webhook(request: Request) -> JSONResponse:
    providers = app_state(request).providers
    provider = providers.get(request.path_params["provider"])
    if provider is None:
        raise HttpError(404, "unknown_provider", "No such payment provider is configured here.")
    body = await read_body(request)
    # Refusals are answered 401 invalid_signature / 400 invalid_payload (thinbase.errors); their reason is
    # logged here. Schemes that sign fields (Midtrans) must parse before verifying, so either can come first.
    try:
        provider.verify_webhook(request.headers, body)
        exponents = await app_state(request).catalog.exponents()
        event = provider.parse_webhook(request.headers, body, exponents=exponents)
        check_event(event)  # a key, type or order id the ledger cannot hold is the sender's fault: 400
    except WebhookError as exc:
        log.warning("webhook refused: %s", exc, extra={"provider": provider.name})
        raise

    request.state.log_extra = {"provider": provider.name, "event_key": event.event_key}
    if event.status is not None and not event.bound and event.locate_reference is not None:
        located = await _located(provider, event)
        if located is None:
            outcome = await _record_unhandled(
                request, provider, event, "unlocated: the provider knows no checkout of ours for it"
            )
            return JSONResponse({"received": True, "outcome": outcome})
        event = located
    if event.status is None or not event.bound:
        outcome = await _record_unhandled(request, provider, event)
        return JSONResponse({"received": True, "outcome": outcome})
    if event.status in provider.confirm_statuses:
        confirmed = await _confirmed(provider, event, exponents)
        if confirmed is None:
            outcome = await _record_unhandled(
                request, provider, event, "unconfirmed: the status API does not report this payment"
            )
            return JSONResponse({"received": True, "outcome": outcome})
        event = confirmed  # apply what the provider's API says, under its own event key
        request.state.log_extra["confirmed_as"] = event.event_key

    rows: list[dict[str, Any]] = await call_rpc(
        request, "apply_payment_event", event.apply_arguments(provider.name), caller=Caller.service()
    )
    result = rows[0]
    log.info("webhook %s", result["outcome"], extra={"provider": provider.name, "event_key": event.event_key})
    return JSONResponse(
        {"received": True, "outcome": result["outcome"], "payment_status": result["payment_status"]}
    )


routes = [Route("/webhooks/{provider}", webhook, methods=["POST"])]
