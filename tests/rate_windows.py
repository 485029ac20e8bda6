"""The rate limiter counts hits in fixed windows aligned to the epoch (private.consume_rate_limit): a
test that makes N requests and expects the N+1th to be refused fails if a window boundary falls
between them. `within_one_window` waits out the current window when too little of it is left."""

from __future__ import annotations

import time


def within_one_window(window_seconds: int, needed_seconds: float = 10.0) -> None:
    """Return once at least `needed_seconds` of the current `window_seconds` window remain; the
    database and the tests share this machine's clock."""
    left = window_seconds - time.time() % window_seconds
    if left < needed_seconds:
        time.sleep(left + 0.1)
