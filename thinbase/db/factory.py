"""Which adapter serves the port for a configuration (DESIGN.md, "The database port")."""

from __future__ import annotations

from thinbase.db.port import Database
from thinbase.settings import Settings


def open_database(settings: Settings) -> Database:
    """psycopg when DATABASE_URL is set (local stack, CLI, tests), supabase-py over PostgREST otherwise."""
    if settings.database_url:
        from thinbase.db.psycopg_adapter import PsycopgDatabase

        return PsycopgDatabase(settings.database_url)
    from thinbase.db.supabase_adapter import SupabaseDatabase

    return SupabaseDatabase.from_settings(settings)
