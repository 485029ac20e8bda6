"""Stripe: the computed vectors, agreement with the official SDK on generated cases, the verifier's
refusals (incl. both timestamp directions), normalization, amounts, and Checkout calls against the fake."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import stripe as stripe_sdk

from tests.conftest import EdgeServer, serve_edge
from tests.providers.support import EXPONENTS, checkout_request
from tests.test_e2e_payments import RETURN_URL, post_webhook, signup, subscription
from thinbase.errors import (
    ProviderError,
    ProviderTimeout,
    WebhookPayloadError,
    WebhookSignatureError,
)
from thinbase.fakes.payments import StripeFake
from thinbase.fakes.payments.signing import stripe_header
from thinbase.functions.payments.providers.stripe import (
    StripeProvider,
    compute_signature,
    form_encode,
    normalize_status,
    stripe_exponent,
    to_stripe_amount,
)
from thinbase.local.stack import LocalStack

SECRET = "whsec_test_secret"
API_KEY = "sk_test_fake"  # what the stripe_fake fixture accepts
T = 1_700_000_000
VECTOR_BODY = b'{"id":"evt_1","type":"checkout.session.completed"}'
VECTOR_V1 = "a13d4b1f9003bc2fb6c06224e878b6056185eaa50d40e1e7dc05517f8af41d7b"
# stripe-python's tests/test_webhook.py DUMMY_WEBHOOK_PAYLOAD, byte for byte (125 bytes).
SDK_DUMMY_PAYLOAD = (
    b'{\n  "id": "evt_test_webhook",\n  "object": "event",\n'
    b'  "data": { "object": { "id": "rdr_123", "object": "terminal.reader" } }\n}'
)
UNUSED_HTTP = httpx.Client()  # verification never calls out; one client for the generated cases
SDK_DUMMY_V1 = "3bfab77baf5f7b6991a46c9b53b6547d7afc56148b10468fcad9f35c1992ffbd"


@pytest.fixture
def stripe_fake() -> Iterator[StripeFake]:
    """The fake, which answers the session search `locate` asks."""
    with StripeFake(secret_key=API_KEY, webhook_secret=SECRET) as fake:
        yield fake


def provider(
    http: httpx.Client,
    fake: StripeFake | None = None,
    *,
    secret_key: str = API_KEY,
    timeout: float = 5.0,
) -> StripeProvider:
    return StripeProvider(
        secret_key, SECRET, fake.url if fake else "http://127.0.0.1:9", http, timeout=timeout
    )


def sdk_accepts(body: bytes, header: str, secret: str) -> bool:
    try:
        return bool(stripe_sdk.WebhookSignature.verify_header(body.decode(), header, secret, tolerance=None))
    except stripe_sdk.SignatureVerificationError:
        return False


def ours_accepts(body: bytes, header: str, secret: str, now: float) -> bool:
    try:
        StripeProvider("sk", secret, None, UNUSED_HTTP).verify_webhook(
            {"Stripe-Signature": header}, body, now=now
        )
    except WebhookSignatureError:
        return False
    return True


# vectors -----------------------------------------------------------------------------------------------


def test_vector_1(http: httpx.Client) -> None:
    assert compute_signature(SECRET, T, VECTOR_BODY) == VECTOR_V1
    provider(http).verify_webhook({"Stripe-Signature": f"t={T},v1={VECTOR_V1}"}, VECTOR_BODY, now=T)


def test_vector_2_sdk_dummy_payload(http: httpx.Client) -> None:
    assert len(SDK_DUMMY_PAYLOAD) == 125
    assert compute_signature(SECRET, T, SDK_DUMMY_PAYLOAD) == SDK_DUMMY_V1
    provider(http).verify_webhook({"Stripe-Signature": f"t={T},v1={SDK_DUMMY_V1}"}, SDK_DUMMY_PAYLOAD, now=T)


def test_vector_3_any_v1_may_match_and_v0_is_ignored(http: httpx.Client) -> None:
    header = f"t={T},v1=deadbeef,v1={VECTOR_V1},v0=abc"
    provider(http).verify_webhook({"Stripe-Signature": header}, VECTOR_BODY, now=T)
    assert sdk_accepts(VECTOR_BODY, header, SECRET)


def test_vector_4_current_clock_refuses_an_old_timestamp(http: httpx.Client) -> None:
    with pytest.raises(WebhookSignatureError) as caught:
        provider(http).verify_webhook({"Stripe-Signature": f"t={T},v1={VECTOR_V1}"}, VECTOR_BODY)
    assert caught.value.code == "stale_timestamp"
    with pytest.raises(stripe_sdk.SignatureVerificationError, match="Timestamp outside the tolerance zone"):
        stripe_sdk.WebhookSignature.verify_header(VECTOR_BODY.decode(), f"t={T},v1={VECTOR_V1}", SECRET, 300)


# agreement with the official SDK ---------------------------------------------------------------------


def _cases(seed: int) -> list[tuple[bytes, str, str, bool]]:
    rng = random.Random(seed)  # noqa: S311 -- seeded on purpose: reproducible cases, not secrets
    cases: list[tuple[bytes, str, str, bool]] = []
    for index in range(60):
        secret = "whsec_" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(32))
        data: dict[str, Any] = {
            "id": f"evt_{index}",
            "amount": rng.randint(1, 10**9),
            "note": "café ☕ " * index,
        }
        body = json.dumps(data, indent=rng.choice([None, 2])).encode()
        t = rng.randint(1_500_000_000, 1_900_000_000)
        good = compute_signature(secret, t, body)
        cases.append((body, f"t={t},v1={good}", secret, True))
        cases.append((body, stripe_header(secret, body, t), secret, True))
        cases.append((body + b" ", f"t={t},v1={good}", secret, False))
        cases.append((body, f"t={t},v1={good}", secret + "x", False))
        cases.append((body, f"t={t + 1},v1={good}", secret, False))
        cases.append(
            (body, f"t={t},v1={good[:-1]}0" if good[-1] != "0" else f"t={t},v1={good[:-1]}1", secret, False)
        )
        cases.append((body, f"t={t},v0={good}", secret, False))
        cases.append((body, f"v1={good},t={t},v1=00", secret, True))
    return cases


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_agrees_with_the_sdk_on_generated_cases(seed: int) -> None:
    for body, header, secret, valid in _cases(seed):
        t = int(header.split("t=")[1].split(",")[0])
        assert sdk_accepts(body, header, secret) is valid, header
        assert ours_accepts(body, header, secret, now=t) is valid, header


def test_sdk_constructs_an_event_from_what_we_sign() -> None:
    body = json.dumps({"id": "evt_9", "object": "event", "type": "charge.refunded", "data": {"object": {}}})
    header = f"t={int(time.time())},v1={compute_signature(SECRET, int(time.time()), body.encode())}"
    event = stripe_sdk.Webhook.construct_event(body, header, SECRET)
    assert event.id == "evt_9"


# refusals ----------------------------------------------------------------------------------------------


def test_tampered_body(http: httpx.Client) -> None:
    with pytest.raises(WebhookSignatureError) as caught:
        provider(http).verify_webhook(
            {"Stripe-Signature": f"t={T},v1={VECTOR_V1}"}, VECTOR_BODY + b"\n", now=T
        )
    assert caught.value.code == "bad_signature"


def test_wrong_secret(http: httpx.Client) -> None:
    other = StripeProvider("sk", "whsec_other", None, http)
    with pytest.raises(WebhookSignatureError) as caught:
        other.verify_webhook({"Stripe-Signature": f"t={T},v1={VECTOR_V1}"}, VECTOR_BODY, now=T)
    assert "whsec" not in str(caught.value)


@pytest.mark.parametrize(
    ("offset", "code"),
    [
        (301, "stale_timestamp"),
        (-301, "future_timestamp"),
        (3600, "stale_timestamp"),
        (-3600, "future_timestamp"),
    ],
)
def test_timestamp_outside_300_seconds(http: httpx.Client, offset: int, code: str) -> None:
    with pytest.raises(WebhookSignatureError) as caught:
        provider(http).verify_webhook(
            {"Stripe-Signature": f"t={T},v1={VECTOR_V1}"}, VECTOR_BODY, now=T + offset
        )
    assert caught.value.code == code


@pytest.mark.parametrize("offset", [300, -300, 0])
def test_timestamp_inside_300_seconds(http: httpx.Client, offset: int) -> None:
    provider(http).verify_webhook({"Stripe-Signature": f"t={T},v1={VECTOR_V1}"}, VECTOR_BODY, now=T + offset)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_signature"),
        ({"Stripe-Signature": ""}, "missing_signature"),
        ({"Stripe-Signature": f"v1={VECTOR_V1}"}, "malformed_signature"),
        ({"Stripe-Signature": f"t=yesterday,v1={VECTOR_V1}"}, "malformed_signature"),
        # str.isdigit() takes these for digits; int() refuses the superscript, and the others are no
        # timestamp Stripe ever writes (ASCII digits, ten of them).
        ({"Stripe-Signature": f"t=\u00b2,v1={VECTOR_V1}"}, "malformed_signature"),
        ({"Stripe-Signature": f"t=1\u00b9\u00b3,v1={VECTOR_V1}"}, "malformed_signature"),
        ({"Stripe-Signature": f"t=\u0661\u0667\u0660\u0660,v1={VECTOR_V1}"}, "malformed_signature"),
        ({"Stripe-Signature": f"t={'9' * 5000},v1={VECTOR_V1}"}, "malformed_signature"),
        ({"Stripe-Signature": f"t=+{T},v1={VECTOR_V1}"}, "malformed_signature"),
        ({"Stripe-Signature": f"t={T}"}, "missing_signature"),
        ({"Stripe-Signature": f"t={T},v0={VECTOR_V1}"}, "missing_signature"),
    ],
)
def test_missing_or_malformed_header(http: httpx.Client, headers: dict[str, str], code: str) -> None:
    with pytest.raises(WebhookSignatureError) as caught:
        provider(http).verify_webhook(headers, VECTOR_BODY, now=T)
    assert caught.value.code == code


def test_header_name_is_case_insensitive(http: httpx.Client) -> None:
    provider(http).verify_webhook({"stripe-signature": f"t={T},v1={VECTOR_V1}"}, VECTOR_BODY, now=T)


# normalization -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "obj", "expected"),
    [
        ("checkout.session.completed", {"payment_status": "paid"}, "paid"),
        ("checkout.session.completed", {"payment_status": "no_payment_required"}, "paid"),
        ("checkout.session.completed", {"payment_status": "unpaid"}, "pending"),
        ("checkout.session.completed", {}, None),
        ("checkout.session.async_payment_succeeded", {}, "paid"),
        ("checkout.session.async_payment_failed", {}, "failed"),
        ("checkout.session.expired", {}, "expired"),
        ("charge.refunded", {"amount": 900, "amount_refunded": 900}, "refund"),
        ("charge.refunded", {"amount": 900, "amount_refunded": 100}, "refund"),
        ("invoice.paid", {}, None),
        ("customer.subscription.updated", {}, None),
        ("charge.dispute.created", {"status": "needs_response"}, "dispute_opened"),
        ("charge.dispute.created", {"status": "warning_needs_response"}, "dispute_opened"),
        ("charge.dispute.closed", {"status": "won"}, "dispute_won"),
        ("charge.dispute.closed", {"status": "warning_closed"}, "dispute_won"),
        ("charge.dispute.closed", {"status": "lost"}, "dispute_lost"),
        ("charge.dispute.closed", {"status": "under_review"}, None),
        ("charge.dispute.updated", {"status": "under_review"}, None),
        ("charge.dispute.funds_withdrawn", {"status": "needs_response"}, None),
    ],
)
def test_normalize_status(event_type: str, obj: dict[str, Any], expected: str | None) -> None:
    assert normalize_status(event_type, obj) == expected


def event_body(event_type: str, obj: dict[str, Any], event_id: str = "evt_123") -> bytes:
    return json.dumps({"id": event_id, "type": event_type, "created": T, "data": {"object": obj}}).encode()


def test_parse_completed_session(http: httpx.Client) -> None:
    session = {
        "id": "cs_1",
        "client_reference_id": "TB-1",
        "metadata": {"order_id": "TB-1"},
        "payment_status": "paid",
        "amount_total": 1400,
        "currency": "jpy",
    }
    event = provider(http).parse_webhook(
        {}, event_body("checkout.session.completed", session), exponents=EXPONENTS
    )
    assert event.event_key == "evt_123"
    assert event.order_id == "TB-1"
    assert event.status == "paid"
    assert event.amount_minor == 1400
    assert event.currency == "JPY"
    assert event.occurred_at == datetime.fromtimestamp(T, UTC)


def test_a_refunded_charge_is_bound_only_by_locating_it(http: httpx.Client) -> None:
    """A charge's metadata names an order, but nothing binds the event until `locate` (the security rule)."""
    charge = {
        "id": "ch_1",
        "metadata": {"order_id": "TB-2"},
        "payment_intent": "pi_1",
        "amount": 5120,
        "amount_refunded": 2560,
        "currency": "kwd",
    }
    event = provider(http).parse_webhook({}, event_body("charge.refunded", charge), exponents=EXPONENTS)
    assert (event.order_id, event.provider_reference, event.bound) == (None, None, False)
    assert event.locate_reference == "pi_1"
    assert (event.status, event.amount_minor, event.currency) == ("refund", 2560, "KWD")  # cumulative


