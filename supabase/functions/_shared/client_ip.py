"""The client's IP as the edge app sees it, trusting only what TRUSTED_PROXY_HEADER names.

Without TRUSTED_PROXY_HEADER the socket peer is the client (the app is exposed directly). With it, the
named header's value is used; for a list header such as X-Forwarded-For the RIGHTMOST entry is taken —
the one our own proxy appended — never the leftmost, which the client controls.
"""

from __future__ import annotations

import ipaddress

from starlette.requests import Request

from thinbase.functions._shared.state import app_state


def client_ip(request: Request) -> str | None:
    header = app_state(request).settings.trusted_proxy_header
    raw = request.headers.get(header, "") if header else (request.client.host if request.client else "")
    candidate = raw.split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None
