"""PostgREST's mapping from SQLSTATE to HTTP status (reference/supabase-platform.md §4.2).

Kept in one place so the psycopg adapter, the local gateway and the supabase-py adapter (whose APIError
carries the code but not the status) all agree.
"""

from __future__ import annotations

# PostgREST's own error codes that the RPC path can produce.
PGRST_STATUS = {
    "PGRST100": 400,  # parse error in query string
    "PGRST102": 400,  # invalid request body
    "PGRST106": 406,  # schema not exposed
    "PGRST116": 406,  # singular response mismatch
    "PGRST121": 500,  # unparsable RAISE PGRST payload
    "PGRST202": 404,  # function not found
    "PGRST203": 300,  # ambiguous overload
    "PGRST301": 401,  # bad JWT
    "PGRST302": 401,  # anonymous access disabled
    "PGRST303": 401,  # JWT claims validation failed (e.g. expired)
}

_EXACT = {
    "23503": 409,
    "23505": 409,
    "25006": 405,
    "42883": 404,
    "42P01": 404,
    "21000": 400,
    "53400": 500,
}

# Two-character SQLSTATE classes, checked after the exact codes above.
_CLASS = {
    "08": 503,
    "28": 403,
    "0L": 403,
    "0P": 403,
    "53": 503,
    "40": 500,
    "54": 500,
    "55": 500,
    "57": 500,
    "58": 500,
    "XX": 500,
    "F0": 500,
    "HV": 500,
    "25": 500,
    "2D": 500,
    "38": 500,
    "39": 500,
    "3B": 500,
}


def status_for(code: str, *, authenticated: bool, message: str = "") -> int:
    """The HTTP status PostgREST answers for an error `code` (a SQLSTATE or a PGRSTxxx code).

    `authenticated` is PostgREST's notion: the effective role is not the anon role. It decides whether
    insufficient_privilege is 403 (you are known but may not) or 401 (log in first).
    """
    if code in PGRST_STATUS:
        return PGRST_STATUS[code]
    if code.startswith("PT"):
        digits = code[2:]
        return int(digits) if digits.isdigit() and 100 <= int(digits) <= 599 else 500
    if code == "P0001":
        return 400
    if code.startswith("P0"):
        return 500
    if code == "42501":
        return 403 if authenticated else 401
    if code == "22023" and "role" in message and "does not exist" in message:
        return 401
    if code in _EXACT:
        return _EXACT[code]
    return _CLASS.get(code[:2], 400)