def test_a_dispute_names_its_payment_intent(http: httpx.Client) -> None:
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "charge": "ch_1",
        "payment_intent": {"id": "pi_2", "object": "payment_intent"},  # expanded, as the API may send it
        "amount": 900,
        "currency": "usd",
        "status": "lost",
    }
    event = provider(http).parse_webhook(
        {}, event_body("charge.dispute.closed", dispute, "evt_d"), exponents=EXPONENTS
    )
    assert (event.status, event.locate_reference, event.bound) == ("dispute_lost", "pi_2", False)
    assert (event.event_key, event.amount_minor, event.currency) == ("evt_d", 900, "USD")


def test_unhandled_type_is_ignored(http: httpx.Client) -> None:
    event = provider(http).parse_webhook(
        {}, event_body("customer.created", {"id": "cus_1"}), exponents=EXPONENTS
    )
    assert event.status is None
    assert event.order_id is None


@pytest.mark.parametrize(
    "body",
    [b"{}", b'{"id": "evt_1", "type": "x"}', b'{"id": "evt_1", "type": "x", "data": {"object": 3}}', b"[]"],
)
def test_malformed_event(http: httpx.Client, body: bytes) -> None:
    with pytest.raises(WebhookPayloadError):
        provider(http).parse_webhook({}, body, exponents=EXPONENTS)


