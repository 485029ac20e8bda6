"""Standard Webhooks (standardwebhooks.com) symmetric signatures, the scheme Svix, Resend and OpenAI use.

None of our five payment providers signs this way today; it lives here so any provider or service that does
(Resend's delivery webhooks, for one) shares one tested verifier.

    webhook-id: msg_...            webhook-timestamp: <unix seconds>
    webhook-signature: v1,<base64> [v1,<base64> ...]   (space-separated; other versions are skipped)

Each v1 signature is base64(HMAC-SHA256(key, "{id}.{timestamp}.{raw body}")); the key is the secret
without its `whsec_` prefix, base64-decoded. Timestamps more than 300 s in the past or the future are
refused. Svix's `svix-*` header names are accepted as well. The `webhook-id` is the idempotency key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

from thinbase.errors import WebhookSignatureError

from ._payload import header, unix_seconds

TOLERANCE_SECONDS = 300
SECRET_PREFIX = "whsec_"  # noqa: S105 -- the documented prefix of every secret, not a secret


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a `whsec_...` secret (padding may be missing)."""
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a Standard Webhooks secret is whsec_ followed by base64") from None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` signature for one message."""
    mac = hmac.new(decode_secret(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return header(headers, f"webhook-{name}") or header(headers, f"svix-{name}")


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> str:
    """Verify a message and return its `webhook-id`; WebhookSignatureError otherwise."""
    msg_id, raw_timestamp, signatures = (_header(headers, n) for n in ("id", "timestamp", "signature"))
    if not (msg_id and raw_timestamp and signatures):
        raise WebhookSignatureError(
            "missing_signature", "webhook-id, webhook-timestamp or webhook-signature header missing"
        )
    timestamp = unix_seconds(raw_timestamp)
    if timestamp is None:
        raise WebhookSignatureError("malformed_signature", "webhook-timestamp is not unix seconds")
    current = time.time() if now is None else now
    if timestamp < current - TOLERANCE_SECONDS:
        raise WebhookSignatureError("stale_timestamp", "webhook-timestamp is too old")
    if timestamp > current + TOLERANCE_SECONDS:
        raise WebhookSignatureError("future_timestamp", "webhook-timestamp is in the future")
    expected = base64.b64decode(sign(secret, msg_id, timestamp, body).removeprefix("v1,"))
    for item in signatures.split():
        version, _, encoded = item.partition(",")
        if version != "v1":
            continue
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, candidate):
            return msg_id
    raise WebhookSignatureError("bad_signature", "no v1 webhook-signature matches the body")
