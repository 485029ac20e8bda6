"""The edge app: one Starlette application. `create_app(settings)` is what uvicorn serves."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute

from thinbase.db import Database, open_database
from thinbase.errors import ThinbaseError
from thinbase.functions import ai, avatar, contact, health, rest_gateway
from thinbase.functions._shared.auth import Authenticator
from thinbase.functions._shared.catalog import Catalog
from thinbase.functions._shared.errors import (
    http_exception_handler,
    thinbase_error_handler,
    unhandled_exception_handler,
)
from thinbase.functions._shared.logging import RequestLogMiddleware
from thinbase.functions._shared.state import AppState
from thinbase.functions.avatar.storage import AvatarStorage, LocalStorage, SupabaseStorage
from thinbase.functions.payments import checkout, webhooks
from thinbase.functions.payments.providers.registry import build_providers
from thinbase.functions.rest_gateway import auth as gateway_auth
from thinbase.functions.rest_gateway import tables as gateway_tables
from thinbase.local.paths import LOCAL_DIR
from thinbase.settings import Settings, load_settings

WORKER_THREADS = 200
# Outbound connections: a streamed AI answer holds one for its whole length, so httpx's default of 100
# would queue the 101st concurrent stream until its pool timeout.
OUTBOUND_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
CORS_EXPOSED_HEADERS = [
    "X-Request-Id",
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    # supabase-js reads these from the local gateway's PostgREST and Auth answers.
    "Content-Range",
    "Preference-Applied",
    "X-Supabase-Api-Version",
]


def _avatar_storage(settings: Settings, http: httpx.AsyncClient, database: Database) -> AvatarStorage | None:
    if settings.serves_local_gateway:
        return LocalStorage(LOCAL_DIR / "storage", settings.supabase_url, settings.jwt_secret, database)
    if settings.supabase_url and settings.anon_key:
        return SupabaseStorage(settings.supabase_url, settings.anon_key, http)
    return None


def create_app(settings: Settings | None = None, database: Database | None = None) -> Starlette:
    """Build the app; `database` defaults to the adapter the settings select (DESIGN.md)."""
    settings = settings or load_settings()
    routes: list[BaseRoute] = [
        *health.routes,
        *checkout.routes,
        *webhooks.routes,
        *contact.routes,
        *avatar.routes,
        *ai.routes,
    ]
    if settings.serves_local_gateway:
        # RPCs before tables: /rest/v1/rpc/{fn} must not be read as a table named "rpc".
        routes += [*rest_gateway.routes, *gateway_tables.routes, *gateway_auth.routes, *avatar.local_routes]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Database calls are async (the port), so are outbound calls on the request path (upstream.asend);
        # the few sync calls left still run in worker threads, allowed more than anyio's default 40.
        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        owned = database is None
        db = database or open_database(settings)
        async with contextlib.AsyncExitStack() as stack:
            async_http = await stack.enter_async_context(
                httpx.AsyncClient(timeout=10.0, limits=OUTBOUND_LIMITS)
            )
            http = stack.enter_context(httpx.Client(timeout=10.0, limits=OUTBOUND_LIMITS))
            app.state.thinbase = AppState(
                settings=settings,
                database=db,
                catalog=Catalog(db),
                http=http,
                async_http=async_http,
                authenticator=Authenticator(settings, async_http),
                providers=build_providers(settings, http),
                avatar_storage=_avatar_storage(settings, async_http, db),
            )
            try:
                yield
            finally:
                if owned:
                    await db.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(RequestLogMiddleware),
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.allowed_origins),
                allow_methods=["GET", "POST", "PUT", "PATCH", "OPTIONS"],
                allow_headers=[
                    "authorization",
                    "apikey",
                    "content-type",
                    "idempotency-key",
                    "x-client-info",
                    # What supabase-js sends to /rest/v1 and /auth/v1 (the local gateway).
                    "accept-profile",
                    "content-profile",
                    "prefer",
                    "range",
                    "x-supabase-api-version",
                    "x-retry-count",
                ],
                expose_headers=CORS_EXPOSED_HEADERS,
                max_age=600,
            ),
        ],
        exception_handlers={
            ThinbaseError: thinbase_error_handler,
            HTTPException: http_exception_handler,
            Exception: unhandled_exception_handler,
        },
    )
    return app
