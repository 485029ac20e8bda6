"""`thinbase admin …`, `users …` and `plans …` against the local stack."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.cli.conftest import Checkout, data, error, flat, run, superuser_sql, unique
from tests.conftest import User
from thinbase.local.stack import LocalStack


@pytest.fixture
def bootstrap_list(stack: LocalStack) -> Iterator[None]:
    """`admin bootstrap` rewrites the database's bootstrap list: put the stack's back afterwards."""
    before = superuser_sql(stack, "select admin_bootstrap_emails::text[] as emails from private.settings")[0]
    yield
    superuser_sql(
        stack,
        "update private.settings set admin_bootstrap_emails = %s::extensions.citext[]",
        (before["emails"],),
    )


def role_of(stack: LocalStack, user: User) -> str:
    return str(
        superuser_sql(stack, "select role from public.user_roles where user_id = %s", (user.id,))[0]["role"]
    )


# -- admin -------------------------------------------------------------------------------------------------


def test_grant_list_and_revoke(stack: LocalStack, make_user: Callable[..., User]) -> None:
    # Another admin, so that revoking ours is never refused as the last admin on a fresh stack.
    keeper = make_user("cli-keeper")
    assert run("admin", "grant", keeper.email).exit_code == 0
    user = make_user("cli-admin")
    granted = data(run("admin", "grant", user.email.upper(), "--json"))
    assert granted == {
        "user_id": user.id,
        "user_email": user.email,
        "new_role": "admin",
        "previous_role": "member",
    }
    assert role_of(stack, user) == "admin"
    listed = data(run("admin", "list", "--json"))
    mine = [row for row in listed if row["email"] == user.email]
    assert mine
    assert mine[0]["role"] == "admin"
    assert mine[0]["user_id"] == user.id
    table = run("admin", "list")
    assert table.exit_code == 0
    assert user.email[:12] in table.stdout
    revoked = run("admin", "revoke", user.email)
    assert revoked.exit_code == 0, revoked.output
    assert "admin → member" in flat(revoked.stderr)
    assert role_of(stack, user) == "member"
    again = run("admin", "revoke", user.email)
    assert "already was member" in flat(again.stderr)
    run("admin", "revoke", keeper.email)  # refused (and harmless) when it is the last admin


def test_grant_and_revoke_an_unknown_user_is_not_found(stack: LocalStack) -> None:
    failure = error(run("admin", "grant", f"nobody-{uuid.uuid4().hex}@example.invalid", "--json"), 3)
    assert failure["message"].startswith("user_not_found")
    assert run("admin", "revoke", f"nobody-{uuid.uuid4().hex}@example.invalid").exit_code == 3


def test_bootstrap_syncs_admin_emails(
    stack: LocalStack, make_user: Callable[..., User], bootstrap_list: None
) -> None:
    user = make_user("cli-boot")
    later = f"{unique('cli-later')}@example.test"
    result = data(run("admin", "bootstrap", "--json", env={"ADMIN_EMAILS": f"{user.email.upper()}, {later}"}))
    assert sorted((r["email"], r["result"]) for r in result["bootstrap"]) == sorted(
        [(user.email, "upgraded"), (later, "pending_signup")]
    )
    assert result["demoted"] == []
    assert role_of(stack, user) == "admin"
    listed = {row["email"]: row for row in data(run("admin", "list", "--json"))}
    assert listed[later]["role"] is None
    assert listed[later]["bootstrap"] is True
    assert listed[user.email]["bootstrap"] is True
    # Whoever signs up with a listed address later is an admin from the start.
    row = stack.create_user(later)
    assert (
        superuser_sql(stack, "select role from public.user_roles where user_id = %s", (row["id"],))[0]["role"]
        == "admin"
    )
    run("admin", "revoke", user.email)
    run("admin", "revoke", later)


def test_bootstrap_refuses_an_empty_list_and_a_prune_that_removes_every_admin(
    stack: LocalStack, make_user: Callable[..., User], bootstrap_list: None
) -> None:
    assert error(run("admin", "bootstrap", "--json"), 2)["message"] == "ADMIN_EMAILS is empty"
    admin = make_user("cli-keep")
    run("admin", "grant", admin.email)
    admins_before = {r["email"] for r in data(run("admin", "list", "--json")) if r["role"] == "admin"}
    nobody = f"{unique('cli-nobody')}@example.test"
    result = run("admin", "bootstrap", "--prune", "--json", env={"ADMIN_EMAILS": nobody})
    assert "would remove every admin" in error(result, 1)["message"]
    admins_after = {r["email"] for r in data(run("admin", "list", "--json")) if r["role"] == "admin"}
    assert admins_before <= admins_after
    run("admin", "revoke", admin.email)


# -- users -------------------------------------------------------------------------------------------------


def test_users_list_and_show(stack: LocalStack, checkout: Callable[..., Checkout]) -> None:
    bought = checkout("stripe", "USD")
    user = bought.user
    superuser_sql(
        stack,
        "insert into private.ai_monthly_usage (user_id, month, used_tokens, held_tokens, requests) "
        "values (%s, private.utc_month(now()), 700, 100, 3)",
        (user.id,),
    )
    listed = data(run("users", "list", "--search", user.email, "--json"))
    assert [r["email"] for r in listed] == [user.email]
    assert listed[0]["plan_code"] == "FREE"
    assert listed[0]["role"] == "member"
    shown = data(run("users", "show", user.email, "--json"))
    assert shown["id"] == user.id
    assert shown["effective_plan"] == "FREE"
    assert shown["subscription"]["status"] == "active"
    usage = shown["ai_usage"]
    assert (usage["used_tokens"], usage["held_tokens"], usage["requests"]) == (700, 100, 3)
    assert usage["remaining_tokens"] == usage["cap"] - 800
    assert [p["order_id"] for p in shown["recent_payments"]] == [bought.order_id]
    table = run("users", "show", user.email)
    assert table.exit_code == 0
    assert "700 used + 100 held" in flat(table.stdout)
    assert "9.00 USD" in flat(table.stdout)


def test_users_show_an_unknown_email_is_not_found(stack: LocalStack) -> None:
    failure = error(run("users", "show", "nobody@example.invalid", "--json"), 3)
    assert "No user with email" in failure["message"]
    assert "users list" in failure["hint"]  # every error comes with a hint
    assert run("users", "list", "--offset", "-1").exit_code == 2


# -- plans -------------------------------------------------------------------------------------------------


def test_plans_set_creates_and_updates_a_plan(stack: LocalStack) -> None:
    code = f"CLI_{uuid.uuid4().hex[:8].upper()}"
    # Created inactive, so no other test's catalog sees it.
    created = data(
        run(
            "plans",
            "set",
            code.lower(),
            "--name",
            "CLI plan",
            "--price",
            "USD=500",
            "--price",
            "eur=450",
            "--ai-tokens",
            "1000",
            "--ai-requests",
            "5",
            "--ai-model",
            "small-model",
            "--interval",
            "year",
            "--inactive",
            "--json",
        )
    )
    assert created["created"] is True
    assert (created["code"], created["name"], created["active"], created["billing_interval"]) == (
        code,
        "CLI plan",
        False,
        "year",
    )
    assert created["prices"] == {"USD": 500, "EUR": 450}
    assert (created["ai_monthly_token_cap"], created["ai_requests_per_window"], created["ai_model"]) == (
        1000,
        5,
        "small-model",
    )
    updated = data(run("plans", "set", code, "--price", "USD=600", "--remove-price", "EUR", "--json"))
    assert updated["created"] is False
    assert updated["prices"] == {"USD": 600}
    assert updated["name"] == "CLI plan"
    assert updated["ai_model"] == "small-model"
    assert updated["active"] is False
    listed = {p["code"]: p for p in data(run("plans", "list", "--json"))}
    assert listed[code]["prices"] == {"USD": 600}
    assert listed[code]["subscribers"] == 0
    assert listed["FREE"]["active"] is True
    table = run("plans", "list")
    assert table.exit_code == 0
    assert "6.00 USD" in flat(table.stdout)


def test_plans_set_refuses_bad_input(stack: LocalStack) -> None:
    code = f"CLI_{uuid.uuid4().hex[:8].upper()}"
    assert run("plans", "set", code, "--price", "USD=9.00", "--inactive").exit_code == 2
    assert run("plans", "set", code, "--interval", "week", "--inactive").exit_code == 2
    failure = error(run("plans", "set", "bad code!", "--inactive", "--json"), 2)
    assert "plans_code_format" in failure["message"]
    unknown_currency = error(run("plans", "set", code, "--price", "XXX=100", "--inactive", "--json"), 1)
    assert "plan_prices" in unknown_currency["message"]
