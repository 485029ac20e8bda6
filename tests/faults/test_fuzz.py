"""Property-based tests (hypothesis) over every webhook verifier and normalizer, every public RPC's text
arguments, and the HTTP endpoints: never a 500, never an unsigned event applied, never an unhandled
exception; plus the classic bad inputs (oversized, malformed, wrong content type, unicode, SQL-looking)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import EdgeServer, serve_edge
from thinbase.cli.local_stack import LocalStack
from thinbase.db import Caller
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.errors import RpcError
from thinbase.functions.payments.providers.errors import WebhookPayloadError, WebhookSignatureError
from thinbase.functions.payments.providers.registry import build_providers
from thinbase.settings import load_settings

SECRETS = {
    "MIDTRANS_SERVER_KEY": "SB-Mid-server-fuzz",
    "DOKU_CLIENT_ID": "BRN-fuzz",
    "DOKU_SECRET_KEY": "SK-fuzz",
    "STRIPE_SECRET_KEY": "sk_test_fuzz",
    "STRIPE_WEBHOOK_SECRET": "whsec_fuzz",
    "LEMONSQUEEZY_API_KEY": "ls_fuzz",
    "LEMONSQUEEZY_STORE_ID": "1",
    "LEMONSQUEEZY_WEBHOOK_SECRET": "ls_whsec_fuzz",
    "RAZORPAY_KEY_ID": "rzp_test_fuzz",
    "RAZORPAY_KEY_SECRET": "rzp_secret_fuzz",
    "RAZORPAY_WEBHOOK_SECRET": "rzp_whsec_fuzz",
}
PROVIDERS = build_providers(load_settings(env=SECRETS), httpx.Client())
SIGNATURE_HEADERS = [
    "Stripe-Signature",
    "X-Signature",
    "X-Razorpay-Signature",
    "Signature",
    "Client-Id",
    "Request-Id",
    "Request-Timestamp",
    "X-Razorpay-Event-Id",
    "Content-Type",
]
EXPONENTS = {"USD": 2, "IDR": 2, "JPY": 0, "KWD": 3, "EUR": 2, "INR": 2}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
header_maps = st.dictionaries(st.sampled_from(SIGNATURE_HEADERS), st.text(max_size=80), max_size=5)


@pytest.mark.parametrize("name", sorted(PROVIDERS))
@settings(max_examples=150, deadline=None)
@given(headers=header_maps, body=st.binary(max_size=400))
def test_verifiers_only_ever_refuse_random_input(name: str, headers: dict[str, str], body: bytes) -> None:
    # Refused as unsigned, or (for schemes that sign fields of the parsed body) as malformed.
    with pytest.raises((WebhookSignatureError, WebhookPayloadError)):
        PROVIDERS[name].verify_webhook(headers, body)


@pytest.mark.parametrize("name", sorted(PROVIDERS))
@settings(max_examples=200, deadline=None)
@given(payload=json_values, headers=header_maps)
def test_normalizers_return_an_event_or_refuse(name: str, payload: Any, headers: dict[str, str]) -> None:
    try:
        event = PROVIDERS[name].parse_webhook(headers, json.dumps(payload).encode(), exponents=EXPONENTS)
    except WebhookPayloadError:
        return
    assert event.status in (None, "pending", "paid", "failed", "expired", "refunded")
    assert event.event_key
    assert event.amount_minor is None or isinstance(event.amount_minor, int)


# Every public RPC with text arguments, called as the roles that may call it, with arbitrary text.
TEXT_RPCS: list[tuple[str, list[str], Caller | None]] = [
    ("join_waitlist", ["email", "source"], Caller.anon()),
    ("create_payment", ["plan", "provider", "currency"], None),
    ("update_profile", ["full_name", "avatar_path"], None),
    ("consume_rate_limit", ["namespace", "subject"], Caller.service()),
    ("claim_webhook_event", ["provider", "event_key", "event_type"], Caller.service()),
    (
        "apply_payment_event",
        ["provider", "event_key", "event_type", "order_id", "status", "currency"],
        Caller.service(),
    ),
    ("record_contact_submission", ["name", "email", "message", "client_ip"], Caller.service()),
    ("admin_set_role", ["email", "role"], Caller.service()),
    ("admin_list_users", ["search"], Caller.service()),
    ("admin_reset_rate_limit", ["namespace", "subject"], Caller.service()),
    ("admin_upsert_plan", ["code", "name", "billing_interval", "ai_model", "description"], Caller.service()),
    ("admin_list_payments", ["status", "provider", "order_id"], Caller.service()),
    ("admin_list_webhook_events", ["provider", "status", "order_id"], Caller.service()),
    ("admin_list_audit", ["entity", "entity_id", "action"], Caller.service()),
    ("complete_webhook_event", ["status", "error"], Caller.service()),
    ("attach_checkout", ["checkout_token", "checkout_url", "provider_payment_id"], Caller.service()),
    ("abandon_checkout", ["reason"], Caller.service()),
    ("mark_contact_submission", ["status", "provider_message_id", "error"], Caller.service()),
    ("commit_ai_usage", ["provider", "model"], Caller.service()),
    ("operator_get_user", ["email"], Caller.service()),
    ("operator_get_payment", ["payment"], Caller.service()),
    ("operator_get_rate_limit", ["namespace", "subject"], Caller.service()),
    ("operator_pending_payments", ["provider"], Caller.service()),
]
# Public RPCs with text arguments left out, and why.
NOT_FUZZED = {
    "admin_bootstrap": "replaces the database's bootstrap admin list, which every later sign-up reads",
}
SOME_ID = "6f1c2a1e-0000-4000-8000-000000000000"  # no row has it: the call must fail cleanly, not with a 500
EXTRA_ARGS: dict[str, dict[str, Any]] = {
    "consume_rate_limit": {"max_requests": 5, "window_seconds": 60},
    "claim_webhook_event": {"payload": {}},
    "complete_webhook_event": {"event_id": SOME_ID},
    "attach_checkout": {"payment_id": SOME_ID},
    "abandon_checkout": {"payment_id": SOME_ID},
    "mark_contact_submission": {"id": SOME_ID},
    "commit_ai_usage": {"reservation_id": SOME_ID, "prompt_tokens": 1, "completion_tokens": 1},
}


def test_every_public_rpc_with_text_arguments_is_fuzzed(stack: LocalStack) -> None:
    with stack.superuser_connection() as conn:
        rows = conn.execute(
            "select distinct p.proname from pg_catalog.pg_proc as p "
            "join pg_catalog.pg_namespace as n on n.oid = p.pronamespace "
            "where n.nspname = 'public' and p.prokind = 'f' "
            "and exists (select 1 from unnest(p.proargtypes) as t "
            "where t in ('text'::regtype, 'text[]'::regtype))"
        ).fetchall()
    with_text = {row["proname"] for row in rows}
    assert with_text - {fn for fn, _, _ in TEXT_RPCS} - set(NOT_FUZZED) == set()


nasty_text = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "'; drop table public.payments; --",
            "\x00",
            "%",
            "\\",
            "a" * 5000,
            "😀" * 100,
            "Robert'); delete from auth.users;--",
            "NULL",
            "",
            " ",
            "\r\nBcc: x@example.test",
        ]
    ),
)


@pytest.fixture(scope="module")
def fuzz_user(stack: LocalStack) -> Caller:
    from thinbase.tokens import verify_hs256

    row = stack.create_user(f"fuzz-{id(stack)}-{__import__('uuid').uuid4().hex[:8]}@example.test")
    return Caller.user(verify_hs256(stack.user_token(row), stack.state().jwt_secret))


@pytest.mark.parametrize(("fn", "params", "caller"), TEXT_RPCS, ids=[rpc[0] for rpc in TEXT_RPCS])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_rpc_text_arguments_never_cause_a_server_error(
    db: PsycopgDatabase,
    fuzz_user: Caller,
    fn: str,
    params: list[str],
    caller: Caller | None,
    data: st.DataObject,
) -> None:
    args: dict[str, Any] = {name: data.draw(nasty_text, label=name) for name in params}
    args.update(EXTRA_ARGS.get(fn, {}))
    if fn == "apply_payment_event":
        args["provider"] = "stripe"
    failure: RpcError | None = None
    try:
        db.rpc(fn, args, caller=caller or fuzz_user)
    except RpcError as exc:
        failure = exc
    assert failure is None or failure.status < 500, (fn, args, failure)


@pytest.fixture(scope="module")
def shop(stack: LocalStack) -> Iterator[EdgeServer]:
    with serve_edge(
        stack, **SECRETS, RESEND_API_KEY="", ALLOWED_RETURN_URLS="https://app.example.test/"
    ) as server:
        yield server


@pytest.mark.parametrize("name", sorted(PROVIDERS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(headers=header_maps, payload=json_values)
def test_unsigned_webhooks_are_never_applied(
    shop: EdgeServer, name: str, headers: dict[str, str], payload: Any
) -> None:
    safe_headers = {
        k: v for k, v in headers.items() if v and v.isascii() and v.isprintable() and v == v.strip()
    }
    response = httpx.post(
        f"{shop.url}/webhooks/{name}", content=json.dumps(payload).encode(), headers=safe_headers
    )
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"]["code"] in ("invalid_signature", "invalid_payload")


@pytest.mark.parametrize(
    ("path", "content", "headers", "status", "code"),
    [
        ("/webhooks/stripe", b"x" * (1024 * 1024 + 1), {}, 413, "payload_too_large"),
        ("/contact", b"{" * 70000, {"Content-Type": "application/json"}, 413, "payload_too_large"),
        ("/contact", b"{not json", {"Content-Type": "application/json"}, 400, "invalid_json"),
        ("/contact", b"[1, 2]", {"Content-Type": "application/json"}, 400, "invalid_json"),
        (
            "/contact",
            b"name=a",
            {"Content-Type": "application/x-www-form-urlencoded"},
            415,
            "unsupported_media_type",
        ),
        (
            "/contact",
            '{"name": "\u00e9", "email": "\u00e9@\u00e9", "message": 1}'.encode(),
            {"Content-Type": "application/json"},
            400,
            "invalid_message",
        ),
        ("/payments/checkout", b"{}", {"Content-Type": "application/json"}, 401, "unauthorized"),
        ("/webhooks/paypal", b"{}", {"Content-Type": "application/json"}, 404, "unknown_provider"),
    ],
)
def test_bad_http_input(
    shop: EdgeServer, path: str, content: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    response = httpx.post(f"{shop.url}{path}", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "email",
    [
        "a" * 250 + "@example.test",
        "ünïcödé@exämple.test",
        "'; drop table waitlist; --@x.test",
        "a@b",
        "two@a.test b@c.test",
    ],
)
def test_hostile_emails_are_refused_or_stored_safely(db: PsycopgDatabase, email: str) -> None:
    headers = {"x-forwarded-for": "192.0.2.77"}
    outcome: object
    try:
        outcome = db.rpc("join_waitlist", {"email": email}, caller=Caller.anon(), headers=headers)
    except RpcError as exc:
        outcome = (exc.status, exc.message)
    assert outcome in ("joined", "already_joined", (400, "invalid_email"), (429, "rate_limited"))
