"""What handlers need from a request: the caller, database calls with HTTP-shaped failures."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from thinbase.db import Caller, Database
from thinbase.errors import DatabaseUnavailable, RpcError
from thinbase.functions._shared.auth import Authenticator, bearer_token
from thinbase.functions._shared.http import HttpError
from thinbase.tokens import TokenError


def authenticator(request: Request) -> Authenticator:
    auth: Authenticator = request.app.state.authenticator
    return auth


def require_user(request: Request) -> Caller:
    """The signed-in user making this request, or 401."""
    auth = authenticator(request)
    try:
        auth.check_api_key(request.headers)
        token = bearer_token(request.headers)
        if token is None:
            raise TokenError("no bearer token")
        if not auth.configured:
            raise HttpError(503, "auth_not_configured", "Set SUPABASE_JWT_SECRET or SUPABASE_JWKS_URL.")
        claims = auth.verify_access_token(token)
    except TokenError as exc:
        raise HttpError(
            401,
            "unauthorized",
            f"Sign in first ({exc}).",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from exc
    return Caller.user(claims, token=token)


def forwarded_headers(request: Request) -> dict[str, str]:
    """The request's headers as PostgREST would pass them to SQL (lower-cased, without credentials)."""
    return {k: v for k, v in request.headers.items() if k not in ("authorization", "apikey", "cookie")}


def rate_limit_headers(details: str | None) -> dict[str, str]:
    """X-RateLimit-* and Retry-After from a PT429 error's JSON detail (retry_after_seconds, limit)."""
    try:
        info = json.loads(details or "{}")
        retry = max(int(info.get("retry_after_seconds", 60)), 1)
    except (ValueError, TypeError, AttributeError):
        info, retry = {}, 60
    headers = {
        "Retry-After": str(retry),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(time.time()) + retry),
    }
    if isinstance(info.get("limit"), int):
        headers["X-RateLimit-Limit"] = str(info["limit"])
    return headers


def http_error_from_rpc(error: RpcError, caller: Caller | None = None) -> HttpError:
    """Our RPCs raise PTxxx with a snake_case code as message and a human detail: pass both on."""
    if error.code == "23503" and caller is not None and caller.role == "authenticated":
        # A foreign key failing in a call made as a user: user-facing RPCs check every argument they take
        # (PT400) before they write, so the reference left dangling is the caller's own id, auth.uid(): an
        # account deleted while its access token is still valid. Who is calling no longer exists.
        return HttpError(
            401,
            "unauthorized",
            "Sign in again: this account no longer exists.",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    headers: dict[str, str] = {}
    message = error.details or error.message
    if error.status == 429:
        headers = rate_limit_headers(error.details)
        message = error.hint or "Too many requests; try again later."
    if error.code.startswith("PT") and error.status < 500:
        return HttpError(error.status, error.message, message, headers)
    if error.status in (401, 403):
        return HttpError(error.status, "forbidden", "Not allowed.")
    return HttpError(500, "internal_error", "The database refused the request.")


async def call_rpc(
    request: Request,
    fn: str,
    args: Mapping[str, Any] | None = None,
    *,
    caller: Caller,
) -> Any:
    """Run an RPC through the database port from async code; failures become HTTP errors."""
    database: Database = request.app.state.database
    try:
        return await run_in_threadpool(
            database.rpc, fn, args, caller=caller, headers=forwarded_headers(request)
        )
    except DatabaseUnavailable as exc:
        raise HttpError(
            503, "database_unavailable", "The database is unreachable; try again shortly."
        ) from exc
    except RpcError as exc:
        raise http_error_from_rpc(exc, caller) from exc
