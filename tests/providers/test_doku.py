"""DOKU Checkout: the three computed signature vectors, the notification verifier's refusals, status
normalization, and checkout/status calls against the local fake over real HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.providers.support import EXPONENTS, checkout_request
from thinbase.errors import (
    ProviderError,
    ProviderTimeout,
    WebhookPayloadError,
    WebhookSignatureError,
)
from thinbase.fakes.payments import DokuFake
from thinbase.fakes.payments.signing import doku_headers
from thinbase.functions.payments.providers.doku import DokuProvider, digest, normalize_status, signature

CLIENT_ID = "MCH-0001-10791114622547"
SECRET = "SK-test-secret"
TIMESTAMP = "2020-08-11T08:45:42Z"
POST_BODY = (
    b'{"order":{"amount":20000,"invoice_number":"INV-20210231-0001"},"payment":{"payment_due_date":60}}'
)
NOTIFICATION_BODY = (
    b'{"order":{"invoice_number":"INV-20210124-0001","amount":150000},"transaction":{"status":"SUCCESS",'
    b'"date":"2021-01-27T03:24:23Z","original_request_id":"15022aab-444f-4b04-afa8-ddfce89432ec"}}'
)
NOTIFICATION_HEADERS = {
    "Client-Id": CLIENT_ID,
    "Request-Id": "479b663f-5c9d-400d-8e80-3e548a8f7639",
    "Request-Timestamp": TIMESTAMP,
    "Signature": "HMACSHA256=pfP4h4aD46WJ06yOkAM+U+rd7c9AeE5rDf1QkrtETdk=",
}


def provider(
    http: httpx.Client,
    fake: DokuFake | None = None,
    *,
    secret: str = SECRET,
    client_id: str = CLIENT_ID,
    timeout: float = 5.0,
    notification_path: str = "/payments/notifications",
) -> DokuProvider:
    return DokuProvider(
        client_id,
        secret,
        False,
        fake.url if fake else "http://127.0.0.1:9",
        http,
        timeout=timeout,
        notification_path=notification_path,
    )


def idr(**overrides: object) -> dict[str, object]:
    return {"amount_minor": 14_900_000, "currency": "IDR", "exponent": 2} | overrides


# vectors -----------------------------------------------------------------------------------------------


def test_post_vector() -> None:
    assert digest(POST_BODY) == "iDUNgGutnjXGk8dcBw0J4EtC2qOuQfvV7iyMwgV+y5Q="
    assert (
        signature(
            client_id=CLIENT_ID,
            request_id="fdb69f47-96da-499d-acec-7cdc318ab2fe",
            timestamp=TIMESTAMP,
            target="/checkout/v1/payment",
            secret_key=SECRET,
            body=POST_BODY,
        )
        == "HMACSHA256=5aOXg06Zv2SQOpT23AFAr7rAVAJ3WHsuVPdqcJDuqrs="
    )


def test_get_vector_has_no_digest() -> None:
    assert (
        signature(
            client_id=CLIENT_ID,
            request_id="d895fb53-479c-4f77-a76a-ab81b40d77cb",
            timestamp=TIMESTAMP,
            target="/orders/v1/status/INV-123123-12313",
            secret_key=SECRET,
            body=None,
        )
        == "HMACSHA256=xBNTViuWvtd8BEt6TQbXbdqoggfzgMI7FTY0dv7lJUw="
    )


def test_notification_vector(http: httpx.Client) -> None:
    assert digest(NOTIFICATION_BODY) == "2hZgNKndxXPbtRitO/GoirymsTc39B74ySdfjR19/58="
    provider(http).verify_webhook(NOTIFICATION_HEADERS, NOTIFICATION_BODY)


def test_independent_signer_agrees() -> None:
    ours = signature(
        client_id=CLIENT_ID,
        request_id="r-1",
        timestamp=TIMESTAMP,
        target="/webhooks/doku",
        secret_key=SECRET,
        body=b"{}",
    )
    theirs = doku_headers(
        client_id=CLIENT_ID,
        secret_key=SECRET,
        request_id="r-1",
        timestamp=TIMESTAMP,
        target="/webhooks/doku",
        body=b"{}",
    )["Signature"]
    assert ours == theirs


def test_headers_are_case_insensitive(http: httpx.Client) -> None:
    lowered = {k.lower(): v for k, v in NOTIFICATION_HEADERS.items()}
    provider(http).verify_webhook(lowered, NOTIFICATION_BODY)


# refusals ----------------------------------------------------------------------------------------------


def test_tampered_body(http: httpx.Client) -> None:
    tampered = NOTIFICATION_BODY.replace(b"150000", b"150001")
    with pytest.raises(WebhookSignatureError) as caught:
        provider(http).verify_webhook(NOTIFICATION_HEADERS, tampered)
    assert caught.value.code == "bad_signature"


@pytest.mark.parametrize(
    ("field", "forged"), [(b'"SUCCESS"', b'"REFUNDED"'), (b"INV-20210124-0001", b"INV-1")]
)
def test_fields_that_decide_or_bind_a_payment_are_signed(
    http: httpx.Client, field: bytes, forged: bytes
) -> None:
    """Unlike Midtrans' signature, DOKU's covers the whole body (its Digest line): neither the status nor the
    invoice number that binds the notification to our payment can be changed on a genuine notification."""
    assert field in NOTIFICATION_BODY
    with pytest.raises(WebhookSignatureError):
        provider(http).verify_webhook(NOTIFICATION_HEADERS, NOTIFICATION_BODY.replace(field, forged))


@pytest.mark.parametrize("name", ["Request-Id", "Request-Timestamp"])
def test_tampered_signed_header(http: httpx.Client, name: str) -> None:
    headers = NOTIFICATION_HEADERS | {name: NOTIFICATION_HEADERS[name].replace("4", "5")}
    with pytest.raises(WebhookSignatureError):
        provider(http).verify_webhook(headers, NOTIFICATION_BODY)


def test_wrong_secret(http: httpx.Client) -> None:
    with pytest.raises(WebhookSignatureError) as caught:
        provider(http, secret="SK-other").verify_webhook(NOTIFICATION_HEADERS, NOTIFICATION_BODY)
    assert "SK-" not in str(caught.value)


def test_other_client_id(http: httpx.Client) -> None:
    with pytest.raises(WebhookSignatureError):
        provider(http, client_id="MCH-0002-000").verify_webhook(NOTIFICATION_HEADERS, NOTIFICATION_BODY)


def test_signed_for_another_path(http: httpx.Client) -> None:
    with pytest.raises(WebhookSignatureError):
        provider(http, notification_path="/webhooks/doku").verify_webhook(
            NOTIFICATION_HEADERS, NOTIFICATION_BODY
        )


@pytest.mark.parametrize("missing", ["Client-Id", "Request-Id", "Request-Timestamp", "Signature"])
def test_missing_header(http: httpx.Client, missing: str) -> None:
    headers = {k: v for k, v in NOTIFICATION_HEADERS.items() if k != missing}
    with pytest.raises(WebhookSignatureError) as caught:
        provider(http).verify_webhook(headers, NOTIFICATION_BODY)
    assert caught.value.code == "missing_signature"


def test_no_timestamp_window(http: httpx.Client) -> None:
    # DOKU signs the timestamp but documents no tolerance and retries hours later: no window is enforced.
    provider(http).verify_webhook(
        NOTIFICATION_HEADERS, NOTIFICATION_BODY, now=datetime(2030, 1, 1).timestamp()
    )


def test_unreadable_body(http: httpx.Client) -> None:
    with pytest.raises(WebhookPayloadError):
        provider(http).parse_webhook(NOTIFICATION_HEADERS, b"nope", exponents=EXPONENTS)


# normalization -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("SUCCESS", "paid"),
        ("FAILED", "failed"),
        ("EXPIRED", "expired"),
        ("REFUNDED", "refunded"),
        ("PENDING", "pending"),
        ("REDIRECT", "pending"),
        ("TIMEOUT", "pending"),
        ("success", "paid"),
        ("SOMETHING_NEW", None),
        (None, None),
    ],
)
def test_normalize_status(status: str | None, expected: str | None) -> None:
    assert normalize_status(status) == expected


def test_parse_vector_notification(http: httpx.Client) -> None:
    event = provider(http).parse_webhook(NOTIFICATION_HEADERS, NOTIFICATION_BODY, exponents=EXPONENTS)
    assert event.event_key == "479b663f-5c9d-400d-8e80-3e548a8f7639"
    assert event.event_type == "SUCCESS"
    assert event.status == "paid"
    assert event.order_id == "INV-20210124-0001"
    assert event.amount_minor == 15_000_000
    assert event.currency == "IDR"
    assert event.occurred_at == datetime(2021, 1, 27, 3, 24, 23, tzinfo=UTC)


def test_unknown_status_is_ignored(http: httpx.Client) -> None:
    body = json.dumps({"order": {"invoice_number": "INV-1"}, "transaction": {"status": "NEW_THING"}}).encode()
    event = provider(http).parse_webhook({"Request-Id": "r-9"}, body, exponents=EXPONENTS)
    assert event.status is None
    assert event.event_key == "r-9"


# checkout over HTTP ------------------------------------------------------------------------------------


def test_create_checkout(http: httpx.Client, doku_fake: DokuFake) -> None:
    request = checkout_request(**idr())
    result = provider(http, doku_fake).create_checkout(request)
    sent = doku_fake.requests[-1]
    assert sent.path == "/checkout/v1/payment"
    assert sent.header("client-id") == CLIENT_ID
    assert sent.header("request-id") == request.idempotency_key
    body = sent.json()
    assert body["order"]["amount"] == 149_000
    assert body["order"]["invoice_number"] == request.order_id
    assert body["order"]["callback_url"] == request.return_url
    assert body["order"]["callback_url_cancel"] == request.cancel_url
    assert body["order"]["line_items"] == [{"name": "Pro", "price": 149_000, "quantity": 1, "sku": "PRO"}]
    assert body["payment"]["payment_due_date"] == 60  # 1 h 59 m left: whole hours, rounded down
    assert body["customer"] == {"email": "ada@example.test", "name": "Ada Lovelace"}
    assert result.redirect_url is not None
    assert result.redirect_url.startswith(f"{doku_fake.url}/checkout/")
    assert result.token is not None
    assert result.expires_at is not None
    assert result.expires_at <= request.expires_at


def test_repeated_request_id_replays_the_checkout(http: httpx.Client, doku_fake: DokuFake) -> None:
    # DOKU answers a repeated Request-Id + body with 409 and the original body: that is success.
    p = provider(http, doku_fake)
    request = checkout_request(**idr(expires_at=datetime.now(UTC) + timedelta(hours=24)))
    first = p.create_checkout(request)
    again = p.create_checkout(request)
    assert [r.header("request-id") for r in doku_fake.requests] == [request.idempotency_key] * 2
    assert doku_fake.requests[0].body == doku_fake.requests[1].body
    assert again.redirect_url == first.redirect_url


def test_409_without_a_checkout_is_a_conflict(http: httpx.Client, doku_fake: DokuFake) -> None:
    doku_fake.fail_next(409, {"error": {"code": "duplicate", "message": "Duplicate Request-Id"}})
    with pytest.raises(ProviderError) as caught:
        provider(http, doku_fake).create_checkout(checkout_request(**idr()))
    assert caught.value.code == "provider_conflict"


@pytest.mark.parametrize(
    ("left", "due"),
    [(timedelta(hours=24), 23 * 60), (timedelta(minutes=90), 60), (timedelta(minutes=45, seconds=30), 45)],
)
def test_due_date(http: httpx.Client, doku_fake: DokuFake, left: timedelta, due: int) -> None:
    provider(http, doku_fake).create_checkout(checkout_request(**idr(expires_at=datetime.now(UTC) + left)))
    assert doku_fake.requests[-1].json()["payment"]["payment_due_date"] == due


def test_long_idempotency_key_is_hashed(http: httpx.Client, doku_fake: DokuFake) -> None:
    provider(http, doku_fake).create_checkout(checkout_request(**idr(idempotency_key="k" * 200)))
    assert len(doku_fake.requests[-1].header("request-id") or "") == 64


def test_wrong_secret_is_an_auth_error(http: httpx.Client, doku_fake: DokuFake) -> None:
    with pytest.raises(ProviderError) as caught:
        provider(http, doku_fake, secret="SK-wrong").create_checkout(checkout_request(**idr()))
    assert caught.value.code == "provider_auth_failed"
    assert "Invalid Header Signature" in caught.value.message
    assert caught.value.provider_code == "invalid_signature"


def test_sen_and_other_currencies_are_refused(http: httpx.Client, doku_fake: DokuFake) -> None:
    p = provider(http, doku_fake)
    with pytest.raises(ProviderError, match="amount_not_representable"):
        p.create_checkout(checkout_request(**idr(amount_minor=14_900_001)))
    with pytest.raises(ProviderError, match="unsupported_currency"):
        p.create_checkout(checkout_request())
    assert doku_fake.requests == []


def test_server_error_and_timeout(http: httpx.Client, doku_fake: DokuFake) -> None:
    doku_fake.fail_next(500)
    with pytest.raises(ProviderError) as caught:
        provider(http, doku_fake).create_checkout(checkout_request(**idr()))
    assert caught.value.code == "provider_unavailable"
    doku_fake.stall_next(2.0)
    with pytest.raises(ProviderTimeout):
        provider(http, doku_fake, timeout=0.3).create_checkout(checkout_request(**idr(idempotency_key="k2")))


# status over HTTP --------------------------------------------------------------------------------------


def test_status_unknown_is_none(http: httpx.Client, doku_fake: DokuFake) -> None:
    assert provider(http, doku_fake).fetch_status("INV-NONE", None, amount_exponent=2) is None
    sent = doku_fake.requests[-1]
    assert sent.path == "/orders/v1/status/INV-NONE"
    assert sent.body == b""


def test_status_and_notification(http: httpx.Client, doku_fake: DokuFake) -> None:
    p = provider(http, doku_fake, notification_path="/webhooks/doku")
    request = checkout_request(**idr())
    p.create_checkout(request)
    headers, body = doku_fake.notification(request.order_id, "SUCCESS")
    p.verify_webhook(headers, body)
    event = p.parse_webhook(headers, body, exponents=EXPONENTS)
    assert event.status == "paid"
    assert event.amount_minor == 14_900_000
    assert event.event_key == headers["Request-Id"]
    status = p.fetch_status(request.order_id, None, amount_exponent=2)
    assert status is not None
    assert status.status == "paid"
    assert status.amount_minor == 14_900_000
    assert status.event_key == f"status:{request.order_id}:SUCCESS:2026-11-22T07:00:00Z"
    doku_fake.set_status(request.order_id, "REFUNDED")
    refunded = p.fetch_status(request.order_id, None, amount_exponent=2)
    assert refunded is not None
    assert refunded.status == "refunded"
