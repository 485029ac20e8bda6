"""GET /health: is the database reachable, and which migration is it on."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from thinbase.db import Caller
from thinbase.errors import DatabaseError


async def health(request: Request) -> JSONResponse:
    database = request.app.state.database
    try:
        rows = await run_in_threadpool(database.rpc, "health", caller=Caller.service())
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
        }
    )


routes = [Route("/health", health, methods=["GET"])]
