"""`thinbase plans …`: the plan catalog — prices per currency, billing interval, AI limits and model."""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any

import typer

from thinbase.cli.common import JsonOption, currency_exponents, money, session
from thinbase.cli.output import ExitCode, emit_json, fail, key_values, progress, render, table

app = typer.Typer(help="Plans: list the catalog (inactive plans too), create or update a plan.")

PRICE = re.compile(r"^([A-Za-z]{3})=(\d+)$")


class Interval(enum.StrEnum):
    month = "month"
    year = "year"


@app.command("list")
def list_plans(as_json: JsonOption = False) -> None:
    """Every plan, active or not: prices, interval, AI limits and model, and how many are subscribed."""
    with session(as_json) as db:
        rows: list[dict[str, Any]] = db.call("operator_list_plans")
        exponents = currency_exponents(db) if not as_json else {}
    render(
        as_json,
        rows,
        lambda: table(
            (
                "code",
                "name",
                "active",
                "interval",
                "prices",
                "AI tokens/month",
                "AI requests",
                "model",
                "subs",
            ),
            (
                (
                    r["code"],
                    r["name"],
                    "yes" if r["active"] else "no",
                    r["billing_interval"],
                    ", ".join(money(amount, cur, exponents) for cur, amount in sorted(r["prices"].items())),
                    r["ai_monthly_token_cap"],
                    f"{r['ai_requests_per_window']}/{r['ai_window_seconds']}s",
                    r["ai_model"] or "(default)",
                    r["subscribers"],
                )
                for r in rows
            ),
            title="plans",
        ),
    )


def _prices(values: list[str], removed: list[str], current: dict[str, int]) -> dict[str, int] | None:
    """The plan's new price list: the current one with --price entries set and --remove-price ones dropped;
    None when neither option was given (prices stay as they are)."""
    if not values and not removed:
        return None
    prices = dict(current)
    for value in values:
        match = PRICE.match(value.strip())
        if not match or int(match.group(2)) <= 0:
            raise typer.BadParameter(
                f"{value!r}: give CURRENCY=AMOUNT in minor units, e.g. USD=900 for 9.00 USD",
                param_hint="--price",
            )
        prices[match.group(1).upper()] = int(match.group(2))
    for currency in removed:
        prices.pop(currency.upper(), None)
    return prices


@app.command("set")
def set_plan(
    code: Annotated[str, typer.Argument(help="Plan code, e.g. PRO (upper case letters, digits, _).")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    description: Annotated[str | None, typer.Option(help="One-line description.")] = None,
    interval: Annotated[Interval | None, typer.Option("--interval", help="Billing interval.")] = None,
    price: Annotated[
        list[str] | None,
        typer.Option("--price", help="CURRENCY=AMOUNT in minor units (USD=900 is 9.00 USD); repeatable."),
    ] = None,
    remove_price: Annotated[
        list[str] | None, typer.Option("--remove-price", help="Drop the price in this currency; repeatable.")
    ] = None,
    ai_tokens: Annotated[
        int | None, typer.Option("--ai-tokens", min=0, help="Monthly AI token cap (0: no AI).")
    ] = None,
    ai_requests: Annotated[
        int | None, typer.Option("--ai-requests", min=0, help="AI requests allowed per window.")
    ] = None,
    ai_window: Annotated[
        int | None, typer.Option("--ai-window", min=1, help="Length of the AI request window, in seconds.")
    ] = None,
    ai_model: Annotated[
        str | None, typer.Option("--ai-model", help="AI model for this plan (overrides AI_MODEL).")
    ] = None,
    active: Annotated[
        bool | None,
        typer.Option("--active/--inactive", help="Offer the plan, or stop offering it (deactivate)."),
    ] = None,
    sort_order: Annotated[int | None, typer.Option("--sort-order", help="Position in the catalog.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a plan, or update the given fields of an existing one.

    Prices given with --price are merged into the plan's current prices; --remove-price drops one.
    --inactive deactivates a plan: it leaves the catalog and new checkouts, existing subscriptions keep it."""
    plan_code = code.strip().upper()
    with session(as_json) as db:
        current: list[dict[str, Any]] = db.call("operator_list_plans")
        existing = next((p for p in current if p["code"] == plan_code), None)
        prices = _prices(price or [], remove_price or [], existing["prices"] if existing else {})
        if existing is None and not prices and (active is None or active):
            progress(f"creating plan {plan_code} without prices: nobody can check out until it has one")
        rows: list[dict[str, Any]] = db.call(
            "admin_upsert_plan",
            {
                "code": plan_code,
                "name": name,
                "description": description,
                "billing_interval": interval.value if interval else None,
                "prices": prices,
                "ai_monthly_token_cap": ai_tokens,
                "ai_requests_per_window": ai_requests,
                "ai_window_seconds": ai_window,
                "ai_model": ai_model,
                "active": active,
                "sort_order": sort_order,
            },
        )
        after: list[dict[str, Any]] = db.call("operator_list_plans")
        exponents = currency_exponents(db) if not as_json else {}
    if not rows:
        fail(f"plan {plan_code} was not saved", code=ExitCode.FAILURE, as_json=as_json)
    plan = next(p for p in after if p["code"] == plan_code)
    if as_json:
        emit_json({**plan, "created": existing is None})
        return
    progress(f"{'created' if existing is None else 'updated'} plan {plan_code}")
    key_values(
        [
            ("code", plan["code"]),
            ("name", plan["name"]),
            ("active", plan["active"]),
            ("interval", plan["billing_interval"]),
            ("prices", ", ".join(money(a, c, exponents) for c, a in sorted(plan["prices"].items()))),
            ("AI tokens/month", plan["ai_monthly_token_cap"]),
            ("AI requests", f"{plan['ai_requests_per_window']} per {plan['ai_window_seconds']} s"),
            ("AI model", plan["ai_model"] or "(AI_MODEL)"),
            ("subscribers", plan["subscribers"]),
        ],
        title=f"plan {plan_code}",
    )
