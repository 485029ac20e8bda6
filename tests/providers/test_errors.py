"""The exception tree and the HTTP-status-to-code mapping every provider shares."""

from __future__ import annotations

import httpx
import pytest

from tests.providers.support import checkout_request
from thinbase.errors import (
    ProviderError,
    ProviderTimeout,
    ThinbaseError,
    WebhookError,
    WebhookPayloadError,
    WebhookSignatureError,
)
from thinbase.fakes.payments import StripeFake
from thinbase.functions.payments.providers.stripe import StripeProvider


def test_tree() -> None:
    assert issubclass(ProviderError, ThinbaseError)
    assert issubclass(ProviderTimeout, ProviderError)
    assert issubclass(WebhookError, ThinbaseError)
    assert not issubclass(WebhookError, ProviderError)
    assert issubclass(WebhookSignatureError, WebhookError)
    assert issubclass(WebhookPayloadError, WebhookError)
    assert WebhookSignatureError("bad_signature", "x").status == 401
    assert WebhookPayloadError("malformed_body", "x").status == 400


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "provider_rejected"),
        (401, "provider_auth_failed"),
        (403, "provider_auth_failed"),
        (404, "provider_not_found"),
        (409, "provider_conflict"),
        (422, "provider_rejected"),
        (429, "provider_rate_limited"),
        (500, "provider_unavailable"),
        (503, "provider_unavailable"),
        (302, "provider_bad_response"),
    ],
)
def test_status_mapping(http: httpx.Client, stripe_fake: StripeFake, status: int, code: str) -> None:
    stripe_fake.fail_next(status, {"error": {"message": "no " * 200}})
    provider = StripeProvider("sk_test_fake", "whsec_test_secret", stripe_fake.url, http)
    with pytest.raises(ProviderError) as caught:
        provider.create_checkout(checkout_request())
    assert caught.value.code == code
    assert caught.value.status == status
    assert caught.value.provider == "stripe"
    assert len(caught.value.message) < 260  # the provider's explanation is shortened
    assert "sk_test_fake" not in repr(caught.value)


def test_error_body_that_is_not_json(http: httpx.Client, stripe_fake: StripeFake) -> None:
    stripe_fake.fail_next(500, b"<html>Bad gateway</html>")
    provider = StripeProvider("sk_test_fake", "whsec_test_secret", stripe_fake.url, http)
    with pytest.raises(ProviderError) as caught:
        provider.create_checkout(checkout_request())
    assert caught.value.code == "provider_unavailable"
    assert caught.value.message == "stripe answered HTTP 500"
