"""Client addresses for tests that pass the per-IP rate limits (waitlist, contact form).

Buckets live in the shared local stack for a whole window, across pytest sessions, so a fixed or small
pool of addresses runs into the limit when `make test` runs twice within the hour. Each call returns a
fresh address from IPv6's documentation prefix (2001:db8::/32), so collisions do not happen in practice.
"""

from __future__ import annotations

import ipaddress
import secrets

_DOCUMENTATION = ipaddress.IPv6Network("2001:db8::/32")


def fresh_ip() -> str:
    return str(_DOCUMENTATION[secrets.randbits(96)])
