"""Run one call from many real connections at once.

Each worker thread has its own connection (a pool of `clients` connections, all opened before the start),
and all of them wait on a barrier so the calls really overlap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from thinbase.db.psycopg_adapter import PsycopgDatabase

T = TypeVar("T")


def hammer(
    dsn: str, clients: int, calls_per_client: int, call: Callable[[PsycopgDatabase, int], T]
) -> list[T]:
    """`clients` threads each make `calls_per_client` calls of `call(database, index)`; all results."""
    database = PsycopgDatabase(dsn, min_size=clients, max_size=clients, timeout=60)
    database.wait_ready(timeout=60)
    barrier = threading.Barrier(clients)

    def worker(client: int) -> list[T]:
        barrier.wait()
        return [call(database, client * calls_per_client + i) for i in range(calls_per_client)]

    try:
        with ThreadPoolExecutor(max_workers=clients) as pool:
            batches = list(pool.map(worker, range(clients)))
    finally:
        database.close()
    return [result for batch in batches for result in batch]
