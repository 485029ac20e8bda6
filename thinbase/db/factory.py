"""Which adapter serves the port for a configuration (DESIGN.md, "The database port")."""

from __future__ import annotations

from thinbase.db.port import Database
from thinbase.db.sync import SyncDatabase
from thinbase.errors import ConfigurationError
from thinbase.settings import Settings

# Connections the psycopg adapter may open (DATABASE_POOL_SIZE overrides). Requests waiting on Postgres
# hold no thread, so the pool is what bounds concurrent database work: with fewer connections than
# concurrent requests they queue for one (measured: 16 concurrent webhooks, 300 req/s with 10, 445 with 16),
# and more transactions in flight share each WAL flush. Keep it within the server's (or pooler's) limit.
DEFAULT_POOL_SIZE = 20


def pool_size(settings: Settings) -> int:
    raw = (settings.get("DATABASE_POOL_SIZE") or "").strip()
    if not raw:
        return DEFAULT_POOL_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise ConfigurationError(f"DATABASE_POOL_SIZE must be a whole number from 1 to 1000, not {raw!r}")
    return int(raw)


def open_database(settings: Settings) -> Database:
    """The async port: psycopg when DATABASE_URL is set (local stack, CLI, tests), supabase-py over
    PostgREST otherwise. Open it on the event loop that will use it."""
    if settings.database_url:
        from thinbase.db.psycopg_adapter import AsyncPsycopgDatabase

        return AsyncPsycopgDatabase(settings.database_url, max_size=pool_size(settings))
    from thinbase.db.supabase_adapter import AsyncSupabaseDatabase

    return AsyncSupabaseDatabase.from_settings(settings)


def open_sync_database(settings: Settings) -> SyncDatabase[Database]:
    """The same port behind the sync facade, for code that is not async (the CLI)."""
    return SyncDatabase(lambda: open_database(settings))
