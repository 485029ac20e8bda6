"""Errors raised by the payment-provider layer. They extend the tree in `thinbase.errors`:

    ThinbaseError
    ├── ProviderError             a provider API call failed (4xx, 5xx, a body we cannot use, an amount or
    │   │                         currency the provider cannot take); the edge answers 502
    │   └── ProviderTimeout       the provider did not answer in time or could not be reached
    └── WebhookError              an incoming webhook was refused before any database work
        ├── WebhookSignatureError missing or bad signature, stale or future timestamp (HTTP 401)
        └── WebhookPayloadError   the signed body is not something we can read (HTTP 400)

API errors and webhook errors are separate branches on purpose: one is about our outgoing calls, the other
about requests someone sent us. Messages are safe to log and to show: they never contain keys, secrets or
signatures.
"""

from __future__ import annotations

from thinbase.errors import ThinbaseError


class ProviderError(ThinbaseError):
    """A call to a provider's API failed.

    `code` is a stable snake_case code of ours (e.g. `provider_rejected`); `status` is the provider's HTTP
    status when there was one. `provider_code` carries the provider's own error code when it sent one
    (Stripe `amount_too_small`, Razorpay `BAD_REQUEST_ERROR` ...), for logs and operators.
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        *,
        provider: str | None = None,
        provider_code: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.provider = provider
        self.provider_code = provider_code

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, status={self.status!r}, "
            f"provider={self.provider!r})"
        )


class ProviderTimeout(ProviderError):
    """The provider did not answer within the timeout, or the connection failed. Safe to retry later."""


class WebhookError(ThinbaseError):
    """An incoming webhook was refused. `status` is the HTTP status to answer with."""

    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class WebhookSignatureError(WebhookError):
    """Missing or bad signature, or a timestamp outside the tolerance: answered 401."""

    status = 401


class WebhookPayloadError(WebhookError):
    """The body passed verification but is not a payload we can read: answered 400."""

    status = 400
