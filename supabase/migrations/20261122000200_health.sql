-- health(): what the edge app's GET /health reports about the database: the latest applied migration
-- version and the database clock. For service_role only; reads the CLI's migration history through a
-- definer helper because API roles have no access to `supabase_migrations`.

create function private.latest_migration_version()
returns text
language sql
stable
security definer
set search_path = ''
as $$
  select max(version) from supabase_migrations.schema_migrations
$$;

revoke execute on function private.latest_migration_version() from public;
grant execute on function private.latest_migration_version() to service_role;

create function public.health()
returns table (migration_version text, database_time timestamptz)
language sql
stable
security invoker
set search_path = ''
as $$
  select private.latest_migration_version(), pg_catalog.now()
$$;

revoke execute on function public.health() from public;
grant execute on function public.health() to service_role;
