"""POST /payments/checkout: start (or resume) a checkout for the signed-in user.

create_payment runs AS THE USER (RLS and auth.uid() decide whose payment it is and the price comes from
the plans table), then the provider creates its checkout, then attach_checkout stores the result. A repeat
request returns the same open checkout. If the provider fails, the payment stays pending and the next
request retries the provider call; the client gets 502. Where the provider refuses a repeated order id
(Midtrans, after its answer to the first call was lost), the payment is abandoned and a new order started.
With an `Idempotency-Key` header, a retry with the same key and body gets the first answer back (see
_shared/idempotency.py).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from thinbase.db import Caller
from thinbase.errors import HttpError, ProviderError, RpcError
from thinbase.functions._shared.context import call_rpc, require_user
from thinbase.functions._shared.http import optional_string, read_json_object
from thinbase.functions._shared.idempotency import idempotent
from thinbase.functions._shared.state import app_state
from thinbase.functions.payments.providers.base import CheckoutRequest, CheckoutResult, Provider
from thinbase.functions.payments.providers.registry import PROVIDER_NAMES, PROVIDERS

log = logging.getLogger("thinbase.checkout")


def _provider(request: Request, asked: str | None) -> Provider:
    providers = app_state(request).providers
    name = (asked or app_state(request).settings.get("PAYMENT_PROVIDER")).lower()
    if not name:
        raise HttpError(400, "provider_required", "Name a payment provider; no default is configured.")
    if name not in PROVIDER_NAMES:
        raise HttpError(400, "unknown_provider", f"Unknown payment provider {name!r}.")
    if name not in providers:
        settings = app_state(request).settings
        missing = [key for key in PROVIDERS[name].required_settings if not settings.get(key).strip()]
        raise HttpError(
            400,
            "provider_disabled",
            f"Payment provider {name} is not configured here: set {', '.join(missing)}.",
        )
    return providers[name]


def _return_url(request: Request, body: dict[str, Any]) -> tuple[str, str | None]:
    allowed: tuple[str, ...] = app_state(request).settings.allowed_return_urls
    if not allowed:
        raise HttpError(503, "checkout_not_configured", "ALLOWED_RETURN_URLS is not set.")
    wanted = body.get("return_url")
    if wanted is not None and wanted not in allowed:
        raise HttpError(400, "invalid_return_url", "return_url must be one of the configured return URLs.")
    return (wanted or allowed[0]), (allowed[1] if len(allowed) > 1 else None)


def _answer(payment: dict[str, Any]) -> JSONResponse:
    return JSONResponse(
        {
            "payment_id": payment["id"],
            "order_id": payment["order_id"],
            "provider": payment["provider"],
            "plan": payment["plan_code"],
            "amount_minor": payment["amount_minor"],
            "currency": payment["currency"],
            "status": payment["status"],
            "redirect_url": payment.get("checkout_url"),
            "token": payment.get("checkout_token"),
            "expires_at": payment["expires_at"],
        }
    )


def _context(payment: dict[str, Any]) -> dict[str, Any]:
    return {"provider": payment["provider"], "order_id": payment["order_id"]}


async def _open_payment(
    request: Request, user: Caller, plan: str, provider: Provider, currency: str | None
) -> dict[str, Any]:
    """create_payment as the user: the open pending payment for this plan, provider and currency, or a
    new one."""
    payment: dict[str, Any] = await call_rpc(
        request,
        "create_payment",
        {"plan": plan, "provider": provider.name, "currency": currency},
        caller=user,
    )
    return payment


async def _provider_checkout(
    request: Request,
    provider: Provider,
    user: Caller,
    payment: dict[str, Any],
    return_url: str,
    cancel_url: str | None,
) -> CheckoutResult:
    catalog = app_state(request).catalog
    exponents = await catalog.exponents()
    checkout_request = CheckoutRequest(
        order_id=payment["order_id"],
        amount_minor=int(payment["amount_minor"]),
        currency=payment["currency"],
        exponent=exponents[payment["currency"]],
        plan_code=payment["plan_code"],
        plan_name=await catalog.plan_name(payment["plan_code"]),
        customer_email=str(user.claims.get("email") or ""),
        customer_name=(user.claims.get("user_metadata") or {}).get("full_name"),
        return_url=return_url,
        cancel_url=cancel_url,
        # One key per payment: a retried provider call for the same payment is deduplicated by the provider.
        idempotency_key=str(payment["id"]),
        expires_at=datetime.fromisoformat(payment["expires_at"]),
    )
    result: CheckoutResult = await run_in_threadpool(provider.create_checkout, checkout_request)
    return result


async def checkout(request: Request) -> Response:
    user = await require_user(request)
    body = await read_json_object(request)
    return await idempotent(
        request, user, "POST /payments/checkout", body, lambda: _checkout(request, user, body)
    )


async def _checkout(request: Request, user: Caller, body: dict[str, Any]) -> JSONResponse:
    plan = optional_string(body, "plan", 32)
    if plan is None:
        raise HttpError(400, "invalid_plan", "`plan` is required.")
    provider = _provider(request, optional_string(body, "provider", 32))
    currency = optional_string(body, "currency", 3)
    return_url, cancel_url = _return_url(request, body)

    payment = await _open_payment(request, user, plan, provider, currency)
    if payment.get("checkout_url") or payment.get("checkout_token"):
        return _answer(payment)  # the same open checkout as before
    try:
        try:
            result = await _provider_checkout(request, provider, user, payment, return_url, cancel_url)
        except ProviderError as exc:
            if exc.code != "provider_duplicate_order":
                raise
            # Midtrans took this order id for a checkout whose answer was lost (a timeout) and will never
            # hand it out again: close the payment and start over with a new order.
            log.warning("order id taken at the provider; starting a new order", extra=_context(payment))
            try:
                await call_rpc(
                    request,
                    "abandon_checkout",
                    {"payment_id": payment["id"], "reason": exc.code},
                    caller=Caller.service(),
                )
            except RpcError as refused:
                if refused.status != 409:  # 409: a concurrent request abandoned it first
                    raise
            payment = await _open_payment(request, user, plan, provider, currency)
            result = await _provider_checkout(request, provider, user, payment, return_url, cancel_url)
    except ProviderError as exc:  # answered 502 provider_timeout / provider_error (thinbase.errors)
        log.warning("provider error %s", exc.code, extra=_context(payment))
        raise

    attached: dict[str, Any] = await call_rpc(
        request,
        "attach_checkout",
        {
            "payment_id": payment["id"],
            "checkout_token": result.token,
            "checkout_url": result.redirect_url,
            "provider_payment_id": result.provider_payment_id,
            "expires_at": result.expires_at.isoformat() if result.expires_at else None,
        },
        caller=Caller.service(),
    )
    return _answer(attached)


routes = [Route("/payments/checkout", checkout, methods=["POST"])]
