"""Standard Webhooks: the published vector byte-exact, the published negatives, agreement with the
`standardwebhooks` reference library on generated cases, and the refusals."""

from __future__ import annotations

import base64
import json
import random
import time
from datetime import UTC, datetime

import pytest
import standardwebhooks

from tests.providers.signing import standard_webhook_signature
from thinbase.errors import WebhookSignatureError
from thinbase.functions.payments.providers import standard_webhooks as sw

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TS = 1614265330
PAYLOAD = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def headers(signature: str = SIGNATURE, msg_id: str = MSG_ID, timestamp: int = TS) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def test_published_vector() -> None:
    assert len(sw.decode_secret(SECRET)) == 24
    assert sw.sign(SECRET, MSG_ID, TS, PAYLOAD) == SIGNATURE
    assert standard_webhook_signature(SECRET, MSG_ID, TS, PAYLOAD) == SIGNATURE
    assert sw.verify(SECRET, headers(), PAYLOAD, now=TS) == MSG_ID


def test_reference_library_signs_the_same() -> None:
    signed = standardwebhooks.Webhook(SECRET).sign(MSG_ID, datetime.fromtimestamp(TS, UTC), PAYLOAD.decode())
    assert signed == SIGNATURE


@pytest.mark.parametrize(
    "signature",
    ["v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="],
)
def test_published_negatives(signature: str) -> None:
    with pytest.raises(WebhookSignatureError) as caught:
        sw.verify(SECRET, headers(signature), PAYLOAD, now=TS)
    assert caught.value.code == "bad_signature"


def test_several_signatures_one_valid() -> None:
    mixed = f"v2,Zm9vYmFy v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {SIGNATURE} v1a,bm90LWVkMjU1MTk="
    assert sw.verify(SECRET, headers(mixed), PAYLOAD, now=TS) == MSG_ID


def test_svix_header_names() -> None:
    svix = {"svix-id": MSG_ID, "svix-timestamp": str(TS), "svix-signature": SIGNATURE}
    assert sw.verify(SECRET, svix, PAYLOAD, now=TS) == MSG_ID


def test_secret_without_prefix_or_padding() -> None:
    raw = SECRET.removeprefix("whsec_")
    assert sw.sign(raw, MSG_ID, TS, PAYLOAD) == SIGNATURE
    with pytest.raises(ValueError, match="base64"):
        sw.decode_secret("whsec_***")


def test_tampered_body() -> None:
    with pytest.raises(WebhookSignatureError):
        sw.verify(SECRET, headers(), PAYLOAD.replace(b"2432232314", b"2432232315"), now=TS)


def test_tampered_id() -> None:
    with pytest.raises(WebhookSignatureError):
        sw.verify(SECRET, headers(msg_id="msg_other"), PAYLOAD, now=TS)


def test_wrong_secret() -> None:
    other = "whsec_" + base64.b64encode(b"x" * 24).decode()
    with pytest.raises(WebhookSignatureError) as caught:
        sw.verify(other, headers(), PAYLOAD, now=TS)
    assert other not in str(caught.value)


@pytest.mark.parametrize(
    ("offset", "code"), [(301, "stale_timestamp"), (-301, "future_timestamp"), (86_400, "stale_timestamp")]
)
def test_timestamp_outside_300_seconds(offset: int, code: str) -> None:
    with pytest.raises(WebhookSignatureError) as caught:
        sw.verify(SECRET, headers(), PAYLOAD, now=TS + offset)
    assert caught.value.code == code


@pytest.mark.parametrize("offset", [300, -300])
def test_timestamp_at_the_edge(offset: int) -> None:
    sw.verify(SECRET, headers(), PAYLOAD, now=TS + offset)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header(missing: str) -> None:
    partial = {k: v for k, v in headers().items() if k != missing}
    with pytest.raises(WebhookSignatureError) as caught:
        sw.verify(SECRET, partial, PAYLOAD, now=TS)
    assert caught.value.code == "missing_signature"


@pytest.mark.parametrize(
    "timestamp",
    # "soon"; then what str.isdigit() takes for digits although int() refuses it or no sender writes it:
    # a superscript, Arabic-Indic digits, more digits than int() will read.
    ["soon", "\u00b2", f"{TS}\u00b9", "\u0661\u0666\u0661\u0664", "9" * 5000],
)
def test_malformed_timestamp(timestamp: str) -> None:
    with pytest.raises(WebhookSignatureError) as caught:
        sw.verify(SECRET, headers() | {"webhook-timestamp": timestamp}, PAYLOAD, now=TS)
    assert caught.value.code == "malformed_signature"


@pytest.mark.parametrize("seed", [1, 2])
def test_agrees_with_the_reference_library(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 -- seeded on purpose: reproducible cases, not secrets
    now = int(time.time())
    for index in range(60):
        secret = "whsec_" + base64.b64encode(rng.randbytes(rng.randint(24, 64))).decode()
        body = json.dumps({"type": "email.sent", "n": index, "note": "ünïcödé " * index}).encode()
        msg_id = f"msg_{rng.getrandbits(64):x}"
        timestamp = now + rng.randint(-250, 250)
        good = sw.sign(secret, msg_id, timestamp, body)
        cases = [
            (headers(good, msg_id, timestamp), body, True),
            (headers(f"v1,bm9wZQ== {good}", msg_id, timestamp), body, True),
            (headers(good, msg_id, timestamp), body + b" ", False),
            (headers(good, msg_id + "x", timestamp), body, False),
            (headers(good, msg_id, timestamp + 1), body, False),
            (headers(good.replace("v1,", "v2,"), msg_id, timestamp), body, False),
            (headers(sw.sign(secret, msg_id, now - 400, body), msg_id, now - 400), body, False),
            (headers(sw.sign(secret, msg_id, now + 400, body), msg_id, now + 400), body, False),
        ]
        library = standardwebhooks.Webhook(secret)
        for case_headers, case_body, valid in cases:
            try:
                library.verify(case_body.decode(), case_headers)
                library_ok = True
            except standardwebhooks.WebhookVerificationError:
                library_ok = False
            try:
                sw.verify(secret, case_headers, case_body, now=now)
                ours_ok = True
            except WebhookSignatureError:
                ours_ok = False
            assert library_ok is valid
            assert ours_ok is valid
