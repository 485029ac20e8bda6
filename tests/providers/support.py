"""Shared test data for the provider tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from thinbase.functions.payments.providers.base import CheckoutRequest

# The exponents our currencies table holds for the currencies these tests use.
EXPONENTS = {"IDR": 2, "USD": 2, "EUR": 2, "INR": 2, "JPY": 0, "KWD": 3, "BHD": 3, "ISK": 0}


def checkout_request(**overrides: Any) -> CheckoutRequest:
    values: dict[str, Any] = {
        "order_id": "TB-20261122-0123456789AB",
        "amount_minor": 900,
        "currency": "USD",
        "exponent": 2,
        "plan_code": "PRO",
        "plan_name": "Pro",
        "customer_email": "ada@example.test",
        "customer_name": "Ada Lovelace",
        "return_url": "https://app.example.test/billing/done",
        "cancel_url": "https://app.example.test/billing",
        "idempotency_key": "idem-0123456789",
        "expires_at": datetime.now(UTC) + timedelta(hours=2),
    }
    values.update(overrides)
    return CheckoutRequest(**values)
