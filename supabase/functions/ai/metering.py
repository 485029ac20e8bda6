"""Quota accounting around one AI request: estimate, reserve before the call, commit the real usage after.

- **Estimate** (the hold): ceil(prompt characters / 4) + max_tokens. Four characters per token is the usual
  rule of thumb for English; the hold is only a reservation against the monthly cap, the commit records what
  the provider reports. `reserve_ai_usage` admits while used + held < cap, so concurrent requests overshoot
  the cap by at most one estimate.
- **Commit** exactly once per reservation (`Meter`; `commit_ai_usage` is idempotent as well), with:
  - a successful answer: the provider's usage; when it reported none (some local servers, a stream that
    ended without the usage chunk): the estimate of prompt tokens + ceil(output characters / 4);
  - a provider failure: only what the provider reported before failing (Anthropic reports input tokens at
    the start of a stream), otherwise 0/0. Never more than was used;
  - a client that went away mid-stream: the provider's final usage if it arrived; else the input tokens it
    reported (or the prompt estimate) plus max(reported output tokens, ceil(streamed characters / 4)),
    never more than max_tokens. Closing the connection makes the provider stop, but it has generated (and
    bills for) what it streamed until then, so the streamed text is the honest measure.
- If the commit itself fails (database down) the hold expires after `ai_hold_seconds` and is released:
  the user is never charged twice, at worst not at all.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from starlette.requests import Request

from thinbase.db import Caller, Database
from thinbase.errors import HttpError, ThinbaseError
from thinbase.functions._shared.context import call_rpc

from .base import ChatStream, Usage

log = logging.getLogger("thinbase.ai")

CHARS_PER_TOKEN = 4
Outcome = Literal["completed", "failed", "disconnected"]


def tokens_for_chars(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


def estimate_tokens(prompt_chars: int, max_tokens: int) -> int:
    return tokens_for_chars(prompt_chars) + max_tokens


@dataclass(frozen=True)
class Reservation:
    id: str
    model: str | None  # the plan's model, if it names one
    remaining_tokens: int


_REFUSALS = {
    "rate_limited": "Too many AI requests; try again in a moment.",
    "monthly_cap_reached": "This month's AI token allowance is used up.",
}


async def reserve(request: Request, user_id: str, estimated_tokens: int) -> Reservation:
    """Hold `estimated_tokens` for the user, or 429 `rate_limited` / `monthly_cap_reached`."""
    rows: Any = await call_rpc(
        request,
        "reserve_ai_usage",
        {"user_id": user_id, "estimated_tokens": estimated_tokens},
        caller=Caller.service(),
    )
    row = rows[0] if isinstance(rows, list) else rows
    if not row["allowed"]:
        reason = str(row["reason"])
        retry = max(int(row.get("retry_after_seconds") or 1), 1)
        headers = {
            "Retry-After": str(retry),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time()) + retry),
        }
        if reason == "rate_limited" and row.get("request_limit") is not None:
            headers["X-RateLimit-Limit"] = str(row["request_limit"])  # the plan's requests per window
        raise HttpError(429, reason, _REFUSALS.get(reason, "AI requests are not allowed right now."), headers)
    return Reservation(
        id=str(row["reservation_id"]),
        model=row.get("model") or None,
        remaining_tokens=int(row.get("remaining_tokens") or 0),
    )


class Meter:
    """Commits one reservation's usage, exactly once, whatever path the request takes."""

    def __init__(self, database: Database, reservation_id: str, provider: str, model: str) -> None:
        self.database = database
        self.reservation_id = reservation_id
        self.provider = provider
        self.model = model
        self._lock = threading.Lock()
        self._claimed = False
        self.committed: Usage | None = None

    @property
    def done(self) -> bool:
        return self._claimed

    async def _commit(self, usage: Usage, model: str | None = None) -> bool:
        """Record `usage`; False if already done or the database refused (logged; the hold then expires)."""
        with self._lock:
            if self._claimed:
                return False
            self._claimed = True
        try:
            await self.database.rpc(
                "commit_ai_usage",
                {
                    "reservation_id": self.reservation_id,
                    "provider": self.provider,
                    "model": model or self.model,
                    "prompt_tokens": usage.prompt_tokens,
                    "completion_tokens": usage.completion_tokens,
                },
                caller=Caller.service(),
            )
        except ThinbaseError:
            log.exception("could not commit AI usage", extra={"reservation_id": self.reservation_id})
            return False
        self.committed = usage
        return True

    async def commit(self, usage: Usage, model: str | None = None) -> bool:
        """Record `usage` (`_commit`), shielded: a cancelled request (client gone) still records usage."""
        committed = False
        with anyio.CancelScope(shield=True):
            committed = await self._commit(usage, model)
        return committed


def stream_usage(
    stream: ChatStream, outcome: Outcome, *, prompt_chars: int, max_tokens: int
) -> tuple[Usage, bool]:
    """(usage to commit, whether it is our estimate) for a stream that ended with `outcome`."""
    if outcome == "failed":
        return stream.reported_usage(), False
    if stream.usage_final and stream.prompt_tokens is not None and stream.completion_tokens is not None:
        return Usage(stream.prompt_tokens, stream.completion_tokens), False
    prompt = stream.prompt_tokens if stream.prompt_tokens is not None else tokens_for_chars(prompt_chars)
    completion = min(max(stream.completion_tokens or 0, tokens_for_chars(stream.output_chars)), max_tokens)
    return Usage(prompt, completion), True