# amounts -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "exponent", "expected"),
    [
        (900, "USD", 2, 900),
        (1400, "JPY", 0, 1400),
        (5120, "KWD", 3, 5120),
        (14_900_000, "IDR", 2, 14_900_000),
        (500, "ISK", 0, 50_000),  # ISK: whole krónur, sent with two decimals
        (50_000, "KRW", 0, 50_000),
        (4_990, "BHD", 3, 4_990),
    ],
)
def test_to_stripe_amount(amount: int, currency: str, exponent: int, expected: int) -> None:
    assert to_stripe_amount(amount, currency, exponent) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "exponent"), [(5124, "KWD", 3), (0, "USD", 2), (-5, "USD", 2)]
)
def test_unrepresentable_amounts(amount: int, currency: str, exponent: int) -> None:
    with pytest.raises(ProviderError) as caught:
        to_stripe_amount(amount, currency, exponent)
    assert caught.value.code == "amount_not_representable"


def test_exponents() -> None:
    assert [stripe_exponent(c) for c in ("jpy", "VND", "KWD", "TND", "USD", "ISK", "HUF")] == [
        0,
        0,
        3,
        3,
        2,
        2,
        2,
    ]


def test_form_encoding() -> None:
    encoded = form_encode({"a": {"b": [{"c": 1}, {"c": "x y"}]}, "skip": None, "flag": True, "n": 3})
    assert encoded == b"a%5Bb%5D%5B0%5D%5Bc%5D=1&a%5Bb%5D%5B1%5D%5Bc%5D=x+y&flag=true&n=3"


