"""Currency exponents and plan names, read through RPCs and kept for a few minutes."""

from __future__ import annotations

import threading
import time
from typing import Any

from thinbase.db import Caller, Database

CATALOG_SECONDS = 300.0


class Catalog:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._lock = threading.Lock()
        self._loaded_at = -CATALOG_SECONDS
        self._exponents: dict[str, int] = {}
        self._plan_names: dict[str, str] = {}

    def _fresh(self) -> None:
        with self._lock:
            if time.monotonic() - self._loaded_at < CATALOG_SECONDS:
                return
            rows: list[dict[str, Any]] = self._database.rpc("currency_exponents", caller=Caller.service())
            plans: list[dict[str, Any]] = self._database.rpc("plan_catalog", caller=Caller.service())
            self._exponents = {row["code"]: int(row["exponent"]) for row in rows}
            self._plan_names = {row["code"]: str(row["name"]) for row in plans}
            self._loaded_at = time.monotonic()

    def exponents(self) -> dict[str, int]:
        self._fresh()
        return self._exponents

    def plan_name(self, code: str) -> str:
        self._fresh()
        return self._plan_names.get(code, code)
