"""Lemon Squeezy: the computed vector, the verifier's refusals, the derived event key, normalization, and
checkout/order calls against the fake."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.providers.support import EXPONENTS, checkout_request
from thinbase.errors import (
    ProviderError,
    ProviderTimeout,
    WebhookPayloadError,
    WebhookSignatureError,
)
from thinbase.fakes.payments import LemonSqueezyFake
from thinbase.fakes.payments.signing import hex_hmac
from thinbase.functions.payments.providers.lemonsqueezy import (
    LemonSqueezyProvider,
    compute_signature,
    normalize_status,
)

SECRET = "my-signing-secret"
API_KEY = "ls_test_key"  # what the lemonsqueezy_fake fixture accepts
VECTOR_BODY = (
    b'{"meta":{"event_name":"order_created","custom_data":{"user_id":"123"}},'
    b'"data":{"type":"orders","id":"1","attributes":{"status":"paid","total":1199}}}'
)
VECTOR_SIGNATURE = "8a42676605f7140a3039a4e53920e60d73840816545a27943d22a8f11b334a5e"


def provider(
    http: httpx.Client,
    fake: LemonSqueezyFake | None = None,
    *,
    secret: str = SECRET,
    api_key: str = API_KEY,
    variants: dict[str, str] | None = None,
    default_variant: str | None = "1",
    timeout: float = 5.0,
) -> LemonSqueezyProvider:
    return LemonSqueezyProvider(
        api_key,
        "42",
        secret,
        fake.url if fake else "http://127.0.0.1:9",
        http,
        timeout=timeout,
        variant_ids=variants,
        default_variant_id=default_variant,
    )


def order_body(event_name: str = "order_created", **attributes: Any) -> bytes:
    attrs: dict[str, Any] = {
        "status": "paid",
        "currency": "USD",
        "subtotal": 900,
        "tax": 90,
        "total": 990,
        "refunded_amount": 0,
        "created_at": "2026-11-22T07:00:00.000000Z",
        "updated_at": "2026-11-22T07:00:01.000000Z",
        "refunded_at": None,
    }
    attrs.update(attributes)
    return json.dumps(
        {
            "meta": {"event_name": event_name, "custom_data": {"order_id": "TB-LS-1"}},
            "data": {"type": "orders", "id": "5001", "attributes": attrs},
        }
    ).encode()


# signature ---------------------------------------------------------------------------------------------


def test_vector(http: httpx.Client) -> None:
    assert compute_signature(SECRET, VECTOR_BODY) == VECTOR_SIGNATURE
    assert hex_hmac(SECRET, VECTOR_BODY) == VECTOR_SIGNATURE
    provider(http).verify_webhook({"X-Signature": VECTOR_SIGNATURE}, VECTOR_BODY)


def test_tampered_body(http: httpx.Client) -> None:
    with pytest.raises(WebhookSignatureError) as caught:
        provider(http).verify_webhook({"X-Signature": VECTOR_SIGNATURE}, VECTOR_BODY.replace(b"1199", b"1"))
    assert caught.value.code == "bad_signature"


def test_wrong_secret(http: httpx.Client) -> None:
    with pytest.raises(WebhookSignatureError) as caught:
        provider(http, secret="other-secret").verify_webhook({"X-Signature": VECTOR_SIGNATURE}, VECTOR_BODY)
    assert "other-secret" not in str(caught.value)


@pytest.mark.parametrize("headers", [{}, {"X-Signature": ""}, {"X-Razorpay-Signature": VECTOR_SIGNATURE}])
def test_missing_header(http: httpx.Client, headers: dict[str, str]) -> None:
    with pytest.raises(WebhookSignatureError) as caught:
        provider(http).verify_webhook(headers, VECTOR_BODY)
    assert caught.value.code == "missing_signature"


def test_no_timestamp_window(http: httpx.Client) -> None:
    provider(http).verify_webhook({"x-signature": VECTOR_SIGNATURE}, VECTOR_BODY, now=4_000_000_000)


# normalization and event keys ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_name", "order_status", "expected"),
    [
        ("order_created", "paid", "paid"),
        ("order_created", "pending", "pending"),
        ("order_created", "failed", "failed"),
        ("order_created", "fraudulent", "failed"),
        ("order_created", "refunded", "refund"),
        ("order_created", "partial_refund", "refund"),
        ("order_created", "new_status", None),
        ("order_refunded", "refunded", "refund"),
        ("order_refunded", "partial_refund", "refund"),
        ("subscription_created", "active", None),
        ("subscription_payment_success", "paid", None),
        ("license_key_created", None, None),
    ],
)
def test_normalize_status(event_name: str, order_status: str | None, expected: str | None) -> None:
    assert normalize_status(event_name, order_status) == expected


def test_parse_order_created(http: httpx.Client) -> None:
    event = provider(http).parse_webhook({}, order_body(), exponents=EXPONENTS)
    assert event.event_key == "order_created:5001:2026-11-22T07:00:01.000000Z"
    assert event.event_type == "order_created"
    assert event.order_id == "TB-LS-1"
    assert event.status == "paid"
    assert event.amount_minor == 900  # subtotal: our price, before the tax Lemon Squeezy adds
    assert event.currency == "USD"
    assert event.occurred_at == datetime(2026, 11, 22, 7, 0, tzinfo=UTC)


def test_refund_has_its_own_key(http: httpx.Client) -> None:
    p = provider(http)
    created = p.parse_webhook({}, order_body(), exponents=EXPONENTS)
    refunded = p.parse_webhook(
        {},
        order_body(
            "order_refunded",
            status="refunded",
            refunded_amount=900,
            updated_at="2026-11-23T07:00:00.000000Z",
            refunded_at="2026-11-23T07:00:00.000000Z",
        ),
        exponents=EXPONENTS,
    )
    assert refunded.event_key == "order_refunded:5001:2026-11-23T07:00:00.000000Z"
    assert refunded.event_key != created.event_key
    assert refunded.status == "refund"
    assert refunded.amount_minor == 900
    assert refunded.occurred_at == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    # A redelivery carries the same body, so the same key.
    assert p.parse_webhook({}, order_body(), exponents=EXPONENTS).event_key == created.event_key


def test_partial_refunds_carry_the_cumulative_amount_under_their_own_keys(http: httpx.Client) -> None:
    """Lemon Squeezy's refunded_amount is the order's total refunded so far; each refund updates the order,
    so a second partial refund is a new event (its updated_at), carrying the new total."""
    p = provider(http)
    first, second = (
        p.parse_webhook(
            {},
            order_body("order_refunded", status="partial_refund", refunded_amount=amount, updated_at=at),
            exponents=EXPONENTS,
        )
        for amount, at in ((300, "2026-11-23T07:00:00.000000Z"), (500, "2026-11-24T07:00:00.000000Z"))
    )
    assert (first.status, first.amount_minor) == ("refund", 300)
    assert (second.status, second.amount_minor) == ("refund", 500)
    assert first.event_key != second.event_key
    assert (first.order_id, first.currency) == ("TB-LS-1", "USD")


def test_event_name_from_the_header_when_meta_lacks_it(http: httpx.Client) -> None:
    body = json.loads(order_body())
    del body["meta"]["event_name"]
    event = provider(http).parse_webhook(
        {"X-Event-Name": "order_created"}, json.dumps(body).encode(), exponents=EXPONENTS
    )
    assert event.status == "paid"


def test_unhandled_event(http: httpx.Client) -> None:
    body = json.dumps(
        {
            "meta": {"event_name": "license_key_created"},
            "data": {"type": "license-keys", "id": "9", "attributes": {}},
        }
    ).encode()
    event = provider(http).parse_webhook({}, body, exponents=EXPONENTS)
    assert event.status is None
    assert event.order_id is None
    assert event.amount_minor is None


@pytest.mark.parametrize("body", [b"{}", b'{"meta": {"event_name": "order_created"}}', b"nope"])
def test_malformed(http: httpx.Client, body: bytes) -> None:
    with pytest.raises(WebhookPayloadError):
        provider(http).parse_webhook({}, body, exponents=EXPONENTS)


# checkout over HTTP ------------------------------------------------------------------------------------


def test_create_checkout(http: httpx.Client, lemonsqueezy_fake: LemonSqueezyFake) -> None:
    request = checkout_request()
    result = provider(http, lemonsqueezy_fake).create_checkout(request)
    sent = lemonsqueezy_fake.requests[-1]
    assert sent.path == "/v1/checkouts"
    assert sent.header("authorization") == "Bearer ls_test_key"
    assert sent.header("content-type") == "application/vnd.api+json"
    data = sent.json()["data"]
    assert data["relationships"] == {
        "store": {"data": {"type": "stores", "id": "42"}},
        "variant": {"data": {"type": "variants", "id": "1"}},
    }
    attributes = data["attributes"]
    assert attributes["custom_price"] == 900
    assert attributes["checkout_data"]["custom"] == {"order_id": request.order_id, "plan_code": "PRO"}
    assert attributes["checkout_data"]["email"] == "ada@example.test"
    assert attributes["product_options"]["redirect_url"] == request.return_url
    assert attributes["expires_at"].endswith("Z")
    assert result.redirect_url is not None
    assert result.redirect_url.startswith(f"{lemonsqueezy_fake.url}/checkout/")
    assert result.provider_payment_id is not None
    assert result.expires_at == request.expires_at.replace(microsecond=0)


def test_per_plan_variant(http: httpx.Client) -> None:
    with LemonSqueezyFake(api_key=API_KEY, store_id="42", webhook_secret=SECRET, variants={"7"}) as fake:
        provider(http, fake, variants={"PRO": "7"}, default_variant=None).create_checkout(checkout_request())
        assert fake.requests[-1].json()["data"]["relationships"]["variant"]["data"]["id"] == "7"


def test_no_variant_configured(http: httpx.Client, lemonsqueezy_fake: LemonSqueezyFake) -> None:
    with pytest.raises(ProviderError) as caught:
        provider(http, lemonsqueezy_fake, default_variant=None).create_checkout(checkout_request())
    assert caught.value.code == "provider_not_configured"
    assert "LEMONSQUEEZY_VARIANT_PRO" in caught.value.message
    assert lemonsqueezy_fake.requests == []


def test_unknown_variant_is_not_found(http: httpx.Client, lemonsqueezy_fake: LemonSqueezyFake) -> None:
    with pytest.raises(ProviderError) as caught:
        provider(http, lemonsqueezy_fake, default_variant="999").create_checkout(checkout_request())
    assert caught.value.code == "provider_not_found"
    assert "variant does not exist" in caught.value.message


@pytest.mark.parametrize(("currency", "exponent", "amount"), [("JPY", 0, 1400), ("KWD", 3, 5120)])
def test_currencies_without_cents_are_refused(
    http: httpx.Client, lemonsqueezy_fake: LemonSqueezyFake, currency: str, exponent: int, amount: int
) -> None:
    with pytest.raises(ProviderError, match="unsupported_currency"):
        provider(http, lemonsqueezy_fake).create_checkout(
            checkout_request(currency=currency, exponent=exponent, amount_minor=amount)
        )
    assert lemonsqueezy_fake.requests == []


def test_auth_server_errors_and_timeout(http: httpx.Client, lemonsqueezy_fake: LemonSqueezyFake) -> None:
    with pytest.raises(ProviderError) as caught:
        provider(http, lemonsqueezy_fake, api_key="wrong").create_checkout(checkout_request())
    assert caught.value.code == "provider_auth_failed"
    assert "Unauthenticated" in caught.value.message
    lemonsqueezy_fake.fail_next(
        422, {"errors": [{"status": "422", "detail": "The custom price is invalid."}]}
    )
    with pytest.raises(ProviderError, match="The custom price is invalid"):
        provider(http, lemonsqueezy_fake).create_checkout(checkout_request())
    lemonsqueezy_fake.fail_next(503)
    with pytest.raises(ProviderError, match="provider_unavailable"):
        provider(http, lemonsqueezy_fake).create_checkout(checkout_request())
    lemonsqueezy_fake.stall_next(2.0)
    with pytest.raises(ProviderTimeout):
        provider(http, lemonsqueezy_fake, timeout=0.3).create_checkout(checkout_request())


# status over HTTP --------------------------------------------------------------------------------------


def test_checkout_ids_cannot_be_looked_up(http: httpx.Client, lemonsqueezy_fake: LemonSqueezyFake) -> None:
    p = provider(http, lemonsqueezy_fake)
    request = checkout_request()
    checkout_id = p.create_checkout(request).provider_payment_id
    assert p.fetch_status(request.order_id, checkout_id, amount_exponent=2) is None
    assert p.fetch_status(request.order_id, None, amount_exponent=2) is None
    assert len(lemonsqueezy_fake.requests) == 1  # no lookup was attempted


def test_order_lookup(http: httpx.Client, lemonsqueezy_fake: LemonSqueezyFake) -> None:
    p = provider(http, lemonsqueezy_fake)
    request = checkout_request()
    p.create_checkout(request)
    lemonsqueezy_fake.set_status(request.order_id, "paid")
    ls_order_id = lemonsqueezy_fake.ls_order_id(request.order_id)
    event = p.fetch_status(request.order_id, ls_order_id, amount_exponent=2)
    assert event is not None
    assert event.status == "paid"
    assert event.amount_minor == 900
    assert event.event_key == f"status:{ls_order_id}:paid"
    assert lemonsqueezy_fake.requests[-1].path == f"/v1/orders/{ls_order_id}"
    assert p.fetch_status(request.order_id, "999999", amount_exponent=2) is None


def test_webhooks_from_the_fake(http: httpx.Client, lemonsqueezy_fake: LemonSqueezyFake) -> None:
    p = provider(http, lemonsqueezy_fake)
    request = checkout_request()
    p.create_checkout(request)
    lemonsqueezy_fake.set_status(request.order_id, "paid", tax=90)
    headers, body = lemonsqueezy_fake.webhook("order_created", request.order_id)
    p.verify_webhook(headers, body)
    paid = p.parse_webhook(headers, body, exponents=EXPONENTS)
    assert paid.status == "paid"
    assert paid.order_id == request.order_id
    assert paid.amount_minor == 900
    lemonsqueezy_fake.set_status(request.order_id, "refunded")
    headers, body = lemonsqueezy_fake.webhook("order_refunded", request.order_id)
    p.verify_webhook(headers, body)
    refunded = p.parse_webhook(headers, body, exponents=EXPONENTS)
    assert (refunded.status, refunded.amount_minor) == ("refund", 900)
    assert refunded.event_key != paid.event_key