# Checkout over HTTP ------------------------------------------------------------------------------------


def test_create_checkout(http: httpx.Client, stripe_fake: StripeFake) -> None:
    request = checkout_request(amount_minor=1400, currency="JPY", exponent=0)
    result = provider(http, stripe_fake).create_checkout(request)
    sent = stripe_fake.requests[-1]
    assert sent.path == "/v1/checkout/sessions"
    assert sent.header("authorization") == "Bearer sk_test_fake"
    assert sent.header("idempotency-key") == request.idempotency_key
    form = sent.form()
    assert form["mode"] == "payment"
    assert form["line_items[0][price_data][currency]"] == "jpy"
    assert form["line_items[0][price_data][unit_amount]"] == "1400"
    assert form["line_items[0][price_data][product_data][name]"] == "Pro"
    assert form["line_items[0][quantity]"] == "1"
    assert form["client_reference_id"] == request.order_id
    assert form["metadata[order_id]"] == request.order_id
    assert form["payment_intent_data[metadata][order_id]"] == request.order_id
    assert form["customer_email"] == "ada@example.test"
    assert form["success_url"] == request.return_url
    assert form["cancel_url"] == request.cancel_url
    assert int(form["expires_at"]) == int(request.expires_at.timestamp())
    assert result.provider_payment_id is not None
    assert result.provider_payment_id.startswith("cs_test_")
    assert result.redirect_url == f"{stripe_fake.url}/checkout/{result.provider_payment_id}"
    assert result.expires_at == datetime.fromtimestamp(int(form["expires_at"]), UTC)


