"""A test-side signer for Standard Webhooks, written independently of
supabase/functions/payments/providers/standard_webhooks.py so a test that signs here and verifies there
checks two implementations against each other. The payment providers' signers are in
thinbase.fakes.payments.signing, with the fakes that use them."""

from __future__ import annotations

import base64
import hashlib
import hmac


def standard_webhook_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(
        key, msg_id.encode() + b"." + str(timestamp).encode() + b"." + body, hashlib.sha256
    ).digest()
    return "v1," + base64.b64encode(mac).decode()
