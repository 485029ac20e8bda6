"""Razorpay: the published vectors byte-exact, agreement with the official SDK on generated cases, the
verifier's refusals, normalization, and Orders calls against the fake."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import httpx
import pytest
import razorpay as razorpay_sdk  # type: ignore[import-untyped]  # the SDK ships no type information

from tests.providers.support import EXPONENTS, checkout_request
from thinbase.errors import (
    ProviderError,
    ProviderTimeout,
    WebhookPayloadError,
    WebhookSignatureError,
)
from thinbase.fakes.payments import RazorpayFake
from thinbase.fakes.payments.signing import hex_hmac
from thinbase.functions.payments.providers.razorpay import (
    RazorpayProvider,
    checkout_signature,
    normalize_status,
    to_razorpay_amount,
)

WEBHOOK_BODY = (Path(__file__).parent / "razorpay_webhook_body.json").read_bytes()
WEBHOOK_SIGNATURE = "d60e67fd884556c045e9be7dad57903e33efc7172c17c6e3ef77db42d2b366e9"
WEBHOOK_SECRET = "webhook_secret"  # what the razorpay_fake fixture signs with
KEY_SECRET = "rzp_test_secret"
SDK = razorpay_sdk.Client(auth=("key_id", "key_secret"))


def provider(
    http: httpx.Client,
    fake: RazorpayFake | None = None,
    *,
    webhook_secret: str = WEBHOOK_SECRET,
    key_secret: str = KEY_SECRET,
    timeout: float = 5.0,
) -> RazorpayProvider:
    base = fake.url if fake else "http://127.0.0.1:9"
    return RazorpayProvider("rzp_test_key", key_secret, webhook_secret, base, http, timeout=timeout)


def sdk_accepts(body: bytes, signature: str, secret: str) -> bool:
    try:
        return bool(SDK.utility.verify_webhook_signature(body.decode(), signature, secret))
    except razorpay_sdk.errors.SignatureVerificationError:
        return False


def ours_accepts(http: httpx.Client, body: bytes, signature: str, secret: str) -> bool:
    try:
        provider(http, webhook_secret=secret).verify_webhook({"X-Razorpay-Signature": signature}, body)
    except WebhookSignatureError:
        return False
    return True


# published vectors -------------------------------------------------------------------------------------


def test_fixture_is_byte_exact() -> None:
    assert len(WEBHOOK_BODY) == 971
    assert WEBHOOK_BODY.endswith(b"}\n")
    assert (
        hashlib.sha256(WEBHOOK_BODY).hexdigest()
        == "9cc0236491299f34a154292eaed46d94b010f44b22095c034f884ca6a1862bef"
    )


def test_published_webhook_vector(http: httpx.Client) -> None:
    provider(http, webhook_secret="key_secret").verify_webhook(
        {"X-Razorpay-Signature": WEBHOOK_SIGNATURE}, WEBHOOK_BODY
    )
    assert sdk_accepts(WEBHOOK_BODY, WEBHOOK_SIGNATURE, "key_secret")


def test_published_payment_vector(http: httpx.Client) -> None:
    expected = "b2335e3b0801106b84a7faff035df56ecffde06918c9ddd1f0fafbb37a51cc89"
    assert checkout_signature("key_secret", "fake_order_id", "fake_payment_id") == expected
    provider(http, key_secret="key_secret").verify_checkout_signature(
        "fake_order_id", "fake_payment_id", expected
    )
    with pytest.raises(WebhookSignatureError):
        provider(http, key_secret="key_secret").verify_checkout_signature("fake_order_id", "other", expected)


def test_published_subscription_vector() -> None:
    expected = "601f383334975c714c91a7d97dd723eb56520318355863dcf3821c0d07a17693"
    assert (
        checkout_signature("EnLs21M47BllR3X8PSFtjtbd", "pay_IDZNwZZFtnjyym", "sub_ID6MOhgkcoHj9I") == expected
    )


def test_published_payment_link_vector() -> None:
    expected = "07ae18789e35093e51d0a491eb9922646f3f82773547e5b0f67ee3f2d3bf7d5b"
    parts = ("plink_IH3cNucfVEgV68", "TSsd1989", "paid", "pay_IH3d0ara9bSsjQ")
    assert checkout_signature("EnLs21M47BllR3X8PSFtjtbd", *parts) == expected


def test_compact_computed_vector(http: httpx.Client) -> None:
    signature = "63482aecf393ec15e418daab94dffe6cd7a1ddeec5ade268106920e9f1c8363d"
    provider(http).verify_webhook({"X-Razorpay-Signature": signature}, b'{"event":"payment.captured"}')


# agreement with the official SDK ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_agrees_with_the_sdk_on_generated_cases(http: httpx.Client, seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 -- seeded on purpose: reproducible cases, not secrets
    for index in range(80):
        secret = "".join(
            rng.choice("abcdefghijklmnopqrstuvwxyzABCDEF0123456789") for _ in range(rng.randint(6, 40))
        )
        body = json.dumps({"event": "payment.captured", "n": index, "note": "₹ नमस्ते " * index}).encode()
        good = hex_hmac(secret, body)
        for candidate_body, signature, key, valid in (
            (body, good, secret, True),
            (body + b"\n", good, secret, False),
            (body, good, secret[:-1], False),
            (body, good.upper(), secret, False),  # hex is compared exactly, as the SDK does
            (body, good[:-2], secret, False),
        ):
            assert sdk_accepts(candidate_body, signature, key) is valid
            assert ours_accepts(http, candidate_body, signature, key) is valid


def test_sdk_payment_signature_agrees() -> None:
    client = razorpay_sdk.Client(auth=("rzp_test_key", "rzp_test_secret"))
    signature = checkout_signature("rzp_test_secret", "order_1", "pay_1")
    assert client.utility.verify_payment_signature(
        {"razorpay_order_id": "order_1", "razorpay_payment_id": "pay_1", "razorpay_signature": signature}
    )


# refusals ----------------------------------------------------------------------------------------------


def test_tampered_body(http: httpx.Client) -> None:
    tampered = WEBHOOK_BODY.replace(b"1000000", b"1000001")
    with pytest.raises(WebhookSignatureError) as caught:
        provider(http, webhook_secret="key_secret").verify_webhook(
            {"X-Razorpay-Signature": WEBHOOK_SIGNATURE}, tampered
        )
    assert caught.value.code == "bad_signature"


def test_reserialized_body_fails(http: httpx.Client) -> None:
    # Only the raw bytes verify: the same JSON re-serialized is another message.
    reserialized = json.dumps(json.loads(WEBHOOK_BODY)).encode()
    with pytest.raises(WebhookSignatureError):
        provider(http, webhook_secret="key_secret").verify_webhook(
            {"X-Razorpay-Signature": WEBHOOK_SIGNATURE}, reserialized
        )


def test_wrong_secret(http: httpx.Client) -> None:
    with pytest.raises(WebhookSignatureError) as caught:
        provider(http, webhook_secret="rzp_test_secret").verify_webhook(
            {"X-Razorpay-Signature": WEBHOOK_SIGNATURE}, WEBHOOK_BODY
        )
    assert "rzp_test_secret" not in str(caught.value)


@pytest.mark.parametrize("headers", [{}, {"X-Razorpay-Signature": ""}, {"X-Signature": WEBHOOK_SIGNATURE}])
def test_missing_header(http: httpx.Client, headers: dict[str, str]) -> None:
    with pytest.raises(WebhookSignatureError) as caught:
        provider(http, webhook_secret="key_secret").verify_webhook(headers, WEBHOOK_BODY)
    assert caught.value.code == "missing_signature"


def test_no_timestamp_window(http: httpx.Client) -> None:
    # The scheme signs no timestamp; an event from 2014 (the fixture's created_at) still verifies.
    provider(http, webhook_secret="key_secret").verify_webhook(
        {"x-razorpay-signature": WEBHOOK_SIGNATURE}, WEBHOOK_BODY, now=4_000_000_000
    )


# normalization -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("payment.captured", "paid"),
        ("order.paid", "paid"),
        ("payment.failed", "failed"),
        ("refund.processed", "refund"),
        ("payment.refunded", "refund"),
        ("payment.authorized", None),
        ("refund.created", None),
        ("refund.failed", None),
        ("payment.dispute.created", "dispute_opened"),
        ("payment.dispute.won", "dispute_won"),
        ("payment.dispute.lost", "dispute_lost"),
        ("payment.dispute.under_review", None),
        ("payment.dispute.action_required", None),
        ("payment.dispute.closed", None),  # without a dispute entity saying won or lost
        ("subscription.charged", None),
    ],
)
def test_normalize_status(event: str, expected: str | None) -> None:
    assert normalize_status(event) == expected


def test_parse_published_body(http: httpx.Client) -> None:
    headers = {"X-Razorpay-Event-Id": "evt_fixture"}
    event = provider(http).parse_webhook(headers, WEBHOOK_BODY, exponents=EXPONENTS)
    assert event.event_key == "evt_fixture"
    assert event.event_type == "payment.authorized"
    assert event.status is None  # authorized is not captured
    assert event.order_id is None  # no order_id in its notes: ignored by SQL as an unknown order
    assert event.amount_minor == 1_000_000
    assert event.currency == "INR"


def test_event_key_without_the_header(http: httpx.Client) -> None:
    event = provider(http).parse_webhook({}, WEBHOOK_BODY, exponents=EXPONENTS)
    assert event.event_key == "payment.authorized:pay_6koWN7bvxujzxM:1400826760"


def test_malformed(http: httpx.Client) -> None:
    with pytest.raises(WebhookPayloadError):
        provider(http).parse_webhook({}, b'{"entity": "event"}', exponents=EXPONENTS)
    with pytest.raises(WebhookPayloadError):
        provider(http).parse_webhook({}, b"\x00", exponents=EXPONENTS)


# amounts -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "exponent", "expected"),
    [
        (74_900, "INR", 2, 74_900),
        (1_400, "JPY", 0, 1_400),
        (295_990, "KWD", 3, 295_990),
        (900, "USD", 2, 900),
    ],
)
def test_to_razorpay_amount(amount: int, currency: str, exponent: int, expected: int) -> None:
    assert to_razorpay_amount(amount, currency, exponent) == expected


def test_three_decimal_amounts_end_in_zero() -> None:
    with pytest.raises(ProviderError, match="amount_not_representable"):
        to_razorpay_amount(295_991, "KWD", 3)


# Orders over HTTP --------------------------------------------------------------------------------------


def test_create_order(http: httpx.Client, razorpay_fake: RazorpayFake) -> None:
    request = checkout_request(amount_minor=74_900, currency="INR")
    result = provider(http, razorpay_fake).create_checkout(request)
    sent = razorpay_fake.requests[-1]
    assert sent.path == "/v1/orders"
    assert sent.header("authorization") == "Basic cnpwX3Rlc3Rfa2V5OnJ6cF90ZXN0X3NlY3JldA=="
    assert sent.json() == {
        "amount": 74_900,
        "currency": "INR",
        "receipt": request.order_id,
        "notes": {"order_id": request.order_id, "plan_code": "PRO"},
    }
    assert result.provider_payment_id is not None
    assert result.provider_payment_id.startswith("order_")
    assert result.token == result.provider_payment_id
    assert result.redirect_url is None


@pytest.mark.parametrize(
    ("amount", "currency", "exponent", "sent"), [(1_400, "JPY", 0, 1_400), (5_120, "KWD", 3, 5_120)]
)
def test_create_order_in_other_exponents(
    http: httpx.Client, razorpay_fake: RazorpayFake, amount: int, currency: str, exponent: int, sent: int
) -> None:
    provider(http, razorpay_fake).create_checkout(
        checkout_request(amount_minor=amount, currency=currency, exponent=exponent)
    )
    assert razorpay_fake.requests[-1].json()["amount"] == sent


def test_below_minimum_is_rejected_with_razorpays_code(
    http: httpx.Client, razorpay_fake: RazorpayFake
) -> None:
    with pytest.raises(ProviderError) as caught:
        provider(http, razorpay_fake).create_checkout(checkout_request(amount_minor=50, currency="INR"))
    assert caught.value.code == "provider_rejected"
    assert caught.value.provider_code == "BAD_REQUEST_ERROR"
    assert "at least INR 1.00" in caught.value.message


def test_long_order_id_is_refused_locally(http: httpx.Client, razorpay_fake: RazorpayFake) -> None:
    with pytest.raises(ProviderError, match="order_id_too_long"):
        provider(http, razorpay_fake).create_checkout(checkout_request(order_id="X" * 41))
    assert razorpay_fake.requests == []


def test_auth_server_errors_and_timeout(http: httpx.Client, razorpay_fake: RazorpayFake) -> None:
    with pytest.raises(ProviderError, match="provider_auth_failed"):
        provider(http, razorpay_fake, key_secret="wrong").create_checkout(checkout_request())
    razorpay_fake.fail_next(500)
    with pytest.raises(ProviderError) as caught:
        provider(http, razorpay_fake).create_checkout(checkout_request())
    assert caught.value.code == "provider_unavailable"
    assert caught.value.provider_code == "SERVER_ERROR"
    razorpay_fake.stall_next(2.0)
    with pytest.raises(ProviderTimeout):
        provider(http, razorpay_fake, timeout=0.3).create_checkout(checkout_request())


# status over HTTP --------------------------------------------------------------------------------------


def test_status_of_an_unknown_order(http: httpx.Client, razorpay_fake: RazorpayFake) -> None:
    p = provider(http, razorpay_fake)
    assert p.fetch_status("TB-NONE", None, amount_exponent=2) is None
    assert razorpay_fake.requests[-1].query == {"receipt": ["TB-NONE"]}
    assert p.fetch_status("TB-NONE", "order_unknown", amount_exponent=2) is None


def test_status_without_attempts_is_none(http: httpx.Client, razorpay_fake: RazorpayFake) -> None:
    p = provider(http, razorpay_fake)
    request = checkout_request(amount_minor=74_900, currency="INR")
    p.create_checkout(request)
    assert p.fetch_status(request.order_id, None, amount_exponent=2) is None


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [
        (["failed"], "failed"),
        (["failed", "captured"], "paid"),
        (["authorized"], "pending"),
        (["captured", "refunded"], "refund"),
        (["failed", "failed"], "failed"),
    ],
)
def test_status_summarizes_attempts(
    http: httpx.Client, razorpay_fake: RazorpayFake, attempts: list[str], expected: str
) -> None:
    p = provider(http, razorpay_fake)
    request = checkout_request(amount_minor=74_900, currency="INR")
    razorpay_order_id = p.create_checkout(request).provider_payment_id
    for status in attempts:
        razorpay_fake.set_status(request.order_id, status)
    by_id = p.fetch_status(request.order_id, razorpay_order_id, amount_exponent=2)
    by_receipt = p.fetch_status(request.order_id, None, amount_exponent=2)
    assert by_id is not None
    assert by_receipt is not None
    assert by_id.status == by_receipt.status == expected
    assert by_id.event_key == by_receipt.event_key
    assert by_id.order_id == request.order_id
    assert by_id.amount_minor == 74_900


def test_partial_refund_is_a_refund_of_the_cumulative_amount(
    http: httpx.Client, razorpay_fake: RazorpayFake
) -> None:
    p = provider(http, razorpay_fake)
    request = checkout_request(amount_minor=74_900, currency="INR")
    p.create_checkout(request)
    razorpay_fake.set_status(request.order_id, "captured", refund_status="partial", amount_refunded=10_000)
    event = p.fetch_status(request.order_id, None, amount_exponent=2)
    assert event is not None
    assert (event.status, event.amount_minor) == ("refund", 10_000)
    assert event.event_key.endswith(":10000")  # each cumulative amount is its own state


@pytest.mark.parametrize(
    ("event_name", "attempt", "expected", "amount"),
    [
        ("payment.captured", "captured", "paid", 74_900),
        ("order.paid", "captured", "paid", 74_900),
        ("payment.failed", "failed", "failed", 74_900),
        ("refund.processed", "refunded", "refund", 74_900),
    ],
)
def test_webhooks_from_the_fake(
    http: httpx.Client, razorpay_fake: RazorpayFake, event_name: str, attempt: str, expected: str, amount: int
) -> None:
    p = provider(http, razorpay_fake)
    request = checkout_request(amount_minor=74_900, currency="INR")
    created = p.create_checkout(request)
    razorpay_fake.set_status(request.order_id, attempt)
    headers, body = razorpay_fake.webhook(event_name, request.order_id, event_id="evt_test_1")
    p.verify_webhook(headers, body)
    event = p.parse_webhook(headers, body, exponents=EXPONENTS)
    assert event.event_key == "evt_test_1"
    assert event.status == expected
    # Bound by the Razorpay order our server created; our receipt only where the order entity is sent.
    assert event.provider_reference == created.provider_payment_id
    assert event.order_id == (request.order_id if event_name.startswith("order.") else None)
    assert event.client_order_id == request.order_id  # the payment's notes: a cross-check only
    assert event.amount_minor == amount
    assert event.currency == "INR"


def test_payment_notes_never_bind_an_event(http: httpx.Client, razorpay_fake: RazorpayFake) -> None:
    """The notes of a payment come from the buyer's Checkout options: they are reported as a client claim,
    never as the order the event belongs to."""
    p = provider(http, razorpay_fake)
    request = checkout_request(amount_minor=74_900, currency="INR")
    created = p.create_checkout(request)
    razorpay_fake.set_status(request.order_id, "captured", notes={"order_id": "TB-20261122-SOMEONEELSE"})
    headers, body = razorpay_fake.webhook("payment.captured", request.order_id)
    event = p.parse_webhook(headers, body, exponents=EXPONENTS)
    assert event.status == "paid"
    assert (event.order_id, event.provider_reference) == (None, created.provider_payment_id)
    assert event.client_order_id == "TB-20261122-SOMEONEELSE"


def dispute_body(event: str, dispute_status: str, *, amount_refunded: int = 0) -> bytes:
    """A Razorpay dispute event as its webhooks send one: the dispute and the disputed payment."""
    payment = {
        "id": "pay_disputed1",
        "entity": "payment",
        "amount": 74_900,
        "currency": "INR",
        "status": "captured",
        "order_id": "order_disputed1",
        "amount_refunded": amount_refunded,
        "notes": {"order_id": "TB-RZ-1"},
    }
    dispute = {
        "id": "disp_1",
        "entity": "dispute",
        "payment_id": "pay_disputed1",
        "amount": 74_900,
        "currency": "INR",
        "amount_deducted": 74_900 if dispute_status == "lost" else 0,
        "reason_code": "chargeback",
        "status": dispute_status,
        "phase": "chargeback",
    }
    return json.dumps(
        {
            "entity": "event",
            "account_id": "acc_test",
            "event": event,
            "contains": ["payment", "dispute"],
            "payload": {"payment": {"entity": payment}, "dispute": {"entity": dispute}},
            "created_at": 1_700_000_000,
        }
    ).encode()


@pytest.mark.parametrize(
    ("event_name", "dispute_status", "expected"),
    [
        ("payment.dispute.created", "open", "dispute_opened"),
        ("payment.dispute.won", "won", "dispute_won"),
        ("payment.dispute.lost", "lost", "dispute_lost"),
        ("payment.dispute.closed", "won", "dispute_won"),
        ("payment.dispute.closed", "lost", "dispute_lost"),
        ("payment.dispute.closed", "closed", None),
        ("payment.dispute.under_review", "under_review", None),
    ],
)
def test_disputes(http: httpx.Client, event_name: str, dispute_status: str, expected: str | None) -> None:
    body = dispute_body(event_name, dispute_status)
    signature = hex_hmac(WEBHOOK_SECRET, body)
    assert sdk_accepts(body, signature, WEBHOOK_SECRET)
    p = provider(http)
    p.verify_webhook({"X-Razorpay-Signature": signature}, body)
    event = p.parse_webhook(
        {"X-Razorpay-Signature": signature, "X-Razorpay-Event-Id": "evt_d1"}, body, exponents=EXPONENTS
    )
    assert (event.status, event.event_key) == (expected, "evt_d1")
    # Bound like any payment event: by the Razorpay order our server created, never by the notes.
    assert (event.provider_reference, event.order_id, event.client_order_id) == (
        "order_disputed1",
        None,
        "TB-RZ-1",
    )


def test_a_refund_carries_the_payments_cumulative_amount(http: httpx.Client) -> None:
    """refund.processed names one refund (its `amount`); the payment's amount_refunded is the total so far,
    which is what apply_payment_event takes."""
    body = json.loads(dispute_body("refund.processed", "open", amount_refunded=30_000))
    body["payload"] = {
        "payment": body["payload"]["payment"],
        "refund": {"entity": {"id": "rfnd_2", "entity": "refund", "amount": 20_000, "currency": "INR"}},
    }
    raw = json.dumps(body).encode()
    p = provider(http)
    p.verify_webhook({"X-Razorpay-Signature": hex_hmac(WEBHOOK_SECRET, raw)}, raw)
    event = p.parse_webhook({}, raw, exponents=EXPONENTS)
    assert (event.status, event.amount_minor, event.currency) == ("refund", 30_000, "INR")
    assert event.event_key == "refund.processed:rfnd_2:1700000000"  # no event id header: the refund's id
    # Without the payment entity there is no cumulative amount: none is guessed from the one refund.
    del body["payload"]["payment"]
    alone = p.parse_webhook({}, json.dumps(body).encode(), exponents=EXPONENTS)
    assert (alone.status, alone.amount_minor) == ("refund", None)
