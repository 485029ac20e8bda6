"""POST /contact over real HTTP: validation, the record kept before sending, Resend success and failures
(4xx, 5xx, timeout) against a local fake, and the per-IP rate limit."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.client_ips import fresh_ip
from tests.conftest import EdgeServer, serve_edge
from tests.rate_windows import within_one_window
from thinbase.fakes.mail import FakeResend
from thinbase.functions.contact import email as email_module
from thinbase.local.stack import LocalStack


@pytest.fixture(scope="module")
def resend() -> Iterator[FakeResend]:
    with FakeResend() as fake:
        yield fake


@pytest.fixture(scope="module")
def site(stack: LocalStack, resend: FakeResend) -> Iterator[EdgeServer]:
    with serve_edge(
        stack,
        RESEND_API_KEY="re_test_key",
        RESEND_BASE_URL=resend.url,
        EMAIL_FROM="Site <hello@example.test>",
        CONTACT_EMAIL="support@example.test",
        TRUSTED_PROXY_HEADER="x-forwarded-for",
    ) as server:
        yield server


def send(site: EdgeServer, body: dict[str, Any], ip: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": f"203.0.113.99, {ip or fresh_ip()}"}
    return httpx.post(f"{site.url}/contact", json=body, headers=headers, timeout=30)


def row(stack: LocalStack, submission_id: str) -> dict[str, Any]:
    with stack.superuser_connection() as conn:
        found = conn.execute(
            "select status, attempts, last_error, provider_message_id, email::text as email "
            "from private.contact_submissions where id = %s",
            (submission_id,),
        ).fetchone()
    assert found is not None
    return found


def test_a_message_is_recorded_and_sent(stack: LocalStack, site: EdgeServer, resend: FakeResend) -> None:
    response = send(
        site, {"name": "Ada <b>L</b>", "email": " Ada@Example.test ", "message": "Hi & <script>x</script>"}
    )
    assert response.status_code == 202, response.text
    submission_id = response.json()["id"]
    assert response.json()["status"] == "sent"
    mail = resend.sent[-1]
    assert mail["json"]["to"] == ["support@example.test"]
    assert mail["json"]["reply_to"] == "ada@example.test"
    assert mail["headers"]["idempotency-key"] == f"contact-{submission_id}"
    assert "&lt;script&gt;" in mail["json"]["html"]  # autoescaped
    assert "<script>" not in mail["json"]["html"]
    assert "<script>x</script>" in mail["json"]["text"]  # the text part is plain text
    assert row(stack, submission_id) | {} == {
        "status": "sent",
        "attempts": 1,
        "last_error": None,
        "provider_message_id": mail["id"],
        "email": "ada@example.test",
    }


@pytest.mark.parametrize(
    ("prepare", "code_fragment"),
    [
        (lambda fake: fake.fail_next(422, "validation_error"), "email_rejected_422"),
        (lambda fake: fake.fail_next(500), "email_rejected_500"),
        (lambda fake: fake.stall_next(11.0), "email_timeout"),
    ],
    ids=["4xx", "5xx", "timeout"],
)
def test_a_failed_send_is_kept_for_later(
    stack: LocalStack, site: EdgeServer, resend: FakeResend, prepare: Any, code_fragment: str
) -> None:
    prepare(resend)
    response = send(site, {"name": "Bob", "email": "bob@example.test", "message": "Please call me"})
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    kept = row(stack, response.json()["id"])
    assert (kept["status"], kept["attempts"]) == ("failed", 1)
    assert code_fragment in kept["last_error"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"name": "Eve\r\nBcc: victim@example.test", "email": "eve@example.test", "message": "x"},
            "invalid_name",
        ),
        (
            {"name": "Eve", "email": "eve@example.test\r\nBcc: v@example.test", "message": "x"},
            "invalid_email",
        ),
        ({"name": "Eve", "email": "a@example.test, b@example.test", "message": "x"}, "invalid_email"),
        ({"name": "Eve", "email": "not-an-address", "message": "x"}, "invalid_email"),
        ({"name": "", "email": "eve@example.test", "message": "x"}, "invalid_name"),
        ({"name": "Eve", "email": "eve@example.test", "message": "x" * 5001}, "invalid_message"),
        ({"name": "Eve", "email": "eve@example.test"}, "invalid_message"),
    ],
)
def test_bad_input_is_refused(site: EdgeServer, body: dict[str, Any], code: str) -> None:
    response = send(site, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "message",
    # JSON escapes, as a client would send them: valid JSON, but text PostgreSQL cannot store (NUL) or
    # that is not Unicode at all (an unpaired surrogate). Refused before the database, never a 500.
    [r"a\u0000b", r"\u0000", r"x\ud800y", r"\udfff", r"\ude00\ud83d"],
    ids=["nul", "only-nul", "lone-high-surrogate", "lone-low-surrogate", "reversed-pair"],
)
def test_text_the_database_cannot_store_is_refused(site: EdgeServer, message: str) -> None:
    raw = f'{{"name": "Eve", "email": "eve@example.test", "message": "{message}"}}'.encode()
    response = httpx.post(
        f"{site.url}/contact",
        content=raw,
        headers={"Content-Type": "application/json", "X-Forwarded-For": f"203.0.113.99, {fresh_ip()}"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_json"


def test_a_surrogate_pair_is_one_character_and_accepted(site: EdgeServer) -> None:
    # The escapes of a real astral character (U+1F600) must still work: only unpaired halves are refused.
    raw = rb'{"name": "Eve", "email": "eve@example.test", "message": "hi \ud83d\ude00"}'
    response = httpx.post(
        f"{site.url}/contact",
        content=raw,
        headers={"Content-Type": "application/json", "X-Forwarded-For": f"203.0.113.99, {fresh_ip()}"},
        timeout=30,
    )
    assert response.status_code == 202, response.text


def test_rate_limited_per_client_ip(site: EdgeServer) -> None:
    ip = fresh_ip()
    body = {"name": "Spam", "email": "spam@example.test", "message": "again"}
    within_one_window(3600)
    answers = [send(site, body, ip=ip) for _ in range(6)]
    assert [a.status_code for a in answers[:5]] == [202] * 5
    limited = answers[5]
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.headers["X-RateLimit-Limit"] == "5"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    # Another client (a different trusted rightmost entry, the same forged leftmost one) is not limited.
    assert send(site, body).status_code == 202


def test_ipv6_clients_are_limited_per_64(site: EdgeServer) -> None:
    """One /64 is one client (a home or a VM gets a whole /64); five messages from five of its
    addresses use up its limit, the next /64 is another client."""
    network = ipaddress.IPv6Network(f"{fresh_ip()}/64", strict=False)
    body = {"name": "Rotator", "email": "rotator@example.test", "message": "new address each time"}
    within_one_window(3600)
    answers = [send(site, body, ip=str(network[index + 1])) for index in range(6)]
    assert [a.status_code for a in answers] == [202] * 5 + [429]
    assert answers[5].json()["error"]["code"] == "rate_limited"
    neighbour = ipaddress.IPv6Address(int(network.network_address) + 2**64 + 1)
    assert send(site, body, ip=str(neighbour)).status_code == 202


def test_templates_render_every_field() -> None:
    html, text = email_module.render(
        {
            "id": "s-1",
            "name": "N",
            "email": "n@example.test",
            "message": "m\nline 2",
            "created_at": "2026-11-22",
        }
    )
    for part in (html, text):
        assert "s-1" in part
        assert "n@example.test" in part
