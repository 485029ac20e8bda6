"""Sending a contact submission through Resend.

Rendered from Jinja2 templates (HTML autoescaped, so a message cannot inject markup), sent to CONTACT_EMAIL
(falling back to EMAIL_FROM) with the submitter as Reply-To, and an Idempotency-Key derived from the
submission id: a retried send of the same submission within Resend's 24 h window is never delivered twice.
Used by POST /contact and by `thinbase contact resend`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from thinbase import upstream
from thinbase.errors import EmailError, EmailNotConfigured
from thinbase.settings import Settings

RESEND_API = "https://api.resend.com"
TIMEOUT_SECONDS = 10.0

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def render(submission: Mapping[str, Any]) -> tuple[str, str]:
    """(html, text) for a submission row."""
    context = {key: submission[key] for key in ("id", "name", "email", "message", "created_at")}
    context["received_at"] = context.pop("created_at")
    html = _templates.get_template("contact.html.j2").render(**context)
    text = _templates.get_template("contact.txt.j2").render(**context)
    return html, text


def _describe(body: object) -> tuple[tuple[str, ...], str | None]:
    """Resend's error body: {"statusCode", "name", "message"}; `name` is its error type."""
    if not isinstance(body, dict):
        return (), None
    name, message = body.get("name"), body.get("message")
    return ((name,) if isinstance(name, str) else ()), (message if isinstance(message, str) else None)


async def send_contact_email(
    settings: Settings, http: httpx.AsyncClient, submission: Mapping[str, Any]
) -> str:
    """Send one submission; returns Resend's message id. Raises EmailError. Async: the request waiting on
    Resend holds no thread."""
    api_key = settings.get("RESEND_API_KEY")
    sender = settings.get("EMAIL_FROM")
    if not api_key or not sender:
        raise EmailNotConfigured
    recipient = settings.get("CONTACT_EMAIL") or sender
    html, text = render(submission)
    base = (settings.get("RESEND_BASE_URL") or RESEND_API).rstrip("/")
    # Single-line subject: the name was validated to have no control characters, and is cut short here.
    subject = f"Contact form: {str(submission['name'])[:80]}"
    response = await upstream.asend(
        http,
        "POST",
        f"{base}/emails",
        service="resend",
        errors=EmailError,
        timeout=TIMEOUT_SECONDS,
        headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": f"contact-{submission['id']}"},
        content=json.dumps(
            {
                "from": sender,
                "to": [recipient],
                "reply_to": str(submission["email"]),
                "subject": subject,
                "html": html,
                "text": text,
            }
        ).encode(),
    )
    answer = upstream.json_object(response, service="resend", errors=EmailError, describe=_describe)
    if not isinstance(answer.get("id"), str | int):
        raise EmailError("email_bad_response", "Resend's answer had no message id.", retryable=True)
    message_id = str(answer["id"])
    return message_id
