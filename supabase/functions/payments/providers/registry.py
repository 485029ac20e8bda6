"""Every payment provider, found by its descriptor: each module of this package that defines `DESCRIPTOR`
(a `ProviderDescriptor`) is a provider. Every list of providers in thinbase comes from here.

Required settings, per provider (optional ones in brackets; the descriptors are the truth):
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

import importlib
import pkgutil

import httpx

from thinbase.settings import Settings

from .base import Provider
from .descriptor import ProviderDescriptor


def _discover() -> dict[str, ProviderDescriptor]:
    found: dict[str, ProviderDescriptor] = {}
    modules = sorted(pkgutil.iter_modules(_package_path()), key=lambda module: module.name)
    for module in modules:
        if module.name.startswith("_"):
            continue
        descriptor = getattr(importlib.import_module(f"{__package__}.{module.name}"), "DESCRIPTOR", None)
        if isinstance(descriptor, ProviderDescriptor):
            found[descriptor.name] = descriptor
    return found


def _package_path() -> list[str]:
    from . import __path__ as path  # this package's directory (a symlinked checkout or site-packages)

    return list(path)


PROVIDERS: dict[str, ProviderDescriptor] = _discover()
PROVIDER_NAMES: tuple[str, ...] = tuple(PROVIDERS)


def build_providers(settings: Settings, http: httpx.Client) -> dict[str, Provider]:
    """The configured providers by name. `http` is shared; each call sets its own timeout."""
    return {
        name: descriptor.build(settings, http)
        for name, descriptor in PROVIDERS.items()
        if descriptor.configured(settings)
    }
