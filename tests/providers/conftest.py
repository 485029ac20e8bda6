"""Fixtures for the provider tests: one httpx client and one running fake per provider (fresh per test)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from thinbase.fakes.payments import DokuFake, LemonSqueezyFake, MidtransFake, RazorpayFake, StripeFake


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    # One client for the run: building one loads the CA bundle (~20 ms), and no test changes its settings.
    with httpx.Client() as client:
        yield client


@pytest.fixture
def midtrans_fake() -> Iterator[MidtransFake]:
    with MidtransFake(server_key="SB-Mid-server-test") as fake:
        yield fake


@pytest.fixture
def doku_fake() -> Iterator[DokuFake]:
    with DokuFake(client_id="MCH-0001-10791114622547", secret_key="SK-test-secret") as fake:
        yield fake


@pytest.fixture
def stripe_fake() -> Iterator[StripeFake]:
    with StripeFake(secret_key="sk_test_fake", webhook_secret="whsec_test_secret") as fake:
        yield fake


@pytest.fixture
def razorpay_fake() -> Iterator[RazorpayFake]:
    with RazorpayFake(
        key_id="rzp_test_key", key_secret="rzp_test_secret", webhook_secret="webhook_secret"
    ) as fake:
        yield fake


@pytest.fixture
def lemonsqueezy_fake() -> Iterator[LemonSqueezyFake]:
    with LemonSqueezyFake(api_key="ls_test_key", store_id="42", webhook_secret="my-signing-secret") as fake:
        yield fake
