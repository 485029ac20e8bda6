"""GET /health: is the database reachable, and which migration is it on."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from thinbase.db import Caller
from thinbase.errors import DatabaseError
from thinbase.functions._shared.state import app_state
from thinbase.functions.avatar.storage import LocalStorage


async def health(request: Request) -> JSONResponse:
    database = app_state(request).database
    try:
        rows = await database.rpc("health", caller=Caller.service())
    except DatabaseError as exc:
        return JSONResponse(
            {"status": "unavailable", "database": {"reachable": False, "error": type(exc).__name__}},
            status_code=503,
        )
    row = rows[0] if rows else {}
    return JSONResponse(
        {
            "status": "ok",
            "database": {
                "reachable": True,
                "migration_version": row.get("migration_version"),
                "time": row.get("database_time"),
            },
            "features": features(request),
        }
    )


def features(request: Request) -> dict[str, Any]:
    """Which features are configured: names and booleans only, never a secret or a URL with credentials."""
    settings = app_state(request).settings
    storage = app_state(request).avatar_storage
    return {
        "auth": {"hs256": bool(settings.jwt_secret), "jwks": bool(settings.jwks_url)},
        "payments": {
            "providers": sorted(app_state(request).providers),
            "default": settings.get("PAYMENT_PROVIDER") or None,
            "return_urls": bool(settings.allowed_return_urls),
        },
        "ai": {
            "configured": bool(settings.get("AI_PROVIDER") and settings.get("AI_API_KEY")),
            "provider": settings.get("AI_PROVIDER") or None,
        },
        "email": {"configured": bool(settings.get("RESEND_API_KEY") and settings.get("EMAIL_FROM"))},
        "storage": "local" if isinstance(storage, LocalStorage) else ("supabase" if storage else None),
        "local_gateway": settings.serves_local_gateway,
    }


routes = [Route("/health", health, methods=["GET"])]