def test_kwd_is_sent_in_fils(http: httpx.Client, stripe_fake: StripeFake) -> None:
    provider(http, stripe_fake).create_checkout(
        checkout_request(amount_minor=3_250, currency="KWD", exponent=3)
    )
    assert stripe_fake.requests[-1].form()["line_items[0][price_data][unit_amount]"] == "3250"


def test_kwd_not_ending_in_zero_is_refused_locally(http: httpx.Client, stripe_fake: StripeFake) -> None:
    with pytest.raises(ProviderError, match="amount_not_representable"):
        provider(http, stripe_fake).create_checkout(
            checkout_request(amount_minor=3_251, currency="KWD", exponent=3)
        )
    assert stripe_fake.requests == []


def test_no_cancel_url_is_omitted(http: httpx.Client, stripe_fake: StripeFake) -> None:
    provider(http, stripe_fake).create_checkout(checkout_request(cancel_url=None))
    assert "cancel_url" not in stripe_fake.requests[-1].form()


@pytest.mark.parametrize(
    "expires_in", [timedelta(minutes=5), timedelta(hours=23, minutes=30), timedelta(days=3)]
)
def test_expiry_outside_the_window_is_left_to_stripe(
    http: httpx.Client, stripe_fake: StripeFake, expires_in: timedelta
) -> None:
    request = checkout_request(expires_at=datetime.now(UTC) + expires_in)
    result = provider(http, stripe_fake).create_checkout(request)
    assert "expires_at" not in stripe_fake.requests[-1].form()
    assert result.expires_at is not None  # what Stripe reports: its default of 24 hours
    assert timedelta(hours=23, minutes=59) <= result.expires_at - datetime.now(UTC) <= timedelta(hours=24)


def test_retry_sends_identical_parameters(http: httpx.Client, stripe_fake: StripeFake) -> None:
    # A 24-hour payment: its expiry is left to Stripe, so nothing in the body depends on the clock.
    request = checkout_request(expires_at=datetime.now(UTC) + timedelta(hours=24))
    p = provider(http, stripe_fake)
    p.create_checkout(request)
    time.sleep(1.1)
    p.create_checkout(request)
    assert stripe_fake.requests[0].body == stripe_fake.requests[1].body
    assert len(stripe_fake.sessions) == 1


def test_idempotent_retry_returns_the_same_session(http: httpx.Client, stripe_fake: StripeFake) -> None:
    p = provider(http, stripe_fake)
    request = checkout_request()
    assert p.create_checkout(request).provider_payment_id == p.create_checkout(request).provider_payment_id
    assert len(stripe_fake.sessions) == 1


def test_idempotency_key_reused_with_other_parameters(http: httpx.Client, stripe_fake: StripeFake) -> None:
    p = provider(http, stripe_fake)
    p.create_checkout(checkout_request())
    with pytest.raises(ProviderError) as caught:
        p.create_checkout(checkout_request(amount_minor=1000))
    assert caught.value.code == "provider_rejected"
    assert caught.value.status == 400


def test_bad_key(http: httpx.Client, stripe_fake: StripeFake) -> None:
    with pytest.raises(ProviderError) as caught:
        provider(http, stripe_fake, secret_key="sk_test_wrong").create_checkout(checkout_request())
    assert caught.value.code == "provider_auth_failed"
    assert caught.value.provider_code == "api_key_invalid"
    assert "sk_test_wrong" not in str(caught.value)


def test_stripe_error_code_is_kept(http: httpx.Client, stripe_fake: StripeFake) -> None:
    stripe_fake.fail_next(
        400,
        {
            "error": {
                "type": "invalid_request_error",
                "code": "amount_too_small",
                "message": "Amount too small",
            }
        },
    )
    with pytest.raises(ProviderError) as caught:
        provider(http, stripe_fake).create_checkout(checkout_request(amount_minor=10))
    assert caught.value.code == "provider_rejected"
    assert caught.value.provider_code == "amount_too_small"


