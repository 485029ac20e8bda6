"""Currency exponents and plan names, read through RPCs and kept for a few minutes.

Refreshed under an asyncio lock: concurrent requests after expiry wait for one read instead of each
making its own."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from thinbase.db import Caller, Database

CATALOG_SECONDS = 300.0


class Catalog:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._lock = asyncio.Lock()
        self._loaded_at = -CATALOG_SECONDS
        self._exponents: dict[str, int] = {}
        self._plan_names: dict[str, str] = {}

    async def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at < CATALOG_SECONDS:
            return
        async with self._lock:
            if time.monotonic() - self._loaded_at < CATALOG_SECONDS:
                return
            rows: list[dict[str, Any]] = await self._database.rpc(
                "currency_exponents", caller=Caller.service()
            )
            plans: list[dict[str, Any]] = await self._database.rpc("plan_catalog", caller=Caller.service())
            self._exponents = {row["code"]: int(row["exponent"]) for row in rows}
            self._plan_names = {row["code"]: str(row["name"]) for row in plans}
            self._loaded_at = time.monotonic()

    async def exponents(self) -> dict[str, int]:
        await self._fresh()
        return self._exponents

    async def plan_name(self, code: str) -> str:
        await self._fresh()
        return self._plan_names.get(code, code)
