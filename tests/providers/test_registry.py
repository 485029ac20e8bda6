"""build_providers: only the providers whose required settings are present, configured from settings."""

from __future__ import annotations

import httpx
import pytest

from tests.providers.support import checkout_request
from thinbase.fakes.payments import LemonSqueezyFake, StripeFake
from thinbase.functions.payments.providers.doku import DokuProvider
from thinbase.functions.payments.providers.lemonsqueezy import LemonSqueezyProvider
from thinbase.functions.payments.providers.lemonsqueezy import variants as lemonsqueezy_variants
from thinbase.functions.payments.providers.midtrans import MidtransProvider
from thinbase.functions.payments.providers.razorpay import RazorpayProvider
from thinbase.functions.payments.providers.registry import build_providers
from thinbase.functions.payments.providers.stripe import StripeProvider
from thinbase.local.stack import LocalStack
from thinbase.settings import Settings

ALL = {
    "MIDTRANS_SERVER_KEY": "SB-Mid-server-x",
    "MIDTRANS_CLIENT_KEY": "SB-Mid-client-x",
    "DOKU_CLIENT_ID": "BRN-0001",
    "DOKU_SECRET_KEY": "SK-x",
    "STRIPE_SECRET_KEY": "sk_test_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
    "LEMONSQUEEZY_API_KEY": "ls_x",
    "LEMONSQUEEZY_STORE_ID": "42",
    "LEMONSQUEEZY_WEBHOOK_SECRET": "ls-secret",
    "RAZORPAY_KEY_ID": "rzp_test_x",
    "RAZORPAY_KEY_SECRET": "rzp_secret",
    "RAZORPAY_WEBHOOK_SECRET": "rzp_webhook",
}


def test_nothing_configured(http: httpx.Client) -> None:
    assert build_providers(Settings(env={}), http) == {}


def test_everything_configured(http: httpx.Client) -> None:
    providers = build_providers(Settings(env=ALL), http)
    assert set(providers) == {"midtrans", "doku", "stripe", "lemonsqueezy", "razorpay"}
    assert isinstance(providers["midtrans"], MidtransProvider)
    assert isinstance(providers["doku"], DokuProvider)
    assert isinstance(providers["stripe"], StripeProvider)
    assert isinstance(providers["lemonsqueezy"], LemonSqueezyProvider)
    assert isinstance(providers["razorpay"], RazorpayProvider)
    assert all(name == provider.name for name, provider in providers.items())


@pytest.mark.parametrize(
    ("missing", "provider"),
    [
        ("MIDTRANS_SERVER_KEY", "midtrans"),
        ("DOKU_CLIENT_ID", "doku"),
        ("DOKU_SECRET_KEY", "doku"),
        ("STRIPE_SECRET_KEY", "stripe"),
        ("STRIPE_WEBHOOK_SECRET", "stripe"),
        ("LEMONSQUEEZY_API_KEY", "lemonsqueezy"),
        ("LEMONSQUEEZY_STORE_ID", "lemonsqueezy"),
        ("LEMONSQUEEZY_WEBHOOK_SECRET", "lemonsqueezy"),
        ("RAZORPAY_KEY_ID", "razorpay"),
        ("RAZORPAY_KEY_SECRET", "razorpay"),
        ("RAZORPAY_WEBHOOK_SECRET", "razorpay"),
    ],
)
def test_a_missing_required_setting_leaves_the_provider_out(
    http: httpx.Client, missing: str, provider: str
) -> None:
    providers = build_providers(Settings(env=ALL | {missing: "  "}), http)
    assert provider not in providers
    assert len(providers) == 4


def test_secrets_do_not_leak_into_repr(http: httpx.Client) -> None:
    text = repr(build_providers(Settings(env=ALL), http))
    for name, value in ALL.items():
        if "SECRET" in name or "SERVER_KEY" in name or "API_KEY" in name:
            assert value not in text


def test_base_url_points_at_a_fake(http: httpx.Client) -> None:
    with StripeFake(secret_key="sk_test_x", webhook_secret="whsec_x") as fake:
        providers = build_providers(Settings(env=ALL | {"STRIPE_BASE_URL": fake.url + "/"}), http)
        providers["stripe"].create_checkout(checkout_request())
        assert fake.requests[-1].path == "/v1/checkout/sessions"


def test_lemonsqueezy_variants_from_settings(http: httpx.Client) -> None:
    env = ALL | {
        "LEMONSQUEEZY_VARIANT_PRO": "7",
        "LEMONSQUEEZY_VARIANT_ID": "1",
        "LEMONSQUEEZY_VARIANT_TEAM": "",
    }
    settings = Settings(env=env)
    assert lemonsqueezy_variants(settings) == {"PRO": "7"}
    with LemonSqueezyFake(
        api_key="ls_x", store_id="42", webhook_secret="ls-secret", variants={"1", "7"}
    ) as fake:
        providers = build_providers(Settings(env=env | {"LEMONSQUEEZY_BASE_URL": fake.url}), http)
        providers["lemonsqueezy"].create_checkout(checkout_request(plan_code="PRO"))
        providers["lemonsqueezy"].create_checkout(checkout_request(plan_code="PRO_YEARLY"))
        variants = [r.json()["data"]["relationships"]["variant"]["data"]["id"] for r in fake.requests]
        assert variants == ["7", "1"]


def test_every_provider_module_is_found_by_its_descriptor(http: httpx.Client) -> None:
    """Adding a provider is adding a module with a DESCRIPTOR: nothing else lists the providers."""
    import importlib
    import pkgutil

    from thinbase.functions.payments import providers as package
    from thinbase.functions.payments.providers.registry import PROVIDERS

    modules = [m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")]
    with_descriptor = [
        name
        for name in modules
        if hasattr(importlib.import_module(f"{package.__name__}.{name}"), "DESCRIPTOR")
    ]
    assert sorted(with_descriptor) == sorted(PROVIDERS)
    built = build_providers(Settings(env=ALL), http)
    for name, descriptor in PROVIDERS.items():
        assert built[name].name == descriptor.name == name


def test_the_registry_and_the_providers_table_agree(stack: LocalStack) -> None:
    """A provider is one module here and one row in public.payment_providers: neither may lack the other
    (rows never offered for checkout, such as a future `none`, have no module)."""
    with stack.superuser_connection() as conn:
        rows = conn.execute("select code from public.payment_providers where checkout").fetchall()
    from thinbase.functions.payments.providers.registry import PROVIDER_NAMES

    assert sorted(row["code"] for row in rows) == sorted(PROVIDER_NAMES)
