"""Which adapter serves the port for a configuration (DESIGN.md, "The database port")."""

from __future__ import annotations

from thinbase.db.port import Database
from thinbase.db.sync import SyncDatabase
from thinbase.settings import Settings


def open_database(settings: Settings) -> Database:
    """The async port: psycopg when DATABASE_URL is set (local stack, CLI, tests), supabase-py over
    PostgREST otherwise. Open it on the event loop that will use it."""
    if settings.database_url:
        from thinbase.db.psycopg_adapter import AsyncPsycopgDatabase

        return AsyncPsycopgDatabase(settings.database_url)
    from thinbase.db.supabase_adapter import AsyncSupabaseDatabase

    return AsyncSupabaseDatabase.from_settings(settings)


def open_sync_database(settings: Settings) -> SyncDatabase[Database]:
    """The same port behind the sync facade, for code that is not async (the CLI)."""
    return SyncDatabase(lambda: open_database(settings))
