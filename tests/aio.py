"""Calling the edge app's async clients (AI providers) from sync tests: one event loop for the session, in a
thread of its own, so an httpx.AsyncClient's pooled connections stay on the loop that opened them."""

from __future__ import annotations

from collections.abc import AsyncIterable, Coroutine
from typing import Any, TypeVar

from thinbase.db.sync import LoopThread

T = TypeVar("T")
_LOOP = LoopThread("tests-loop")


def run(call: Coroutine[Any, Any, T]) -> T:
    return _LOOP.run(call)


async def collect_async(items: AsyncIterable[T]) -> list[T]:
    return [item async for item in items]


def collect(items: AsyncIterable[T]) -> list[T]:
    """Everything an async iterable yields (a ChatStream's deltas)."""
    return run(collect_async(items))