def test_rate_limited_server_error_and_timeout(http: httpx.Client, stripe_fake: StripeFake) -> None:
    stripe_fake.fail_next(429)
    with pytest.raises(ProviderError, match="provider_rate_limited"):
        provider(http, stripe_fake).create_checkout(checkout_request())
    stripe_fake.fail_next(502)
    with pytest.raises(ProviderError, match="provider_unavailable"):
        provider(http, stripe_fake).create_checkout(checkout_request())
    stripe_fake.stall_next(2.0)
    with pytest.raises(ProviderTimeout):
        provider(http, stripe_fake, timeout=0.3).create_checkout(checkout_request())


# status over HTTP --------------------------------------------------------------------------------------


def test_status_needs_the_session_id(http: httpx.Client, stripe_fake: StripeFake) -> None:
    assert provider(http, stripe_fake).fetch_status("TB-1", None, amount_exponent=2) is None
    assert stripe_fake.requests == []


def test_status_of_an_unknown_session(http: httpx.Client, stripe_fake: StripeFake) -> None:
    assert provider(http, stripe_fake).fetch_status("TB-1", "cs_nope", amount_exponent=2) is None


@pytest.mark.parametrize(
    ("status", "fields", "expected"),
    [
        ("open", {}, "pending"),
        ("complete", {}, "paid"),
        ("complete", {"refunded": True}, "refund"),
        ("complete", {"amount_refunded": 100}, "refund"),
        ("complete", {"payment_status": "unpaid", "intent_status": "processing"}, "pending"),
        ("complete", {"payment_status": "unpaid", "intent_status": "requires_payment_method"}, "failed"),
        ("expired", {}, "expired"),
    ],
)
def test_status_lookup(
    http: httpx.Client, stripe_fake: StripeFake, status: str, fields: dict[str, Any], expected: str
) -> None:
    p = provider(http, stripe_fake)
    request = checkout_request()
    session_id = p.create_checkout(request).provider_payment_id
    if status != "open":
        stripe_fake.set_status(request.order_id, status, **fields)
    event = p.fetch_status(request.order_id, session_id, amount_exponent=2)
    assert event is not None
    assert event.status == expected
    assert event.order_id == request.order_id
    refunded = 900 if fields.get("refunded") else fields.get("amount_refunded")
    assert event.amount_minor == (refunded if expected == "refund" else 900)  # a refund's is cumulative
    key = (
        f"status:{session_id}:refund:{refunded}"
        if expected == "refund"
        else f"status:{session_id}:{expected}"
    )
    assert event.event_key == key
    sent = stripe_fake.requests[-1]
    assert sent.query["expand[]"] == ["payment_intent.latest_charge"]


def test_webhooks_from_the_fake(http: httpx.Client, stripe_fake: StripeFake) -> None:
    p = provider(http, stripe_fake)
    request = checkout_request(amount_minor=3_250, currency="KWD", exponent=3)
    p.create_checkout(request)
    for event_type, expected in (("checkout.session.completed", "paid"), ("charge.refunded", "refund")):
        stripe_fake.set_status(request.order_id, "complete", refunded=expected == "refund")
        headers, body = stripe_fake.event(event_type, request.order_id)
        p.verify_webhook(headers, body)
        event = p.parse_webhook(headers, body, exponents=EXPONENTS)
        assert event.status == expected
        if expected == "refund":  # a charge is bound through Stripe's answer, not its metadata
            located = p.locate(event)
            assert located is not None
            event = located
        assert event.order_id == request.order_id
        assert event.amount_minor == 3_250
        assert event.currency == "KWD"


# refunds and disputes through the webhook route: bound by locating the PaymentIntent ------------------------

DISPUTE_SECRET = "whsec_dispute_secret"


@pytest.fixture(scope="module")
def dispute_fake() -> Iterator[StripeFake]:
    with StripeFake(secret_key="sk_test_disputes", webhook_secret=DISPUTE_SECRET) as fake:
        yield fake


@pytest.fixture(scope="module")
def dispute_shop(stack: LocalStack, dispute_fake: StripeFake) -> Iterator[EdgeServer]:
    with serve_edge(
        stack,
        PAYMENT_PROVIDER="stripe",
        ALLOWED_RETURN_URLS=RETURN_URL,
        STRIPE_SECRET_KEY="sk_test_disputes",
        STRIPE_WEBHOOK_SECRET=DISPUTE_SECRET,
        STRIPE_BASE_URL=dispute_fake.url,
    ) as server:
        yield server


