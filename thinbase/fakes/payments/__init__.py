"""Local fakes of the five payment providers' documented APIs, served over real HTTP on 127.0.0.1.

Each fake checks what the real API checks and we rely on (the auth header, the request's shape, the
amount's units), records every request, and answers in the provider's documented shapes, including its
error bodies. Each also serves a hosted checkout page with Pay, Fail and Cancel buttons that sends the
provider's real signed webhooks to `webhook_url` (retried on 5xx), and lists what it sent at
`/_fake/deliveries`. They are for tests and local development only: the edge app never imports them.

In a test, as a context manager:

    with MidtransFake(server_key="SB-Mid-server-test", webhook_url=f"{edge}/webhooks/midtrans") as fake:
        provider = MidtransProvider(..., base_url=fake.url, ...)
        ...
        fake.requests[-1].json()           # what we sent
        fake.fail_next(500)                # the next request gets a 500 (provider's error body by default)
        fake.stall_next(2.0)               # the next request waits 2 s before answering (timeouts)
        fake.set_status(order_id, "settlement")   # what the status API reports for an order
        fake.deliver(*fake.notification(order_id, "settlement"))   # send a signed webhook, recorded
        fake.complete_checkout(token, "pay")      # what the page's Pay button does

Standalone (a runner): `fake = build_fake("stripe", env, webhook_url=f"{edge}/webhooks/stripe").start()`
(the secrets from the same settings the edge app reads, `config.SETTINGS`), then `fake.url`, and
`fake.stop()`, which also stops pending delivery retries.

`set_status(order_id, status, ...)` takes the provider's own status vocabulary (Midtrans
transaction_status, DOKU transaction.status, Stripe session status/payment_status, Razorpay payment status,
Lemon Squeezy order status) and always our order_id. Each fake can also build a signed webhook for an order
(`notification`/`event`/`webhook`), returning `(headers, body)` to POST to the edge handler or hand to
`deliver`; the same state then answers the status API, so a webhook and a later lookup agree.

Layout: `base` holds the HTTP server, request recording, the controls and the page routes;
`checkout_page` renders the pages; `deliveries` sends, retries and records webhooks; `signing` signs them;
`config` builds a fake from settings;
each provider's fake is a module of its own (`midtrans`, `doku`, `stripe`, `lemonsqueezy`, `razorpay`).
The names are re-exported here, so `from thinbase.fakes.payments import StripeFake` works.
"""

from thinbase.fakes.payments.base import (
    THREE_DECIMAL,
    BadRequest,
    FakeProvider,
    RecordedRequest,
    Reply,
    Settlement,
    Signed,
)
from thinbase.fakes.payments.checkout_page import CheckoutView, Outcome
from thinbase.fakes.payments.config import SETTINGS, build_fake
from thinbase.fakes.payments.deliveries import RETRY_DELAYS, Attempt, Deliverer, Delivery
from thinbase.fakes.payments.doku import DokuFake
from thinbase.fakes.payments.lemonsqueezy import LemonSqueezyFake
from thinbase.fakes.payments.midtrans import ORDER_ID, MidtransFake
from thinbase.fakes.payments.razorpay import RazorpayFake
from thinbase.fakes.payments.stripe import StripeFake

# Every payment fake by provider name (the names of the provider registry).
FAKES: dict[str, type[FakeProvider]] = {
    fake.name: fake for fake in (MidtransFake, DokuFake, StripeFake, LemonSqueezyFake, RazorpayFake)
}

__all__ = [
    "FAKES",
    "ORDER_ID",
    "RETRY_DELAYS",
    "SETTINGS",
    "THREE_DECIMAL",
    "Attempt",
    "BadRequest",
    "CheckoutView",
    "Deliverer",
    "Delivery",
    "DokuFake",
    "FakeProvider",
    "LemonSqueezyFake",
    "MidtransFake",
    "Outcome",
    "RazorpayFake",
    "RecordedRequest",
    "Reply",
    "Settlement",
    "Signed",
    "StripeFake",
    "build_fake",
]
