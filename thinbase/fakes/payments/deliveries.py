"""Webhook deliveries of a payment fake: sent as the provider would, retried, recorded, listed.

A delivery is one signed webhook (headers + the exact body bytes) POSTed to the fake's `webhook_url`.
The first attempt runs in the caller's thread, so when a checkout page answers its 303 the app has already
seen the event (the plan is active when the browser lands). If the app answers 5xx or cannot be reached,
a background thread retries after each of `delays` (0.5, 1, 2, 4, 8 s by default), then gives up. Any
other answer is final: 2xx is delivered; a 4xx (a bad signature, a malformed body) would be refused again,
so it is recorded and not retried. Real providers retry for hours or days; the short schedule keeps a local
run and its tests quick while still showing the behaviour.

Every delivery is kept and served as JSON at `GET {fake.url}/_fake/deliveries[?after=SEQ]`:

    {"deliveries": [{"seq": 1, "provider": "stripe", "url": "...", "headers": {...},
                     "body": "<the exact signed body as text>",
                     "attempts": [{"status": 200 | null, "error": null | "text"}], "delivered": true}]}

`seq` increases from 1 per fake. That shape is a contract: `thinbase webhooks listen --forward-to URL`
polls it and re-POSTs `headers` and `body` byte for byte elsewhere, so a field is never renamed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass
class Attempt:
    status: int | None  # the HTTP status the app answered; None when it could not be reached
    error: str | None
    at: float  # time.time() when the attempt started (Python side only; not in the JSON contract)


@dataclass
class Delivery:
    seq: int
    provider: str
    url: str
    headers: dict[str, str]
    body: bytes
    attempts: list[Attempt] = field(default_factory=list)
    delivered: bool = False
    done: bool = False  # no attempt will follow: answered finally, retries used up, or the fake stopped

    @property
    def pending(self) -> bool:
        """Whether another attempt may still come."""
        return not self.done

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "provider": self.provider,
            "url": self.url,
            "headers": dict(self.headers),
            "body": self.body.decode(),
            "attempts": [{"status": a.status, "error": a.error} for a in self.attempts],
            "delivered": self.delivered,
        }


def _retryable(attempt: Attempt) -> bool:
    return attempt.status is None or attempt.status >= 500


class Deliverer:
    """Sends, retries and records one fake's deliveries; `close()` stops pending retries, waits for them."""

    def __init__(
        self, provider: str, *, delays: Sequence[float] = RETRY_DELAYS, timeout: float = 5.0
    ) -> None:
        self.provider = provider
        self.delays = tuple(delays)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._http: httpx.Client | None = None

    def send(self, url: str, headers: Mapping[str, str], body: bytes) -> Delivery:
        """Record a delivery, make its first attempt now, and schedule retries if the app answered 5xx or
        could not be reached."""
        with self._lock:
            if self._stopping.is_set():
                raise RuntimeError(f"the {self.provider} fake is stopped; it sends no more webhooks")
            delivery = Delivery(len(self._deliveries) + 1, self.provider, url, dict(headers), body)
            self._deliveries.append(delivery)
            if self._http is None:
                self._http = httpx.Client(timeout=self._timeout, follow_redirects=False)
        if not (self._attempt(delivery) and self.delays):
            with self._lock:
                delivery.done = True
        else:
            thread = threading.Thread(
                target=self._retry,
                args=(delivery,),
                name=f"{self.provider}-delivery-{delivery.seq}",
                daemon=True,
            )
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()
        return delivery

    def _attempt(self, delivery: Delivery) -> bool:
        """One POST; True when it should be retried."""
        assert self._http is not None
        attempt = Attempt(status=None, error=None, at=time.time())
        try:
            response = self._http.post(delivery.url, content=delivery.body, headers=delivery.headers)
        except httpx.HTTPError as exc:
            attempt.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            attempt.status = response.status_code
            if not response.is_success:
                attempt.error = response.text[:500]
        with self._lock:
            delivery.attempts.append(attempt)
            delivery.delivered = attempt.status is not None and 200 <= attempt.status < 300
        return _retryable(attempt)

    def _retry(self, delivery: Delivery) -> None:
        try:
            for delay in self.delays:
                if self._stopping.wait(delay):
                    return  # the fake is shutting down
                if not self._attempt(delivery):
                    return
        finally:
            with self._lock:
                delivery.done = True

    def listing(self, after: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [d.as_json() for d in self._deliveries if d.seq > after]

    def all(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def pending_retries(self) -> int:
        """How many deliveries are waiting for a retry (their threads are alive)."""
        with self._lock:
            return sum(thread.is_alive() for thread in self._threads)

    def close(self) -> None:
        self._stopping.set()  # wakes every waiting retry
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=self._timeout + 1)
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None
