"""Local fakes of the five providers' documented APIs, served over real HTTP on 127.0.0.1.

Each fake checks what the real API checks and we rely on (the auth header, the request's shape, the
amount's units), records every request, and answers in the provider's documented shapes, including its
error bodies. Use one as a context manager:

    with MidtransFake(server_key="SB-Mid-server-test") as fake:
        provider = MidtransProvider(..., base_url=fake.url, ...)
        ...
        fake.requests[-1].json()           # what we sent
        fake.fail_next(500)                # the next request gets a 500 (provider's error body by default)
        fake.stall_next(2.0)               # the next request waits 2 s before answering (timeouts)
        fake.set_status(order_id, "settlement")   # what the status API reports for an order

`set_status(order_id, status, ...)` takes the provider's own status vocabulary (Midtrans
transaction_status, DOKU transaction.status, Stripe session status/payment_status, Razorpay payment status,
Lemon Squeezy order status) and always our order_id. Each fake can also build a signed webhook for an order
(`notification`/`event`/`webhook`), returning `(headers, body)` to POST to the edge handler; the same state
then answers the status API, so a webhook and a later lookup agree.

Layout: `base` holds the HTTP server, request recording and the controls; each provider's fake is a
module of its own (`midtrans`, `doku`, `stripe`, `lemonsqueezy`, `razorpay`). The names are re-exported
here, so `from tests.providers.fakes import StripeFake` works. The package imports nothing from
`tests` outside `tests/providers`, so it can move into the distribution as it is.
"""

from tests.providers.fakes.base import THREE_DECIMAL, BadRequest, FakeProvider, RecordedRequest, Reply
from tests.providers.fakes.doku import DokuFake
from tests.providers.fakes.lemonsqueezy import LemonSqueezyFake
from tests.providers.fakes.midtrans import ORDER_ID, MidtransFake
from tests.providers.fakes.razorpay import RazorpayFake
from tests.providers.fakes.stripe import StripeFake

__all__ = [
    "ORDER_ID",
    "THREE_DECIMAL",
    "BadRequest",
    "DokuFake",
    "FakeProvider",
    "LemonSqueezyFake",
    "MidtransFake",
    "RazorpayFake",
    "RecordedRequest",
    "Reply",
    "StripeFake",
]