def charge_event(
    fake: StripeFake, order_id: str, event_type: str, **dispute: Any
) -> tuple[dict[str, str], bytes]:
    """A signed charge.* event of the order's charge: the charge itself, or a dispute of it."""
    if not event_type.startswith("charge.dispute."):
        return fake.event(event_type, order_id)
    charge = fake.session_for(order_id)["payment_intent"]["latest_charge"]
    obj = {
        "id": f"dp_{charge['id'][3:]}",
        "object": "dispute",
        "charge": charge["id"],
        "payment_intent": charge["payment_intent"],
        "amount": charge["amount"],
        "currency": charge["currency"],
        "metadata": {},
        "reason": "fraudulent",
    } | dispute
    body = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": obj},
        }
    ).encode()
    return {"Content-Type": "application/json", "Stripe-Signature": stripe_header(DISPUTE_SECRET, body)}, body


def test_refunds_and_disputes_through_the_webhook(
    stack: LocalStack, dispute_shop: EdgeServer, dispute_fake: StripeFake
) -> None:
    user = signup()
    auth = {"Authorization": f"Bearer {user['access_token']}"}
    with httpx.Client(base_url=dispute_shop.url, timeout=30) as client:
        checkout = client.post(
            "/payments/checkout", json={"plan": "PRO", "currency": "USD"}, headers=auth
        ).json()
        order_id = checkout["order_id"]
        dispute_fake.set_status(order_id, "complete")
        paid = post_webhook(client, "stripe", dispute_fake.event("checkout.session.completed", order_id))
        assert paid.json()["payment_status"] == "paid"

        def send(event_type: str, **dispute: Any) -> dict[str, Any]:
            answer = post_webhook(
                client, "stripe", charge_event(dispute_fake, order_id, event_type, **dispute)
            )
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            return body

        # A partial refund keeps the plan; a second one adds up (Stripe's amount_refunded is cumulative).
        dispute_fake.set_status(order_id, "complete", amount_refunded=300)
        assert send("charge.refunded")["payment_status"] == "partially_refunded"
        located = dispute_fake.requests[-1]
        assert (located.path, located.query["payment_intent"]) == (
            "/v1/checkout/sessions",
            [f"pi_{dispute_fake.session_for(order_id)['id'][3:]}"],
        )
        assert subscription(stack, user["id"])["plan_code"] == "PRO"

        # Stripe cannot be asked which session the dispute's PaymentIntent belongs to: 503, it redelivers.
        opened = charge_event(dispute_fake, order_id, "charge.dispute.created", status="needs_response")
        dispute_fake.fail_next(500)
        refused = post_webhook(client, "stripe", opened)
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "provider_unavailable"
        assert post_webhook(client, "stripe", opened).json()["payment_status"] == "disputed"
        held = subscription(stack, user["id"])
        assert (held["plan_code"], held["status"]) == ("PRO", "past_due")

        assert send("charge.dispute.closed", status="won")["payment_status"] == "partially_refunded"
        assert subscription(stack, user["id"])["status"] == "active"

        dispute_fake.set_status(order_id, "complete", amount_refunded=900)
        assert send("charge.refunded")["payment_status"] == "refunded"
        assert subscription(stack, user["id"])["plan_code"] == "FREE"

        # A charge of a PaymentIntent that no session of ours has: recorded, ignored, never applied.
        stranger = json.loads(charge_event(dispute_fake, order_id, "charge.refunded")[1])
        stranger_id = f"evt_stranger_{uuid.uuid4().hex[:12]}"
        stranger["id"], stranger["data"]["object"]["payment_intent"] = stranger_id, "pi_not_ours"
        body = json.dumps(stranger).encode()
        answer = client.post(
            "/webhooks/stripe",
            content=body,
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": stripe_header(DISPUTE_SECRET, body),
            },
        )
        assert answer.json()["outcome"] == "ignored"
    with stack.superuser_connection() as conn:
        row = conn.execute(
            "select status, last_error from private.webhook_events "
            "where provider = 'stripe' and event_key = %s",
            (stranger_id,),
        ).fetchone()
    assert row == {
        "status": "ignored",
        "last_error": "unlocated: the provider knows no checkout of ours for it",
    }
