"""The database port: one interface (`Database.rpc`) and two adapters that behave the same.

- `PsycopgDatabase` talks to Postgres directly and reproduces PostgREST's per-request contract.
- `SupabaseDatabase` calls PostgREST over HTTP with supabase-py's PostgREST client.

`open_database(settings)` picks the adapter: psycopg when DATABASE_URL is set, supabase-py otherwise.
"""

from thinbase.db.factory import open_database
from thinbase.db.port import Caller, Database

__all__ = ["Caller", "Database", "open_database"]
