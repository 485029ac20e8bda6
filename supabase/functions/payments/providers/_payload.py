"""Reading webhook headers and bodies defensively: providers add fields, and a signed body can still be
something we do not understand. Nothing here trusts a type it has not checked."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from thinbase.errors import WebhookPayloadError
from thinbase.functions._shared import untrusted_json

from .base import PaymentEvent

# The ledger's limits (webhook_events_key_length, webhook_events_type_length): longer keys or types fail its
# check constraints, and an order id this long is none of ours and too big for the order_id index.
MAX_EVENT_TEXT = 255


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name (works for plain dicts as well as Starlette's Headers)."""
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    return value


def load_object(body: bytes, provider: str) -> dict[str, Any]:
    """The body as a JSON object, or WebhookPayloadError; also for JSON holding what the database or an
    encoder cannot take (NUL, unpaired surrogates, absurd nesting, integers beyond bigint: untrusted_json)."""
    try:
        data = untrusted_json.loads(body)
    except untrusted_json.UnusableJson as exc:
        raise WebhookPayloadError("malformed_body", f"{provider} webhook body {exc}") from None
    if not isinstance(data, dict):
        raise WebhookPayloadError("malformed_body", f"{provider} webhook body is not a JSON object")
    return data


def unix_seconds(value: str) -> int | None:
    """A header's Unix timestamp as signature schemes write it (ASCII digits, at most 12), else None.

    Not `str.isdigit()` + `int()`: isdigit() takes "²", which int() refuses (a 500 before), and int() takes
    Arabic-Indic digits, "+1", " 1", "1_0", and refuses more than 4300 digits."""
    if 0 < len(value) <= 12 and value.isascii() and value.isdigit():
        return int(value)
    return None


def check_event(event: PaymentEvent) -> None:
    """WebhookPayloadError (400) unless the ledger can record `event`; called before any database work.

    Its key, type and references come from the body (already free of NUL and surrogates, see load_object) or
    from headers (Request-Id, X-Razorpay-Event-Id: checked here too); the ledger caps their length, and
    apply_payment_event refuses a blank key."""
    for name, value in (("event key", event.event_key), ("event type", event.event_type)):
        if not 1 <= len(value) <= MAX_EVENT_TEXT:
            raise WebhookPayloadError("malformed_body", f"the {name} is not 1 to {MAX_EVENT_TEXT} characters")
    if not event.event_key.strip():
        raise WebhookPayloadError("malformed_body", "the event key is blank")
    references = (
        ("order id", event.order_id),
        ("provider reference", event.provider_reference),
        ("client order id", event.client_order_id),
    )
    for name, reference in references:
        if reference is not None and len(reference) > MAX_EVENT_TEXT:
            raise WebhookPayloadError("malformed_body", f"the {name} is over {MAX_EVENT_TEXT} characters")
    try:
        for part in (event.event_key, event.event_type, event.currency, *(value for _, value in references)):
            untrusted_json.check_text(part or "")
    except untrusted_json.UnusableJson as exc:
        raise WebhookPayloadError("malformed_body", f"the event {exc}") from None


def dig(data: Any, *path: str) -> Any:
    """data[path[0]][path[1]]...; None as soon as a step is missing or not an object."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def text(data: Any, *path: str) -> str | None:
    """A string (or integer id, as text) at `path`; None otherwise."""
    value = dig(data, *path)
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, int):
        return str(value)
    return None


def integer(data: Any, *path: str) -> int | None:
    value = dig(data, *path)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def from_unix(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def from_iso(value: Any) -> datetime | None:
    """An ISO 8601 instant (`Z` or an offset); naive values are taken as UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
