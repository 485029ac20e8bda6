"""The exception tree shared by the edge handler and the CLI.

    ThinbaseError
    ├── ConfigurationError        a setting is missing or malformed
    └── DatabaseError             anything the database port raises
        ├── DatabaseUnavailable   the database could not be reached (HTTP 503: retry later)
        └── RpcError              the RPC ran and failed; carries PostgREST's status and error body

Webhook-signature and provider errors get their own branches in the edge handler; they are not database
errors and must never be confused with them.
"""

from __future__ import annotations

from typing import Any


class ThinbaseError(Exception):
    """Base class for every error thinbase raises on purpose."""


class ConfigurationError(ThinbaseError):
    """A setting is missing or malformed."""


class DatabaseError(ThinbaseError):
    """Raised by the database port."""


class DatabaseUnavailable(DatabaseError):
    """The database could not be reached or dropped the connection; the caller may retry."""

    status = 503


class RpcError(DatabaseError):
    """An RPC failed. Fields mirror PostgREST's error body; ``status`` is the HTTP status PostgREST answers.

    Both adapters raise this with identical fields for the same failure, so callers never need to know
    which adapter they talk to.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint

    def as_postgrest_body(self) -> dict[str, Any]:
        """The JSON body PostgREST sends for this error."""
        return {"code": self.code, "message": self.message, "details": self.details, "hint": self.hint}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RpcError):
            return NotImplemented
        return (self.status, *self.as_postgrest_body().values()) == (
            other.status,
            *other.as_postgrest_body().values(),
        )

    def __hash__(self) -> int:
        return hash((self.status, self.code, self.message))

    def __repr__(self) -> str:
        return f"RpcError(status={self.status}, code={self.code!r}, message={self.message!r})"
