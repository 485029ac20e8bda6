"""`thinbase payments …`: checkouts and their outcome, one payment's whole story, and reconciliation with
the providers' status APIs for when webhooks were missed."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Annotated, Any

import httpx
import typer

from thinbase.cli.common import (
    JsonOption,
    LimitOption,
    Session,
    currency_exponents,
    match_id,
    money,
    parse_duration,
    parse_instant,
    rpc_failure,
    session,
)
from thinbase.cli.output import ExitCode, emit_json, key_values, progress, progress_bar, render, table
from thinbase.errors import RpcError
from thinbase.functions.payments.providers.base import PAYMENT_STATUSES
from thinbase.functions.payments.providers.registry import PROVIDER_NAMES

app = typer.Typer(help="Payments: list, show one with its webhook events and audit trail, reconcile.")


# Choices derived from the one place each is defined; mypy cannot see members built from a tuple, which is
# fine: commands read only `.value`.
Status = enum.StrEnum("Status", {status: status for status in PAYMENT_STATUSES})  # type: ignore[misc]
ProviderName = enum.StrEnum("ProviderName", {name: name for name in PROVIDER_NAMES})  # type: ignore[misc]


SinceOption = Annotated[
    datetime | None,
    typer.Option(parser=parse_instant, help="Only since then: an ISO 8601 time, or a duration ago (2h, 7d)."),
]


@app.command("list")
def list_payments(
    status: Annotated[Status | None, typer.Option(help="Only payments in this state.")] = None,
    provider: Annotated[ProviderName | None, typer.Option(help="Only this provider's payments.")] = None,
    since: SinceOption = None,
    user: Annotated[str | None, typer.Option(help="Only this user's payments (email).")] = None,
    order: Annotated[str | None, typer.Option(help="Only the payment with this order id.")] = None,
    limit: LimitOption = 50,
    as_json: JsonOption = False,
) -> None:
    """List payments, newest first."""
    with session(as_json) as db:
        user_id = db.call("operator_get_user", {"email": user})["id"] if user else None
        rows: list[dict[str, Any]] = db.call(
            "admin_list_payments",
            {
                "status": status.value if status else None,
                "provider": provider.value if provider else None,
                "since": since.isoformat() if since else None,
                "user_id": user_id,
                "order_id": order,
                "limit": limit,
            },
        )
        exponents = currency_exponents(db) if not as_json else {}
    render(
        as_json,
        rows,
        lambda: table(
            ("id", "order", "item", "provider", "status", "amount", "created", "paid"),
            (
                (
                    r["id"],
                    r["order_id"],
                    r["plan_code"] or r.get("product_code"),
                    r["provider"],
                    r["status"],
                    money(r["amount_minor"], r["currency"], exponents),
                    r["created_at"],
                    r["paid_at"],
                )
                for r in rows
            ),
            title=f"payments ({len(rows)})",
        ),
    )


def _changes(entry: dict[str, Any]) -> str:
    """What an audit entry changed, as `field: old → new` (timestamps left out)."""
    before, after = entry.get("before") or {}, entry.get("after") or {}
    if not before:
        return "created" if after else ""
    keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k) and k != "updated_at")
    return ", ".join(f"{k}: {before.get(k)} → {after.get(k)}" for k in keys)


@app.command()
def show(
    payment: Annotated[
        str, typer.Argument(help="The payment's id or its order id, or a unique prefix of either.")
    ],
    as_json: JsonOption = False,
) -> None:
    """One payment with the webhook events about its order and its audit trail. Exits 3 when unknown."""
    with session(as_json) as db:
        try:
            found: dict[str, Any] = db.try_call("operator_get_payment", {"payment": payment})
        except RpcError as exc:
            if exc.status != 404:
                rpc_failure(exc, as_json=as_json)
            resolved = match_id(db, "payments", payment, noun="payment")
            found = db.call("operator_get_payment", {"payment": resolved})
        exponents = currency_exponents(db) if not as_json else {}
    if as_json:
        emit_json(found)
        return
    p = found["payment"]
    key_values(
        [
            ("id", p["id"]),
            ("order id", p["order_id"]),
            ("user", p["user_email"]),
            ("purpose", p.get("purpose")),
            ("plan", p["plan_code"]),
            ("product", p.get("product_code")),
            ("buyer email", p.get("buyer_email")),
            ("provider", p["provider"]),
            ("provider payment id", p["provider_payment_id"]),
            ("status", p["status"]),
            ("amount", money(p["amount_minor"], p["currency"], exponents)),
            ("created", p["created_at"]),
            ("expires", p["expires_at"]),
            ("paid", p["paid_at"]),
            ("refunded", money(p.get("refunded_minor") or 0, p["currency"], exponents)),
            ("refunded at", p["refunded_at"]),
            ("checkout url", p["checkout_url"]),
        ],
        title=f"payment {p['order_id']}",
    )
    table(
        ("event id", "received", "type", "status", "attempts", "error"),
        (
            (e["id"], e["received_at"], e["event_type"], e["status"], e["attempts"], e["last_error"])
            for e in found["webhook_events"]
        ),
        title="webhook events",
    )
    table(
        ("when", "actor", "action", "changes"),
        ((a["created_at"], a["actor_kind"], a["action"], _changes(a)) for a in found["audit"]),
        title="audit trail",
    )


# -- reconcile ------------------------------------------------------------------------------------------


def _duration_option(value: str, name: str) -> timedelta:
    try:
        return parse_duration(value)
    except typer.BadParameter as exc:
        raise typer.BadParameter(str(exc), param_hint=name) from None


def _reconcile_one(
    db: Session, providers: dict[str, Any], exponents: dict[str, int], payment: dict[str, Any], dry_run: bool
) -> dict[str, Any]:
    from thinbase.errors import ProviderError

    result: dict[str, Any] = {
        "payment_id": payment["id"],
        "order_id": payment["order_id"],
        "provider": payment["provider"],
        "status_before": payment["status"],
        "provider_status": None,
        "outcome": None,
        "payment_status": payment["status"],
        "error": None,
    }
    provider = providers.get(payment["provider"])
    if provider is None:
        result["outcome"] = "skipped"
        result["error"] = f"{payment['provider']} is not configured here"
        return result
    try:
        event = provider.fetch_status(
            payment["order_id"],
            payment["provider_payment_id"],
            amount_exponent=exponents[payment["currency"]],
        )
    except ProviderError as exc:
        result["outcome"] = "error"
        result["error"] = str(exc)
        return result
    if event is None or event.status is None:
        result["outcome"] = "no_news"
        result["error"] = (
            f"{provider.name} has no record of this payment (it was never paid or not yet started there)"
            if event is None
            else f"{provider.name} reports {event.event_type!r}, which changes nothing here"
        )
        return result
    result["provider_status"] = event.status
    if event.status == payment["status"]:
        result["outcome"] = "unchanged"
        return result
    if dry_run:
        result["outcome"] = "would_apply"
        return result
    try:
        rows = db.try_call(
            "apply_payment_event",
            event.apply_arguments(provider.name) | {"order_id": event.order_id or payment["order_id"]},
        )
    except RpcError as exc:
        result["outcome"] = "error"
        result["error"] = f"{exc.code}: {exc.message}"
        return result
    result["outcome"] = rows[0]["outcome"]
    result["payment_status"] = rows[0]["payment_status"]
    return result


@app.command()
def reconcile(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="Only payments created at least this long ago (15m, 2h, 1d); younger ones are in flight.",
        ),
    ] = "15m",
    provider: Annotated[ProviderName | None, typer.Option(help="Only this provider's payments.")] = None,
    include_expired: Annotated[
        bool,
        typer.Option("--include-expired", help="Also ask about payments the billing cycle expired."),
    ] = False,
    order: Annotated[
        str | None,
        typer.Option(help="Reconcile just this payment (order id or payment id), whatever its age."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many payments per run.")] = 100,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Ask the providers; change nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Ask the providers about pending payments and apply what they report (missed webhooks).

    Each provider's status API is asked about each pending payment older than --older-than; what it
    reports goes through apply_payment_event, exactly as the webhook would have. Exits 1 when a provider
    could not be asked or an event could not be applied."""
    from thinbase.functions.payments.providers.registry import build_providers

    age = _duration_option(older_than, "--older-than")
    payments: list[dict[str, Any]]
    with session(as_json) as db:
        cutoff = datetime.now().astimezone() - age
        if order:
            payments = [db.call("operator_get_payment", {"payment": order})["payment"]]
        else:
            payments = db.call(
                "operator_pending_payments",
                {
                    "created_before": cutoff.isoformat(),
                    "provider": provider.value if provider else None,
                    "include_expired": include_expired,
                    "limit": limit,
                },
            )
        exponents = currency_exponents(db)
        results = []
        with httpx.Client() as http:
            providers = dict(build_providers(db.target.settings, http))
            with progress_bar("asking providers", len(payments)) as advance:
                for payment in payments:
                    results.append(_reconcile_one(db, providers, exponents, payment, dry_run))
                    advance()
    counts: dict[str, int] = {}
    for item in results:
        counts[item["outcome"]] = counts.get(item["outcome"], 0) + 1
    # An error asking the provider, or an answer the state machine refused (amount or provider mismatch).
    failed = counts.get("error", 0) + counts.get("failed", 0)
    if as_json:
        emit_json(
            {"payments": results, "counts": counts, "dry_run": dry_run},
            failed=(ExitCode.FAILURE, f"{failed} payment(s) could not be reconciled") if failed else None,
        )
    elif results:
        table(
            ("order", "provider", "was", "provider says", "outcome", "now", "error"),
            (
                (
                    r["order_id"],
                    r["provider"],
                    r["status_before"],
                    r["provider_status"],
                    r["outcome"],
                    r["payment_status"],
                    r["error"],
                )
                for r in results
            ),
            title="reconciliation" + (" (dry run)" if dry_run else ""),
        )
    if not as_json:
        summary = (
            ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "nothing to ask about"
        )
        progress(f"{len(results)} payment(s): {summary}")
    if failed:
        raise typer.Exit(int(ExitCode.FAILURE))
