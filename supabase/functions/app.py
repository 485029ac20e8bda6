"""The edge app: one Starlette application. `create_app(settings)` is what uvicorn serves."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from thinbase.db import Database, open_database
from thinbase.errors import DatabaseUnavailable
from thinbase.functions import checkout, health, rest_gateway, webhooks
from thinbase.functions._shared.auth import Authenticator
from thinbase.functions._shared.catalog import Catalog
from thinbase.functions._shared.errors import (
    error_response,
    http_exception_handler,
    unhandled_exception_handler,
)
from thinbase.functions._shared.http import HttpError
from thinbase.functions._shared.logging import RequestLogMiddleware
from thinbase.functions.payments.providers.registry import build_providers
from thinbase.settings import Settings, load_settings


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HttpError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _database_unavailable_handler(request: Request, exc: Exception) -> Response:
    # Whatever the endpoint: the database is down, so the caller (a provider, most importantly) retries.
    return error_response(503, "database_unavailable", "The database is unreachable; try again shortly.")


def create_app(settings: Settings | None = None, database: Database | None = None) -> Starlette:
    """Build the app; `database` defaults to the adapter the settings select (DESIGN.md)."""
    settings = settings or load_settings()
    routes: list[BaseRoute] = [*health.routes, *checkout.routes, *webhooks.routes]
    if settings.serves_local_gateway:
        routes += rest_gateway.routes

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owned = database is None
        app.state.database = database or open_database(settings)
        app.state.catalog = Catalog(app.state.database)
        with httpx.Client(timeout=10.0) as http:
            app.state.http = http
            app.state.authenticator = Authenticator(settings, http)
            app.state.providers = build_providers(settings, http)
            try:
                yield
            finally:
                if owned:
                    app.state.database.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(RequestLogMiddleware)],
        exception_handlers={
            HttpError: _http_error_handler,
            DatabaseUnavailable: _database_unavailable_handler,
            HTTPException: http_exception_handler,
            Exception: unhandled_exception_handler,
        },
    )
    app.state.settings = settings
    return app
