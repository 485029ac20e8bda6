"""The sync facade over the (async) database port, for code that is not async: the CLI, tests, benchmarks.

It runs the port on an event loop of its own, in one daemon thread, and blocks the calling thread on each
call. Calls from many threads run concurrently on that loop (each on its own pooled connection), so the
concurrency tests still race real connections. The port is built on that loop, because an async pool
belongs to the loop it opened on.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Generic, TypeVar

from thinbase.db.port import Caller, Database

P = TypeVar("P", bound=Database)
T = TypeVar("T")


class LoopThread:
    """An event loop running in a daemon thread of its own; `run` blocks the caller on one coroutine."""

    def __init__(self, name: str = "thinbase-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, call: Coroutine[Any, Any, T]) -> T:
        """Run one coroutine on the loop and wait for its result (or its exception)."""
        return asyncio.run_coroutine_threadsafe(call, self._loop).result()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


class SyncDatabase(Generic[P]):
    """`rpc` and `close` as blocking calls over the port that `make` builds."""

    def __init__(self, make: Callable[[], P]) -> None:
        self._loop = LoopThread("thinbase-db")
        self._closed = False

        async def build() -> P:
            return make()

        self.port: P = self.run(build())

    def run(self, call: Coroutine[Any, Any, T]) -> T:
        """Run one coroutine on the facade's loop (where the port lives) and wait for its result."""
        return self._loop.run(call)

    def rpc(
        self,
        fn: str,
        args: Mapping[str, Any] | None = None,
        *,
        caller: Caller,
        schema: str = "public",
        headers: Mapping[str, str] | None = None,
        read_only: bool = False,
    ) -> Any:
        return self.run(
            self.port.rpc(fn, args, caller=caller, schema=schema, headers=headers, read_only=read_only)
        )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.run(self.port.close())
        finally:
            self._loop.stop()
