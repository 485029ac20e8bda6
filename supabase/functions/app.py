"""The edge app: one Starlette application. `create_app(settings)` is what uvicorn serves."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute

from thinbase.db import Database, open_database
from thinbase.functions import health, rest_gateway
from thinbase.functions._shared.errors import http_exception_handler, unhandled_exception_handler
from thinbase.settings import Settings, load_settings

log = logging.getLogger("thinbase.edge")


def create_app(settings: Settings | None = None, database: Database | None = None) -> Starlette:
    """Build the app; `database` defaults to the adapter the settings select (DESIGN.md)."""
    settings = settings or load_settings()
    routes: list[BaseRoute] = [*health.routes]
    if settings.serves_local_gateway:
        routes += rest_gateway.routes

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owned = database is None
        app.state.database = database or open_database(settings)
        try:
            yield
        finally:
            if owned:
                app.state.database.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_exception_handler, Exception: unhandled_exception_handler},
    )
    app.state.settings = settings
    return app
