"""PostgREST's RPC contract at /rest/v1/rpc/{fn}, served on the local stack only.

PostgREST cannot run here, so this lets supabase-py and supabase-js call our RPCs locally. It does what the
platform's gateway and PostgREST do for RPC (table reads are tables.py, Supabase Auth is auth.py; both
share the checks below):
- `apikey` must be one of the project's keys, else 401 (the platform's API gateway);
- the Bearer JWT (or, without one, the apikey itself) is verified with the JWT secret: invalid → 401
  PGRST301, expired → 401 PGRST303; its `role` claim picks the database role (anon when absent);
- `Content-Profile` (POST) / `Accept-Profile` (GET) pick the schema among the exposed ones, else 406
  PGRST106 as PostgREST answers it: `public`, plus `tests` only while the test suite runs
  (THINBASE_EXPOSE_TESTS_SCHEMA);
- the socket peer is appended to X-Forwarded-For, as the platform's gateway appends the address it saw:
  SQL trusts that rightmost entry (private.settings.client_ip_trusted_hops = 1), never the client's own;
- a POST body is a JSON object of named arguments; GET passes them as query parameters (read-only);
- errors come back as PostgREST's body {code, message, details, hint} with its status.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from thinbase import tokens
from thinbase.db import Caller
from thinbase.errors import DatabaseUnavailable, RpcError, TokenError
from thinbase.functions._shared.state import app_state
from thinbase.settings import Settings

EXPOSED_SCHEMAS = ("public",)
# `tests` exists only on the local stack (pgTAP helpers and contract-test functions), and is exposed only
# when the test suite asks (Settings.expose_tests_schema).
TESTS_SCHEMA = "tests"


def exposed_schemas(settings: Settings) -> tuple[str, ...]:
    return (*EXPOSED_SCHEMAS, TESTS_SCHEMA) if settings.expose_tests_schema else EXPOSED_SCHEMAS


def forwarded_for(request: Request) -> dict[str, str]:
    """The request's headers with the socket peer appended to X-Forwarded-For, as a proxy appends it."""
    headers = dict(request.headers)
    if request.client is not None:
        previous = headers.get("x-forwarded-for", "").strip()
        peer = request.client.host
        headers["x-forwarded-for"] = f"{previous}, {peer}" if previous else peer
    return headers


def postgrest_error(error: RpcError) -> JSONResponse:
    # A `raise sqlstate 'PGRST'` error's own headers (Retry-After on a 429), as PostgREST sends them.
    headers = {**error.headers, "Proxy-Status": f"PostgREST; error={error.code}"}
    if error.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error.as_postgrest_body(), status_code=error.status, headers=headers)


def request_caller(request: Request, settings: Settings) -> Caller:
    apikey = request.headers.get("apikey", "")
    if not apikey or apikey not in (settings.anon_key, settings.service_role_key):
        raise RpcError(401, "PGRST301", "No API key found in request" if not apikey else "Invalid API key")
    authorization = request.headers.get("authorization", "")
    scheme, _, credential = authorization.partition(" ")
    if authorization and scheme.lower() != "bearer":
        raise RpcError(401, "PGRST301", "Authorization header must use the Bearer scheme")
    token = credential.strip() if authorization else apikey
    try:
        claims = tokens.verify_hs256(token, settings.jwt_secret)
    except TokenError as exc:
        code = "PGRST303" if "expired" in str(exc) else "PGRST301"
        raise RpcError(401, code, str(exc)) from exc
    try:
        return Caller.from_claims(claims, token=token)
    except ValueError as exc:
        raise RpcError(401, "22023", f'role "{claims.get("role")}" does not exist') from exc


async def _arguments(request: Request) -> dict[str, Any]:
    if request.method == "GET":
        return dict(request.query_params)
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise RpcError(400, "PGRST102", "Empty or invalid json", str(exc)) from exc
    except RecursionError as exc:  # nested past the parser's limit; not a ValueError
        raise RpcError(400, "PGRST102", "Empty or invalid json", "nested too deeply") from exc
    if not isinstance(body, dict):
        raise RpcError(400, "PGRST102", "A JSON object of named arguments is required")
    return body


def requested_schema(request: Request, settings: Settings) -> str:
    """The schema the profile header names (Accept-Profile to read, Content-Profile to write), if exposed."""
    profile_header = "accept-profile" if request.method in ("GET", "HEAD") else "content-profile"
    schema = request.headers.get(profile_header, "public")
    exposed = exposed_schemas(settings)
    if schema not in exposed:
        raise RpcError(
            406,
            "PGRST106",
            f"Invalid schema: {schema}",
            None,
            f"Only the following schemas are exposed: {', '.join(exposed)}",
        )
    return schema


async def rpc(request: Request) -> Response:
    settings = app_state(request).settings
    try:
        schema = requested_schema(request, settings)
        caller = request_caller(request, settings)
        args = await _arguments(request)
        result = await app_state(request).database.rpc(
            request.path_params["fn"],
            args,
            caller=caller,
            schema=schema,
            headers=forwarded_for(request),
            read_only=request.method == "GET",
        )
    except RpcError as error:
        return postgrest_error(error)
    except DatabaseUnavailable as exc:
        return postgrest_error(
            RpcError(503, "PGRST001", "Database client error. Retrying the connection.", str(exc))
        )
    return JSONResponse(result, headers={"Content-Profile": schema})


routes = [Route("/rest/v1/rpc/{fn}", rpc, methods=["GET", "POST"])]
