"""Sending a contact submission through Resend.

Rendered from Jinja2 templates (HTML autoescaped, so a message cannot inject markup), sent to CONTACT_EMAIL
(falling back to EMAIL_FROM) with the submitter as Reply-To, and an Idempotency-Key derived from the
submission id: a retried send of the same submission within Resend's 24 h window is never delivered twice.
Used by POST /contact and by `thinbase contact resend`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from thinbase.errors import ThinbaseError
from thinbase.settings import Settings

RESEND_API = "https://api.resend.com"
TIMEOUT_SECONDS = 10.0

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


class EmailError(ThinbaseError):
    """The email could not be sent. `code` is stable; `retryable` says whether trying later may help."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class EmailNotConfigured(EmailError):
    def __init__(self) -> None:
        super().__init__("email_not_configured", "Set RESEND_API_KEY and EMAIL_FROM.", retryable=False)


def render(submission: Mapping[str, Any]) -> tuple[str, str]:
    """(html, text) for a submission row."""
    context = {key: submission[key] for key in ("id", "name", "email", "message", "created_at")}
    context["received_at"] = context.pop("created_at")
    html = _templates.get_template("contact.html.j2").render(**context)
    text = _templates.get_template("contact.txt.j2").render(**context)
    return html, text


def send_contact_email(settings: Settings, http: httpx.Client, submission: Mapping[str, Any]) -> str:
    """Send one submission; returns Resend's message id. Raises EmailError."""
    api_key = settings.get("RESEND_API_KEY")
    sender = settings.get("EMAIL_FROM")
    if not api_key or not sender:
        raise EmailNotConfigured
    recipient = settings.get("CONTACT_EMAIL") or sender
    html, text = render(submission)
    base = (settings.get("RESEND_BASE_URL") or RESEND_API).rstrip("/")
    # Single-line subject: the name was validated to have no control characters, and is cut short here.
    subject = f"Contact form: {str(submission['name'])[:80]}"
    try:
        response = http.post(
            f"{base}/emails",
            headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": f"contact-{submission['id']}"},
            json={
                "from": sender,
                "to": [recipient],
                "reply_to": str(submission["email"]),
                "subject": subject,
                "html": html,
                "text": text,
            },
            timeout=TIMEOUT_SECONDS,
        )
    except httpx.TimeoutException as exc:
        raise EmailError("email_timeout", "Resend did not answer in time.", retryable=True) from exc
    except httpx.TransportError as exc:
        raise EmailError("email_unreachable", "Resend could not be reached.", retryable=True) from exc
    if response.status_code >= 400:
        try:
            name = str(response.json().get("name") or "error")
        except ValueError:
            name = "error"
        retryable = response.status_code >= 500 or (response.status_code == 429 and "quota" not in name)
        raise EmailError(
            f"email_rejected_{response.status_code}",
            f"Resend answered {response.status_code} ({name}).",
            retryable=retryable,
        )
    try:
        message_id = str(response.json()["id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise EmailError("email_bad_response", "Resend's answer had no message id.", retryable=True) from exc
    return message_id
