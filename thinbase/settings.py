"""Configuration from the environment, with a `.env` file in the working directory as a fallback.

Names are the contract from DESIGN.md ("Configuration names"); `.env.example` documents each one. Real
environment variables win over `.env`, so a deployment never has its settings shadowed by a stray file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from thinbase.errors import ConfigurationError

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """Every setting thinbase reads. Unset optional values are empty strings."""

    env: Mapping[str, str] = field(repr=False)

    def get(self, name: str, default: str = "") -> str:
        return self.env.get(name, default) or default

    # Supabase
    @property
    def supabase_url(self) -> str:
        return self.get("SUPABASE_URL").rstrip("/")

    @property
    def anon_key(self) -> str:
        return self.get("SUPABASE_ANON_KEY")

    @property
    def service_role_key(self) -> str:
        return self.get("SUPABASE_SERVICE_ROLE_KEY")

    @property
    def jwt_secret(self) -> str:
        return self.get("SUPABASE_JWT_SECRET")

    @property
    def jwks_url(self) -> str:
        return self.get("SUPABASE_JWKS_URL")

    @property
    def database_url(self) -> str:
        return self.get("DATABASE_URL")

    # edge handler
    @property
    def host(self) -> str:
        return self.get("THINBASE_HOST", "127.0.0.1")

    @property
    def port(self) -> int:
        raw = self.get("THINBASE_PORT", "54321")
        try:
            port = int(raw)
        except ValueError:
            raise ConfigurationError(f"THINBASE_PORT must be a number, got {raw!r}") from None
        if not 0 < port < 65536:
            raise ConfigurationError(f"THINBASE_PORT must be between 1 and 65535, got {port}")
        return port

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        return _csv(self.get("ALLOWED_ORIGINS"))

    @property
    def allowed_return_urls(self) -> tuple[str, ...]:
        return _csv(self.get("ALLOWED_RETURN_URLS"))

    @property
    def trusted_proxy_header(self) -> str:
        return self.get("TRUSTED_PROXY_HEADER").lower()

    @property
    def admin_emails(self) -> tuple[str, ...]:
        return tuple(email.lower() for email in _csv(self.get("ADMIN_EMAILS")))

    def flag(self, name: str) -> bool:
        return _flag(self.get(name))

    @property
    def expose_tests_schema(self) -> bool:
        """THINBASE_EXPOSE_TESTS_SCHEMA: the local gateway also exposes schema `tests` (the pgTAP helpers
        and contract-test functions). Only the test suite sets it: tests.create_supabase_user would let
        anyone holding the anon key create auth users with any email."""
        return self.flag("THINBASE_EXPOSE_TESTS_SCHEMA")

    @property
    def serves_local_gateway(self) -> bool:
        """Serve PostgREST's RPC contract at /rest/v1 only on the local stack.

        That is: the app talks to Postgres directly (DATABASE_URL) and SUPABASE_URL points at this very
        app on loopback. On a real project SUPABASE_URL is the platform's API and PostgREST serves it.
        """
        if not self.database_url or not self.supabase_url:
            return False
        return (urlsplit(self.supabase_url).hostname or "") in LOOPBACK_HOSTS


def load_settings(env: Mapping[str, str] | None = None, dotenv_path: Path | None = None) -> Settings:
    """Read settings from `env` (default: os.environ) over the values of a `.env` file, if present."""
    if env is not None:
        return Settings(env=dict(env))
    path = dotenv_path or Path.cwd() / ".env"
    merged: dict[str, str] = {}
    if path.is_file():
        merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    merged.update(os.environ)
    return Settings(env=merged)
