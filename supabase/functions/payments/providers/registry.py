"""Build the providers whose settings are present (names: DESIGN.md, "Configuration names").

Required settings, per provider (optional ones in brackets):
    midtrans      MIDTRANS_SERVER_KEY [MIDTRANS_CLIENT_KEY (Snap.js), MIDTRANS_PRODUCTION, MIDTRANS_BASE_URL]
    doku          DOKU_CLIENT_ID, DOKU_SECRET_KEY  [DOKU_PRODUCTION, DOKU_BASE_URL]
    stripe        STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET  [STRIPE_BASE_URL]
    lemonsqueezy  LEMONSQUEEZY_API_KEY, LEMONSQUEEZY_STORE_ID, LEMONSQUEEZY_WEBHOOK_SECRET
                  [LEMONSQUEEZY_BASE_URL, LEMONSQUEEZY_VARIANT_ID, LEMONSQUEEZY_VARIANT_<PLAN_CODE>]
    razorpay      RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET, RAZORPAY_WEBHOOK_SECRET  [RAZORPAY_BASE_URL]

A provider without its webhook secret is left out: it could take payments we could never confirm.
`*_BASE_URL` replaces the provider's sandbox/production base (a local fake in tests).
"""

from __future__ import annotations

import httpx

from thinbase.settings import Settings

from .base import Provider
from .doku import DokuProvider
from .lemonsqueezy import LemonSqueezyProvider
from .midtrans import MidtransProvider
from .razorpay import RazorpayProvider
from .stripe import StripeProvider

LEMONSQUEEZY_VARIANT_PREFIX = "LEMONSQUEEZY_VARIANT_"
PROVIDER_NAMES = ("midtrans", "doku", "stripe", "lemonsqueezy", "razorpay")


def _present(settings: Settings, *names: str) -> bool:
    return all(settings.get(name).strip() for name in names)


def _base_url(settings: Settings, name: str) -> str | None:
    return settings.get(name).strip() or None


def lemonsqueezy_variants(settings: Settings) -> dict[str, str]:
    """Plan code -> variant id, from LEMONSQUEEZY_VARIANT_<PLAN_CODE> settings."""
    return {
        key.removeprefix(LEMONSQUEEZY_VARIANT_PREFIX): value.strip()
        for key, value in settings.env.items()
        if key.startswith(LEMONSQUEEZY_VARIANT_PREFIX) and key != "LEMONSQUEEZY_VARIANT_ID" and value.strip()
    }


def build_providers(settings: Settings, http: httpx.Client) -> dict[str, Provider]:
    """The configured providers by name. `http` is shared; each call sets its own timeout."""
    providers: dict[str, Provider] = {}
    if _present(settings, "MIDTRANS_SERVER_KEY"):
        providers["midtrans"] = MidtransProvider(
            settings.get("MIDTRANS_SERVER_KEY").strip(),
            settings.get("MIDTRANS_CLIENT_KEY").strip(),
            settings.flag("MIDTRANS_PRODUCTION"),
            _base_url(settings, "MIDTRANS_BASE_URL"),
            http,
        )
    if _present(settings, "DOKU_CLIENT_ID", "DOKU_SECRET_KEY"):
        providers["doku"] = DokuProvider(
            settings.get("DOKU_CLIENT_ID").strip(),
            settings.get("DOKU_SECRET_KEY").strip(),
            settings.flag("DOKU_PRODUCTION"),
            _base_url(settings, "DOKU_BASE_URL"),
            http,
        )
    if _present(settings, "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"):
        providers["stripe"] = StripeProvider(
            settings.get("STRIPE_SECRET_KEY").strip(),
            settings.get("STRIPE_WEBHOOK_SECRET").strip(),
            _base_url(settings, "STRIPE_BASE_URL"),
            http,
        )
    if _present(settings, "LEMONSQUEEZY_API_KEY", "LEMONSQUEEZY_STORE_ID", "LEMONSQUEEZY_WEBHOOK_SECRET"):
        providers["lemonsqueezy"] = LemonSqueezyProvider(
            settings.get("LEMONSQUEEZY_API_KEY").strip(),
            settings.get("LEMONSQUEEZY_STORE_ID").strip(),
            settings.get("LEMONSQUEEZY_WEBHOOK_SECRET").strip(),
            _base_url(settings, "LEMONSQUEEZY_BASE_URL"),
            http,
            variant_ids=lemonsqueezy_variants(settings),
            default_variant_id=settings.get("LEMONSQUEEZY_VARIANT_ID").strip() or None,
        )
    if _present(settings, "RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET", "RAZORPAY_WEBHOOK_SECRET"):
        providers["razorpay"] = RazorpayProvider(
            settings.get("RAZORPAY_KEY_ID").strip(),
            settings.get("RAZORPAY_KEY_SECRET").strip(),
            settings.get("RAZORPAY_WEBHOOK_SECRET").strip(),
            _base_url(settings, "RAZORPAY_BASE_URL"),
            http,
        )
    return providers
