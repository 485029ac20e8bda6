"""The database port: one async interface (`Database.rpc`) and two adapters that behave the same.

- `PsycopgDatabase` talks to Postgres directly and reproduces PostgREST's per-request contract.
- `SupabaseDatabase` calls PostgREST over HTTP with supabase-py's PostgREST client.

`open_database(settings)` picks the adapter: psycopg when DATABASE_URL is set, supabase-py otherwise.
Sync code uses the same port through `SyncDatabase` (`open_sync_database`).
"""

from thinbase.db.factory import open_database, open_sync_database
from thinbase.db.port import Caller, Database
from thinbase.db.sync import SyncDatabase

__all__ = ["Caller", "Database", "SyncDatabase", "open_database", "open_sync_database"]
