"""Signers for each payment provider's scheme, as the fakes sign their webhooks and check our requests.

Written independently of the provider modules (supabase/functions/payments/providers): a test that signs
here and verifies there checks two implementations against each other, and the SDK cross-checks in the
tests check both against the providers' own code. The tests and end-to-end tests import these too."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def midtrans_signature(order_id: str, status_code: str, gross_amount: str, server_key: str) -> str:
    return hashlib.sha512(f"{order_id}{status_code}{gross_amount}{server_key}".encode()).hexdigest()


def doku_headers(
    *,
    client_id: str,
    secret_key: str,
    request_id: str,
    timestamp: str,
    target: str,
    body: bytes | None,
) -> dict[str, str]:
    """Client-Id, Request-Id, Request-Timestamp and Signature for a DOKU request or notification."""
    lines = [f"Client-Id:{client_id}", f"Request-Id:{request_id}", f"Request-Timestamp:{timestamp}"]
    lines.append(f"Request-Target:{target}")
    components = "\n".join(lines)
    if body is not None:
        components += "\nDigest:" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    mac = _hmac_sha256(secret_key.encode(), components.encode())
    return {
        "Client-Id": client_id,
        "Request-Id": request_id,
        "Request-Timestamp": timestamp,
        "Signature": "HMACSHA256=" + base64.b64encode(mac).decode(),
    }


def stripe_header(secret: str, body: bytes, timestamp: int | None = None, *, extra: str = "") -> str:
    """A Stripe-Signature header value; `extra` is appended verbatim (e.g. ",v0=abc")."""
    t = int(time.time()) if timestamp is None else timestamp
    v1 = _hmac_sha256(secret.encode(), str(t).encode() + b"." + body).hex()
    return f"t={t},v1={v1}{extra}"


def hex_hmac(secret: str, body: bytes) -> str:
    """Razorpay's and Lemon Squeezy's webhook signature: hex HMAC-SHA256 of the raw body."""
    return _hmac_sha256(secret.encode(), body).hex()
