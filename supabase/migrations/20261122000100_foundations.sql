-- Foundations: the `private` schema for internals and least-privilege defaults for everything after.
--
-- PostgREST exposes only `public`; ledgers, buckets, settings and helper functions live in `private`,
-- which no API role may use. Functions are not executable by PUBLIC unless a migration grants them to the
-- exact roles that call them (each grant sits right after the function's definition).

create schema if not exists private;
comment on schema private is 'thinbase internals: never exposed through the Data API';

-- USAGE lets a public invoker RPC call its definer helper here; it exposes nothing by itself: private tables
-- and functions grant nothing to anon/authenticated unless a migration says so.
revoke all on schema private from public;
grant usage on schema private to anon, authenticated, service_role;

-- PostgreSQL grants EXECUTE on new functions to PUBLIC; undo that for everything the migration role
-- creates from here on, in every schema.
alter default privileges revoke execute on functions from public;
alter default privileges in schema public revoke execute on functions from public;
alter default privileges in schema private revoke execute on functions from public;
