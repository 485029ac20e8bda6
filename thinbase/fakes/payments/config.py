"""Building a payment fake from the settings the edge app reads, so a fake and the app it serves agree on
every secret: `build_fake("stripe", env, webhook_url=f"{edge}/webhooks/stripe")`.

The setting names are the providers' required settings (DESIGN.md, "Configuration names"); a test checks
them against the provider descriptors, which this module does not import (the fakes are written apart from
the code they stand in for). Lemon Squeezy's fake also accepts the variants the settings name
(`LEMONSQUEEZY_VARIANT_ID`, `LEMONSQUEEZY_VARIANT_<PLAN>`), so checkouts for them are not refused.
"""

from __future__ import annotations

from collections.abc import Mapping

from thinbase.fakes.payments.base import FakeProvider
from thinbase.fakes.payments.doku import DokuFake
from thinbase.fakes.payments.lemonsqueezy import LemonSqueezyFake
from thinbase.fakes.payments.midtrans import MidtransFake
from thinbase.fakes.payments.razorpay import RazorpayFake
from thinbase.fakes.payments.stripe import StripeFake

# The settings each fake's secrets come from, in its constructor's order.
SETTINGS: dict[str, tuple[str, ...]] = {
    "midtrans": ("MIDTRANS_SERVER_KEY",),
    "doku": ("DOKU_CLIENT_ID", "DOKU_SECRET_KEY"),
    "stripe": ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"),
    "lemonsqueezy": ("LEMONSQUEEZY_API_KEY", "LEMONSQUEEZY_STORE_ID", "LEMONSQUEEZY_WEBHOOK_SECRET"),
    "razorpay": ("RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET", "RAZORPAY_WEBHOOK_SECRET"),
}
_VARIANT = "LEMONSQUEEZY_VARIANT_"


def build_fake(
    name: str, settings: Mapping[str, str], *, webhook_url: str | None = None, port: int = 0
) -> FakeProvider:
    """The fake for provider `name` with the secrets in `settings` (not started: call `.start()` or use
    it as a context manager). Raises ValueError for an unknown provider or a missing setting."""
    if name not in SETTINGS:
        raise ValueError(f"no payment fake for {name!r}; there are: {', '.join(SETTINGS)}")
    missing = [key for key in SETTINGS[name] if not settings.get(key, "").strip()]
    if missing:
        raise ValueError(f"the {name} fake needs {', '.join(missing)}")
    s = [settings[key].strip() for key in SETTINGS[name]]
    if name == "midtrans":
        return MidtransFake(s[0], webhook_url=webhook_url, port=port)
    if name == "doku":
        return DokuFake(s[0], s[1], webhook_url=webhook_url, port=port)
    if name == "stripe":
        return StripeFake(s[0], s[1], webhook_url=webhook_url, port=port)
    if name == "razorpay":
        return RazorpayFake(s[0], s[1], s[2], webhook_url=webhook_url, port=port)
    variants = {v.strip() for k, v in settings.items() if k.startswith(_VARIANT) and v.strip()}
    return LemonSqueezyFake(s[0], s[1], s[2], variants or None, webhook_url=webhook_url, port=port)
