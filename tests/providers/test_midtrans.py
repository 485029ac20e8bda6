"""Midtrans: the signature_key vector, the verifier's refusals, status normalization, and Snap/status calls
against the local fake over real HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from tests.providers.support import EXPONENTS, checkout_request
from thinbase.errors import (
    ProviderError,
    ProviderTimeout,
    WebhookPayloadError,
    WebhookSignatureError,
)
from thinbase.fakes.payments import MidtransFake
from thinbase.fakes.payments.signing import midtrans_signature
from thinbase.functions.payments.providers.midtrans import MidtransProvider, normalize_status, signature_key

DOC_KEY = "askvnoibnosifnboseofinbofinfgbiufglnbfg"
DOC_SIGNATURE = (
    "edc076b21793ebe3e17926350f5b8ae67d902fe657b3d0aa31b932d5c127e2375d308a2bc94f3265ac2d80a1f181a79b997ac178a2"
    "36fcff35af263fc4d4c231"
)
NO_DECIMALS_SIGNATURE = (
    "5f363520e86c10c2ea14074cd09dc1d67299633558abe291ded95a16908f9ec5071e982c289c3333bcbcfe62dd8e78ae4c3d3bd921"
    "91707ba2e91f7169d8411a"
)
SERVER_KEY = "SB-Mid-server-test"


def provider(http: httpx.Client, fake: MidtransFake | None = None, **kwargs: object) -> MidtransProvider:
    return MidtransProvider(
        str(kwargs.get("server_key", SERVER_KEY)),
        "SB-Mid-client-test",
        False,
        fake.url if fake else "http://127.0.0.1:9",
        http,
        timeout=float(str(kwargs.get("timeout", 5.0))),
    )


def doc_notification(**overrides: str) -> bytes:
    body = {
        "transaction_time": "2026-11-22 10:00:00",
        "transaction_status": "settlement",
        "transaction_id": "b5a6a1c2-0000-4000-8000-000000000001",
        "status_code": "200",
        "signature_key": DOC_SIGNATURE,
        "order_id": "1111",
        "gross_amount": "100000.00",
        "currency": "IDR",
        "fraud_status": "accept",
    }
    body.update(overrides)
    return json.dumps(body).encode()


# signature ---------------------------------------------------------------------------------------------


def test_doc_vector() -> None:
    assert signature_key("1111", "200", "100000.00", DOC_KEY) == DOC_SIGNATURE
    assert midtrans_signature("1111", "200", "100000.00", DOC_KEY) == DOC_SIGNATURE


def test_gross_amount_is_used_exactly_as_sent(http: httpx.Client) -> None:
    assert signature_key("1111", "200", "100000", DOC_KEY) == NO_DECIMALS_SIGNATURE
    with pytest.raises(WebhookSignatureError):
        provider(http, server_key=DOC_KEY).verify_webhook(
            {}, doc_notification(signature_key=NO_DECIMALS_SIGNATURE)
        )


def test_doc_notification_verifies(http: httpx.Client) -> None:
    provider(http, server_key=DOC_KEY).verify_webhook({}, doc_notification())


@pytest.mark.parametrize(
    "tamper",
    [
        {"gross_amount": "1000000.00"},
        {"order_id": "1112"},
        {"status_code": "201"},
        {"gross_amount": "100000"},
    ],
)
def test_tampered_signed_field_is_refused(http: httpx.Client, tamper: dict[str, str]) -> None:
    with pytest.raises(WebhookSignatureError) as caught:
        provider(http, server_key=DOC_KEY).verify_webhook({}, doc_notification(**tamper))
    assert caught.value.code == "bad_signature"
    assert DOC_KEY not in str(caught.value)


def test_wrong_server_key_is_refused(http: httpx.Client) -> None:
    with pytest.raises(WebhookSignatureError):
        provider(http, server_key="SB-Mid-server-other").verify_webhook({}, doc_notification())


@pytest.mark.parametrize("missing", ["signature_key", "order_id", "status_code", "gross_amount"])
def test_missing_signed_field_is_refused(http: httpx.Client, missing: str) -> None:
    body = json.loads(doc_notification())
    del body[missing]
    with pytest.raises(WebhookSignatureError) as caught:
        provider(http, server_key=DOC_KEY).verify_webhook({}, json.dumps(body).encode())
    assert caught.value.code == "missing_signature"


def test_numeric_fields_are_not_reformatted(http: httpx.Client) -> None:
    # A gross_amount sent as a JSON number cannot be checked "exactly as sent": refuse, never re-serialize.
    body = json.loads(doc_notification())
    body["gross_amount"] = 100000.00
    with pytest.raises(WebhookSignatureError):
        provider(http, server_key=DOC_KEY).verify_webhook({}, json.dumps(body).encode())


def test_no_timestamp_window(http: httpx.Client) -> None:
    # Midtrans' scheme signs no timestamp, so the clock plays no part: a year later it still verifies.
    later = datetime(2027, 11, 22, tzinfo=UTC).timestamp()
    provider(http, server_key=DOC_KEY).verify_webhook({}, doc_notification(), now=later)


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b"\xff\xfe"])
def test_unreadable_body(http: httpx.Client, body: bytes) -> None:
    with pytest.raises(WebhookPayloadError):
        provider(http).verify_webhook({}, body)


def _signed_fields(**fields: object) -> bytes:
    return json.dumps(
        {"order_id": "1111", "status_code": "200", "gross_amount": "100000.00", "signature_key": "0" * 128}
        | fields
    ).encode()


@pytest.mark.parametrize(
    "body",
    [
        # Midtrans signs fields, so its body is parsed before anything is verified: whatever it holds must
        # come out as WebhookPayloadError (400), never as RecursionError or UnicodeEncodeError (500).
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        _signed_fields(order_id="\ud800"),
        _signed_fields(order_id="ok", x="\udfff"),
        _signed_fields(**{"\ud83d": "a lone high surrogate as a key"}),
        _signed_fields(order_id="11\x0011"),
        _signed_fields(gross_amount=2**63),
        _signed_fields(nested={"deeper": [[[[{"n": -(2**63) - 1}]]]]}),
        b'{"order_id": "1111", "status_code": NaN}',
        b'{"order_id": "1111", "gross_amount": 1e400}',
    ],
    ids=[
        "nested-arrays",
        "nested-objects",
        "lone-high-surrogate",
        "lone-low-surrogate",
        "surrogate-key",
        "nul",
        "integer-2^63",
        "integer-below-bigint",
        "nan",
        "infinite-float",
    ],
)
def test_a_body_the_database_cannot_hold_is_unreadable(http: httpx.Client, body: bytes) -> None:
    with pytest.raises(WebhookPayloadError):
        provider(http).verify_webhook({}, body)


# normalization -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("transaction_status", "fraud_status", "expected"),
    [
        ("settlement", None, "paid"),
        ("settlement", "accept", "paid"),
        ("capture", "accept", "paid"),
        ("capture", None, "paid"),
        ("capture", "challenge", "pending"),
        ("capture", "deny", "failed"),
        ("pending", None, "pending"),
        ("authorize", None, "pending"),
        ("deny", None, "failed"),
        ("cancel", None, "failed"),
        ("failure", None, "failed"),
        ("expire", None, "expired"),
        ("refund", None, "refund"),
        ("partial_refund", None, "refund"),
        ("chargeback", None, "dispute_lost"),
        ("partial_chargeback", None, "dispute_lost"),
        ("something_new", None, None),
        (None, None, None),
    ],
)
def test_normalize_status(
    transaction_status: str | None, fraud_status: str | None, expected: str | None
) -> None:
    assert normalize_status(transaction_status, fraud_status) == expected


def test_parse_settlement(http: httpx.Client) -> None:
    body = doc_notification(settlement_time="2026-11-22 10:05:00")
    event = provider(http).parse_webhook({}, body, exponents=EXPONENTS)
    assert event.status == "paid"
    assert event.order_id == "1111"
    assert event.amount_minor == 10_000_000  # Rp 100,000.00 in minor units (exponent 2)
    assert event.currency == "IDR"
    assert event.event_type == "settlement"
    assert event.event_key == "1111:settlement:200:accept:b5a6a1c2-0000-4000-8000-000000000001"
    assert event.occurred_at == datetime(2026, 11, 22, 10, 5, tzinfo=timezone(timedelta(hours=7)))
    assert event.payload["order_id"] == "1111"


def test_event_key_is_stable_and_changes_with_the_state(http: httpx.Client) -> None:
    p = provider(http)
    first = p.parse_webhook({}, doc_notification(), exponents=EXPONENTS)
    again = p.parse_webhook({}, doc_notification(), exponents=EXPONENTS)
    refund = p.parse_webhook({}, doc_notification(transaction_status="refund"), exponents=EXPONENTS)
    assert first.event_key == again.event_key
    assert refund.event_key != first.event_key
    assert refund.status == "refund"
    assert refund.amount_minor == 10_000_000  # a full refund without refund_amount: all of gross_amount
    assert refund.occurred_at is None  # a refund happens when it is reported, not at transaction_time


def signed_notification(**overrides: str) -> bytes:
    """A notification signed as Midtrans signs it (order_id + status_code + gross_amount + server key)."""
    body = json.loads(doc_notification(**overrides))
    fields = (body["order_id"], body["status_code"], body["gross_amount"])
    body["signature_key"] = signature_key(*fields, DOC_KEY)
    return json.dumps(body).encode()


def test_partial_refunds_carry_the_cumulative_refund_amount(http: httpx.Client) -> None:
    p = MidtransProvider(DOC_KEY, "", False, None, http)
    events = []
    for refunded in ("30000.00", "50000.00"):
        body = signed_notification(transaction_status="partial_refund", refund_amount=refunded)
        p.verify_webhook({}, body)
        events.append(p.parse_webhook({}, body, exponents=EXPONENTS))
    first, second = events
    assert (first.status, first.amount_minor, second.amount_minor) == ("refund", 3_000_000, 5_000_000)
    assert first.event_key != second.event_key  # the second partial refund is not a redelivery
    assert first.event_key.endswith(":30000.00")
    # Without refund_amount a partial refund has no amount (SQL records it failed, never guesses).
    bare = p.parse_webhook({}, signed_notification(transaction_status="partial_refund"), exponents=EXPONENTS)
    assert (bare.status, bare.amount_minor) == ("refund", None)


@pytest.mark.parametrize("transaction_status", ["chargeback", "partial_chargeback"])
def test_a_chargeback_is_a_lost_dispute(http: httpx.Client, transaction_status: str) -> None:
    p = MidtransProvider(DOC_KEY, "", False, None, http)
    body = signed_notification(transaction_status=transaction_status)
    p.verify_webhook({}, body)
    event = p.parse_webhook({}, body, exponents=EXPONENTS)
    assert (event.status, event.order_id, event.occurred_at) == ("dispute_lost", "1111", None)
    assert event.status in p.confirm_statuses  # applied only as the status API confirms it


def test_unknown_status_is_ignored_not_refused(http: httpx.Client) -> None:
    event = provider(http).parse_webhook(
        {}, doc_notification(transaction_status="brand_new"), exponents=EXPONENTS
    )
    assert event.status is None
    assert event.event_type == "brand_new"


@pytest.mark.parametrize(
    ("transaction_status", "status_code"),
    [
        ("settlement", "201"),
        ("capture", "202"),
        ("pending", "200"),
        ("deny", "200"),
        ("cancel", "201"),
        ("expire", "200"),
    ],
)
def test_status_code_that_contradicts_the_status_is_refused(
    http: httpx.Client, transaction_status: str, status_code: str
) -> None:
    """transaction_status is not signed, status_code is: a pair Midtrans never sends is a forgery."""
    body = doc_notification(transaction_status=transaction_status, status_code=status_code)
    with pytest.raises(WebhookPayloadError) as caught:
        provider(http).parse_webhook({}, body, exponents=EXPONENTS)
    assert caught.value.code == "status_code_mismatch"


@pytest.mark.parametrize(
    ("transaction_status", "status_code"),
    [("settlement", "200"), ("capture", "200"), ("pending", "201"), ("deny", "202"), ("expire", "202")],
)
def test_status_code_that_fits_the_status_is_parsed(
    http: httpx.Client, transaction_status: str, status_code: str
) -> None:
    body = doc_notification(transaction_status=transaction_status, status_code=status_code)
    assert provider(http).parse_webhook({}, body, exponents=EXPONENTS).status is not None


def test_paid_refund_and_chargeback_are_confirmed_with_the_status_api(http: httpx.Client) -> None:
    assert provider(http).confirm_statuses == frozenset({"paid", "refund", "dispute_lost"})


def test_unknown_currency_gives_no_amount(http: httpx.Client) -> None:
    event = provider(http).parse_webhook({}, doc_notification(currency="XXX"), exponents=EXPONENTS)
    assert event.amount_minor is None


# Snap over HTTP ----------------------------------------------------------------------------------------


def test_create_checkout(http: httpx.Client, midtrans_fake: MidtransFake) -> None:
    request = checkout_request(amount_minor=14_900_000, currency="IDR", exponent=2)
    result = provider(http, midtrans_fake).create_checkout(request)
    sent = midtrans_fake.requests[-1]
    assert sent.method == "POST"
    assert sent.path == "/snap/v1/transactions"
    assert (
        sent.header("authorization") == "Basic U0ItTWlkLXNlcnZlci10ZXN0Og=="
    )  # base64("SB-Mid-server-test:")
    body = sent.json()
    assert body["transaction_details"] == {"order_id": request.order_id, "gross_amount": 149_000}
    assert body["item_details"] == [{"id": "PRO", "price": 149_000, "quantity": 1, "name": "Pro"}]
    assert body["customer_details"] == {"email": "ada@example.test", "first_name": "Ada Lovelace"}
    assert body["callbacks"] == {"finish": request.return_url}
    assert body["expiry"]["unit"] == "minute"
    assert 118 <= body["expiry"]["duration"] <= 120
    assert result.token
    assert result.redirect_url
    assert result.redirect_url.endswith(result.token)
    assert result.provider_payment_id is None
    assert result.expires_at is not None
    assert result.expires_at <= request.expires_at


def test_documented_auth_header_example(http: httpx.Client) -> None:
    with MidtransFake(server_key="SB-Mid-server-abc123") as fake:
        MidtransProvider("SB-Mid-server-abc123", "", False, fake.url, http).create_checkout(
            checkout_request(amount_minor=14_900_000, currency="IDR")
        )
    assert fake.requests[-1].header("authorization") == "Basic U0ItTWlkLXNlcnZlci1hYmMxMjM6"


def test_rupiah_with_sen_is_refused_before_any_call(http: httpx.Client, midtrans_fake: MidtransFake) -> None:
    with pytest.raises(ProviderError) as caught:
        provider(http, midtrans_fake).create_checkout(
            checkout_request(amount_minor=14_900_050, currency="IDR")
        )
    assert caught.value.code == "amount_not_representable"
    assert midtrans_fake.requests == []


def test_other_currencies_are_refused(http: httpx.Client, midtrans_fake: MidtransFake) -> None:
    with pytest.raises(ProviderError) as caught:
        provider(http, midtrans_fake).create_checkout(checkout_request())
    assert caught.value.code == "unsupported_currency"
    assert midtrans_fake.requests == []


def test_wrong_server_key_is_an_auth_error(http: httpx.Client, midtrans_fake: MidtransFake) -> None:
    with pytest.raises(ProviderError) as caught:
        provider(http, midtrans_fake, server_key="SB-Mid-server-wrong").create_checkout(
            checkout_request(amount_minor=14_900_000, currency="IDR")
        )
    assert caught.value.code == "provider_auth_failed"
    assert caught.value.status == 401
    assert "Access denied" in caught.value.message
    assert "SB-Mid-server-wrong" not in str(caught.value)


def test_duplicate_order_id(http: httpx.Client, midtrans_fake: MidtransFake) -> None:
    p = provider(http, midtrans_fake)
    request = checkout_request(amount_minor=14_900_000, currency="IDR")
    p.create_checkout(request)
    with pytest.raises(ProviderError) as caught:
        p.create_checkout(request)
    assert caught.value.code == "provider_duplicate_order"


def test_validation_error_is_rejected_with_the_providers_message(
    http: httpx.Client, midtrans_fake: MidtransFake
) -> None:
    midtrans_fake.fail_next(400, {"error_messages": ["customer_details.email format is invalid"]})
    with pytest.raises(ProviderError) as caught:
        provider(http, midtrans_fake).create_checkout(
            checkout_request(amount_minor=14_900_000, currency="IDR")
        )
    assert caught.value.code == "provider_rejected"
    assert "email format is invalid" in caught.value.message


def test_server_error(http: httpx.Client, midtrans_fake: MidtransFake) -> None:
    midtrans_fake.fail_next(503)
    with pytest.raises(ProviderError) as caught:
        provider(http, midtrans_fake).create_checkout(
            checkout_request(amount_minor=14_900_000, currency="IDR")
        )
    assert caught.value.code == "provider_unavailable"
    assert caught.value.status == 503


def test_unreadable_success(http: httpx.Client, midtrans_fake: MidtransFake) -> None:
    midtrans_fake.fail_next(201, b"<html>oops</html>")
    with pytest.raises(ProviderError) as caught:
        provider(http, midtrans_fake).create_checkout(
            checkout_request(amount_minor=14_900_000, currency="IDR")
        )
    assert caught.value.code == "provider_bad_response"


def test_timeout(http: httpx.Client, midtrans_fake: MidtransFake) -> None:
    midtrans_fake.stall_next(2.0)
    with pytest.raises(ProviderTimeout) as caught:
        provider(http, midtrans_fake, timeout=0.3).create_checkout(
            checkout_request(amount_minor=14_900_000, currency="IDR")
        )
    assert caught.value.code == "provider_timeout"


def test_connection_refused(http: httpx.Client) -> None:
    with pytest.raises(ProviderTimeout) as caught:
        provider(http).create_checkout(checkout_request(amount_minor=14_900_000, currency="IDR"))
    assert caught.value.code == "provider_unreachable"


# status over HTTP --------------------------------------------------------------------------------------


def test_status_unknown_order_is_none(http: httpx.Client, midtrans_fake: MidtransFake) -> None:
    assert provider(http, midtrans_fake).fetch_status("TB-NOPE", None, amount_exponent=2) is None
    assert midtrans_fake.requests[-1].path == "/v2/TB-NOPE/status"


def test_status_404_in_the_body_is_none(http: httpx.Client, midtrans_fake: MidtransFake) -> None:
    midtrans_fake.fail_next(200, {"status_code": "404", "status_message": "Transaction doesn't exist."})
    assert provider(http, midtrans_fake).fetch_status("TB-NOPE", None, amount_exponent=2) is None


def test_status_error_in_the_body_raises(http: httpx.Client, midtrans_fake: MidtransFake) -> None:
    midtrans_fake.fail_next(
        200, {"status_code": "500", "status_message": "Sorry, we encountered internal error"}
    )
    with pytest.raises(ProviderError) as caught:
        provider(http, midtrans_fake).fetch_status("TB-X", None, amount_exponent=2)
    assert caught.value.status == 500


def test_status_matches_the_notification(http: httpx.Client, midtrans_fake: MidtransFake) -> None:
    p = provider(http, midtrans_fake)
    request = checkout_request(amount_minor=14_900_000, currency="IDR")
    p.create_checkout(request)
    headers, body = midtrans_fake.notification(request.order_id, "settlement")
    p.verify_webhook(headers, body)
    from_webhook = p.parse_webhook(headers, body, exponents=EXPONENTS)
    from_status = p.fetch_status(request.order_id, None, amount_exponent=2)
    assert from_status is not None
    assert from_webhook.status == from_status.status == "paid"
    assert from_webhook.amount_minor == from_status.amount_minor == 14_900_000
    assert from_webhook.event_key == from_status.event_key  # a reconciled state is a duplicate webhook
    assert midtrans_fake.requests[-1].header("authorization") == "Basic U0ItTWlkLXNlcnZlci10ZXN0Og=="


def test_expired_status_407_is_a_status(http: httpx.Client, midtrans_fake: MidtransFake) -> None:
    p = provider(http, midtrans_fake)
    request = checkout_request(amount_minor=14_900_000, currency="IDR")
    p.create_checkout(request)
    midtrans_fake.set_status(request.order_id, "expire")
    event = p.fetch_status(request.order_id, None, amount_exponent=2)
    assert event is not None
    assert event.status == "expired"


def test_status_timeout(http: httpx.Client, midtrans_fake: MidtransFake) -> None:
    midtrans_fake.stall_next(2.0)
    with pytest.raises(ProviderTimeout):
        provider(http, midtrans_fake, timeout=0.3).fetch_status("TB-X", None, amount_exponent=2)
