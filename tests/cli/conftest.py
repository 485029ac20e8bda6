"""Helpers for the CLI tests: run `thinbase` in-process with Typer's CliRunner against the local stack (the
`stack` fixture), parse its JSON envelope, and make the data a command needs (users, payments, events)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.conftest import User
from thinbase.cli.main import app
from thinbase.db import Caller
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.local.stack import LocalStack

# Settings a developer's shell or .env might carry that would point the CLI elsewhere or change what doctor
# sees; every invocation starts without them (None unsets a variable for the run).
CONFIG_NAMES = (
    "DATABASE_URL",
    "SUPABASE_URL",
    "SUPABASE_ANON_KEY",
    "SUPABASE_SERVICE_ROLE_KEY",
    "SUPABASE_JWT_SECRET",
    "SUPABASE_JWKS_URL",
    "ADMIN_EMAILS",
    "PAYMENT_PROVIDER",
    "ALLOWED_RETURN_URLS",
    "MIDTRANS_SERVER_KEY",
    "MIDTRANS_BASE_URL",
    "DOKU_CLIENT_ID",
    "DOKU_SECRET_KEY",
    "DOKU_BASE_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_BASE_URL",
    "LEMONSQUEEZY_API_KEY",
    "LEMONSQUEEZY_STORE_ID",
    "LEMONSQUEEZY_WEBHOOK_SECRET",
    "LEMONSQUEEZY_VARIANT_ID",
    "RAZORPAY_KEY_ID",
    "RAZORPAY_KEY_SECRET",
    "RAZORPAY_WEBHOOK_SECRET",
    "AI_PROVIDER",
    "AI_API_KEY",
    "RESEND_API_KEY",
    "RESEND_BASE_URL",
    "EMAIL_FROM",
    "CONTACT_EMAIL",
)


def run(*args: str, env: Mapping[str, str] | None = None, input: str | None = None) -> Result:
    """`thinbase ARGS` in-process; the environment has none of CONFIG_NAMES unless `env` gives them."""
    clean: dict[str, str | None] = dict.fromkeys(CONFIG_NAMES)
    clean["COLUMNS"] = "200"  # Rich wraps tables at 80 columns off a terminal
    clean.update(env or {})
    return CliRunner().invoke(app, list(args), env=clean, input=input, catch_exceptions=False)


def envelope(result: Result) -> dict[str, Any]:
    """The JSON envelope a --json command printed on stdout."""
    parsed: dict[str, Any] = json.loads(result.stdout)
    assert set(parsed) == {"ok", "data", "error"}, parsed
    return parsed


def data(result: Result, code: int = 0) -> Any:
    """The envelope's data, after checking the exit code and that it reports success."""
    assert result.exit_code == code, (result.exit_code, result.output)
    parsed = envelope(result)
    assert parsed["ok"] is True
    assert parsed["error"] is None
    return parsed["data"]


def error(result: Result, code: int) -> dict[str, Any]:
    """The envelope's error, after checking the exit code and that an error went to stderr too."""
    assert result.exit_code == code, (result.exit_code, result.output)
    parsed = envelope(result)
    assert parsed["ok"] is False
    assert parsed["data"] is None
    assert "error:" in result.stderr
    failure: dict[str, Any] = parsed["error"]
    return failure


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Checkout:
    user: User
    payment: dict[str, Any]

    @property
    def order_id(self) -> str:
        return str(self.payment["order_id"])


@pytest.fixture
def checkout(db: PsycopgDatabase, make_user: Callable[..., User]) -> Callable[..., Checkout]:
    """A user with a pending payment (create_payment, as the user), for `provider` and `currency`."""

    def create(provider: str = "stripe", currency: str = "USD", plan: str = "PRO") -> Checkout:
        user = make_user("cli")
        payment = db.rpc(
            "create_payment", {"plan": plan, "provider": provider, "currency": currency}, caller=user.caller
        )
        return Checkout(user, payment)

    return create


def apply_event(db: PsycopgDatabase, checkout: Checkout, **fields: Any) -> dict[str, Any]:
    """apply_payment_event for the checkout's order, as the edge app calls it; fields override."""
    event = {
        "provider": checkout.payment["provider"],
        "event_key": unique("evt-cli"),
        "event_type": "test.event",
        "order_id": checkout.order_id,
        "status": "paid",
        "amount_minor": checkout.payment["amount_minor"],
        "currency": checkout.payment["currency"],
        **fields,
    }
    rows: list[dict[str, Any]] = db.rpc("apply_payment_event", event, caller=Caller.service())
    return rows[0]


def superuser_sql(stack: LocalStack, query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with stack.superuser_connection() as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def flat(text: str) -> str:
    """Text with Rich's line wrapping (80 columns off a terminal) undone."""
    return " ".join(text.split())
