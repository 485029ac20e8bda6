"""`thinbase users …`: who uses the product, on which plan, with how much AI this month."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from thinbase.cli.common import JsonOption, LimitOption, currency_exponents, money, session
from thinbase.cli.output import emit_json, key_values, render, table

app = typer.Typer(help="Users: list and search them, or show one with plan, usage and payments.")


@app.command("list")
def list_users(
    search: Annotated[str | None, typer.Option(help="Part of an email address or name.")] = None,
    limit: LimitOption = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many users (newest first).")] = 0,
    as_json: JsonOption = False,
) -> None:
    """List users, newest first: role, plan and subscription status."""
    with session(as_json) as db:
        rows: list[dict[str, Any]] = db.call(
            "admin_list_users", {"search": search, "limit": limit, "offset": offset}
        )
    render(
        as_json,
        rows,
        lambda: table(
            ("email", "name", "role", "plan", "status", "period end", "created"),
            (
                (
                    r["email"],
                    r["full_name"],
                    r["role"],
                    r["plan_code"],
                    r["subscription_status"],
                    r["current_period_end"],
                    r["created_at"],
                )
                for r in rows
            ),
            title=f"users ({len(rows)})",
        ),
    )


@app.command()
def show(
    email: Annotated[str, typer.Argument(help="The user's email address (any case).")],
    as_json: JsonOption = False,
) -> None:
    """Show one user: profile, role, plan, this month's AI usage, recent payments.

    AI usage is counted per UTC month against the cap of the plan in effect. Exits 3 when no user has that
    email."""
    with session(as_json) as db:
        user: dict[str, Any] = db.call("operator_get_user", {"email": email})
        exponents = currency_exponents(db) if not as_json else {}
    if as_json:
        emit_json(user)
        return
    sub = user.get("subscription") or {}
    usage = user["ai_usage"]
    key_values(
        [
            ("id", user["id"]),
            ("email", user["email"]),
            ("name", user["full_name"]),
            ("role", user["role"]),
            ("created", user["created_at"]),
            ("last sign-in", user["last_sign_in_at"]),
            ("plan (in effect)", user["effective_plan"]),
            ("subscription", f"{sub.get('plan_code')} {sub.get('status')}" if sub else None),
            (
                "period",
                f"{sub.get('current_period_start')} → {sub.get('current_period_end') or '∞'}"
                if sub
                else None,
            ),
            ("cancel at period end", sub.get("cancel_at_period_end")),
            (
                f"AI tokens {usage['month'][:7]}",
                f"{usage['used_tokens']} used + {usage['held_tokens']} held of {usage['cap']} "
                f"({usage['remaining_tokens']} left, {usage['requests']} requests)",
            ),
        ],
        title=user["email"],
    )
    payments = user["recent_payments"]
    if payments:
        table(
            ("id", "order", "plan", "provider", "status", "amount", "created"),
            (
                (
                    p["id"],
                    p["order_id"],
                    p["plan_code"],
                    p["provider"],
                    p["status"],
                    money(p["amount_minor"], p["currency"], exponents),
                    p["created_at"],
                )
                for p in payments
            ),
            title="recent payments",
        )
