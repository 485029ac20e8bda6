"""POST /contact: a message from the site's contact form (no sign-in needed).

Validated here (lengths, exactly one email address, no line breaks in name or address, which would allow
header injection), recorded with record_contact_submission (rate-limited per client IP) BEFORE any sending,
then sent through Resend and marked sent or failed. A failed send is kept: `thinbase contact resend`
delivers it later. The client gets 202 either way; its message is safe with us.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from thinbase.db import Caller
from thinbase.errors import EmailError, HttpError
from thinbase.functions._shared.client_ip import client_ip
from thinbase.functions._shared.context import call_rpc
from thinbase.functions._shared.http import read_json_object
from thinbase.functions._shared.state import app_state
from thinbase.functions.contact.email import send_contact_email

log = logging.getLogger("thinbase.contact")
EMAIL = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _field(body: dict[str, Any], name: str, max_length: int, *, single_line: bool) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise HttpError(400, f"invalid_{name}", f"`{name}` is required.")
    value = value.strip()
    if len(value) > max_length:
        raise HttpError(400, f"invalid_{name}", f"`{name}` may be at most {max_length} characters.")
    if single_line and CONTROL.search(value):
        raise HttpError(400, f"invalid_{name}", f"`{name}` must be a single line.")
    return value


async def contact(request: Request) -> JSONResponse:
    body = await read_json_object(request, limit=64 * 1024)
    name = _field(body, "name", 200, single_line=True)
    email = _field(body, "email", 254, single_line=True)
    message = _field(body, "message", 5000, single_line=False)
    if not EMAIL.match(email):
        raise HttpError(400, "invalid_email", "Give one email address, like name@example.com.")

    submission: dict[str, Any] = await call_rpc(
        request,
        "record_contact_submission",
        {"name": name, "email": email, "message": message, "client_ip": client_ip(request)},
        caller=Caller.service(),
    )
    status = "sent"
    try:
        message_id = await send_contact_email(
            app_state(request).settings, app_state(request).async_http, submission
        )
        await call_rpc(
            request,
            "mark_contact_submission",
            {"id": submission["id"], "status": "sent", "provider_message_id": message_id},
            caller=Caller.service(),
        )
    except EmailError as exc:
        status = "queued"
        log.warning("contact email not sent: %s", exc.code, extra={"submission_id": submission["id"]})
        await call_rpc(
            request,
            "mark_contact_submission",
            {"id": submission["id"], "status": "failed", "error": f"{exc.code}: {exc}"},
            caller=Caller.service(),
        )
    return JSONResponse({"id": submission["id"], "status": status}, status_code=202)


routes = [Route("/contact", contact, methods=["POST"])]
