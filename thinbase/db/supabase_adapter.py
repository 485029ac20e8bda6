"""The supabase-py adapter: RPCs through PostgREST over HTTP (production, and the local gateway in tests).

It uses supabase-py's async PostgREST client (what `Client.rpc` calls) with one shared HTTP connection pool.
A user call carries the user's own JWT as the Bearer token so RLS and `auth.uid()` apply; service calls
use the service key. PostgREST's `APIError` carries the error body but not the HTTP status, so the status
is derived from the code with the same table PostgREST uses (`postgrest_errors.status_for`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from postgrest import APIError, AsyncPostgrestClient

from thinbase.db.port import Caller
from thinbase.db.postgrest_errors import status_for
from thinbase.db.sync import SyncDatabase
from thinbase.errors import ConfigurationError, DatabaseUnavailable, RpcError
from thinbase.settings import Settings


class AsyncSupabaseDatabase:
    """Database port over PostgREST (`<SUPABASE_URL>/rest/v1`), async: a waiting call holds no thread."""

    def __init__(self, url: str, anon_key: str, service_key: str, *, timeout: float = 10.0) -> None:
        if not url:
            raise ConfigurationError("SUPABASE_URL is required when DATABASE_URL is not set")
        self._rest_url = f"{url.rstrip('/')}/rest/v1"
        self._anon_key = anon_key
        self._service_key = service_key
        self._http = httpx.AsyncClient(timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> AsyncSupabaseDatabase:
        return cls(settings.supabase_url, settings.anon_key, settings.service_role_key)

    async def close(self) -> None:
        await self._http.aclose()

    async def rpc(
        self,
        fn: str,
        args: Mapping[str, Any] | None = None,
        *,
        caller: Caller,
        schema: str = "public",
        headers: Mapping[str, str] | None = None,
        read_only: bool = False,
    ) -> Any:
        key = self._service_key if caller.role == "service_role" else self._anon_key
        if not key:
            needed = "SUPABASE_SERVICE_ROLE_KEY" if caller.role == "service_role" else "SUPABASE_ANON_KEY"
            raise ConfigurationError(f"{needed} is required to call RPCs as {caller.role}")
        bearer = caller.token if caller.role == "authenticated" and caller.token else key
        forwarded = {k: v for k, v in (headers or {}).items() if k.lower() not in _OWN_HEADERS}
        client = AsyncPostgrestClient(
            self._rest_url,
            schema=schema,
            headers={**forwarded, "apikey": key, "Authorization": f"Bearer {bearer}"},
            http_client=self._http,
        )
        try:
            return (await client.rpc(fn, dict(args or {}), get=read_only).execute()).data
        except APIError as exc:
            code = exc.code or "500"
            message = exc.message or ""
            status = (
                int(code)
                # postgrest-py reports a non-PostgREST error body by its 3-digit HTTP status;
                # SQLSTATEs are five characters, some of them all digits (42501).
                if len(code) == 3 and code.isdigit()
                else status_for(code, authenticated=caller.is_authenticated, message=message)
            )
            if status in (502, 503, 504) and not code.startswith(("PT", "P0")):
                raise DatabaseUnavailable(f"PostgREST answered {status}: {message}") from exc
            details = exc.details if exc.details is None or isinstance(exc.details, str) else str(exc.details)
            raise RpcError(status, code, message, details, exc.hint) from exc
        except httpx.TransportError as exc:
            raise DatabaseUnavailable(f"PostgREST unreachable: {exc}") from exc


class SupabaseDatabase(SyncDatabase[AsyncSupabaseDatabase]):
    """The sync facade over `AsyncSupabaseDatabase`."""

    def __init__(self, url: str, anon_key: str, service_key: str, *, timeout: float = 10.0) -> None:
        super().__init__(lambda: AsyncSupabaseDatabase(url, anon_key, service_key, timeout=timeout))


# Headers this adapter sets itself; a caller's copies must not override them.
_OWN_HEADERS = frozenset(
    {
        "apikey",
        "authorization",
        "host",
        "content-length",
        "content-type",
        "accept",
        "accept-profile",
        "content-profile",
        "cookie",
    }
)
