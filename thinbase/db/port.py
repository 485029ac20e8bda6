"""The one interface every database call from Python goes through. A leaf: it imports no adapter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["anon", "authenticated", "service_role"]


@dataclass(frozen=True)
class Caller:
    """Who makes a call. PostgREST derives the database role and `request.jwt.claims` from this.

    `token` is the caller's own JWT when there is one (a user's access token): the supabase-py adapter
    sends it as the Bearer token; the psycopg adapter only needs the already-verified `claims`.
    """

    role: Role
    claims: Mapping[str, Any] = field(default_factory=dict)
    token: str | None = field(default=None, repr=False)

    @classmethod
    def anon(cls) -> Caller:
        return cls(role="anon", claims={"role": "anon"})

    @classmethod
    def service(cls) -> Caller:
        return cls(role="service_role", claims={"role": "service_role"})

    @classmethod
    def user(cls, claims: Mapping[str, Any], token: str | None = None) -> Caller:
        """A signed-in user. `claims` must already be verified."""
        return cls(role="authenticated", claims={**claims, "role": "authenticated"}, token=token)

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], token: str | None = None) -> Caller:
        """As PostgREST does: the role claim picks the database role; no role claim means anon."""
        role = claims.get("role") or "anon"
        if role == "anon":
            return cls(role="anon", claims={**claims, "role": role}, token=token)
        if role == "authenticated":
            return cls(role="authenticated", claims={**claims, "role": role}, token=token)
        if role == "service_role":
            return cls(role="service_role", claims={**claims, "role": role}, token=token)
        # PostgREST would try `set role` and fail with 22023 -> 401; we refuse up front.
        raise ValueError(f"unsupported role claim {role!r}")

    @property
    def is_authenticated(self) -> bool:
        """PostgREST's notion: the effective role is not the anon role."""
        return self.role != "anon"


class Database(Protocol):
    """Call RPC `fn` with named `args` as `caller`; returns the decoded JSON PostgREST would return.

    Async: a call waiting on Postgres (or PostgREST) holds no thread. Sync code (the CLI, tests) goes
    through `thinbase.db.sync.SyncDatabase`, a facade that runs this same interface on a loop of its own."""

    async def rpc(
        self,
        fn: str,
        args: Mapping[str, Any] | None = None,
        *,
        caller: Caller,
        schema: str = "public",
        headers: Mapping[str, str] | None = None,
        read_only: bool = False,
    ) -> Any: ...

    async def close(self) -> None: ...
