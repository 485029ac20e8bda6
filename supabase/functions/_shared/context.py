"""What handlers need from a request: the caller, and database calls through the port."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from thinbase.db import Caller
from thinbase.errors import HttpError, RpcError, TokenError
from thinbase.functions._shared.auth import Authenticator, bearer_token
from thinbase.functions._shared.state import app_state


def authenticator(request: Request) -> Authenticator:
    return app_state(request).authenticator


async def require_user(request: Request) -> Caller:
    """The signed-in user making this request; TokenError (401) otherwise."""
    auth = authenticator(request)
    auth.check_api_key(request.headers)
    token = bearer_token(request.headers)
    if token is None:
        raise TokenError("no bearer token")
    if not auth.configured:
        raise HttpError(503, "auth_not_configured", "Set SUPABASE_JWT_SECRET or SUPABASE_JWKS_URL.")
    return Caller.user(await auth.verify_access_token(token), token=token)


def forwarded_headers(request: Request) -> dict[str, str]:
    """The request's headers as PostgREST would pass them to SQL (lower-cased, without credentials)."""
    return {k: v for k, v in request.headers.items() if k not in ("authorization", "apikey", "cookie")}


async def call_rpc(
    request: Request,
    fn: str,
    args: Mapping[str, Any] | None = None,
    *,
    caller: Caller,
) -> Any:
    """Run an RPC through the database port from async code. Its errors (DatabaseUnavailable, RpcError)
    propagate and are answered as they say (thinbase.errors), with one translation: a foreign key failing
    in a call made as a user. User-facing RPCs check every argument they take (PT400) before they write,
    so the reference left dangling is the caller's own id, auth.uid(): an account deleted while its access
    token is still valid. Who is calling no longer exists, which is a 401."""
    database = app_state(request).database
    try:
        return await database.rpc(fn, args, caller=caller, headers=forwarded_headers(request))
    except RpcError as exc:
        if exc.code == "23503" and caller.role == "authenticated":
            raise TokenError("this account no longer exists") from exc
        raise
