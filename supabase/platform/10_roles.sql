-- Platform stand-in, part 1: the roles every Supabase project has.
--
-- LOCAL STACK ONLY. This directory imitates what a hosted Supabase project already contains before our
-- first migration runs; it is applied once, as the cluster superuser `supabase_admin`, to a fresh
-- PostgreSQL 15 cluster and is never pushed anywhere. Facts: ../shared/reference/supabase-platform.md §1.
--
-- Hosted projects are initialised by supabase/postgres with `supabase_admin` as the bootstrap superuser;
-- `postgres` starts out as a superuser and is demoted later. Our initdb already uses `supabase_admin`, so
-- here `postgres` is simply created in its final, demoted shape.
--
-- No passwords are set here: the local tooling sets them for `postgres` and `authenticator` afterwards.

-- The superuser's own search_path, as on hosted projects.
alter role supabase_admin set search_path = "$user", public, auth, extensions;

-- API roles -------------------------------------------------------------------------------------------
-- PostgREST switches to one of these per request (`set local role`). Hosted projects created them
-- NOINHERIT and flipped them to INHERIT later; the final state is what matters.

create role anon nologin inherit;
-- Requests from the anonymous key are cut off sooner than signed-in ones.
alter role anon set statement_timeout = '3s';

create role authenticated nologin inherit;
alter role authenticated set statement_timeout = '8s';

-- The service key's role: skips RLS entirely (that is what "service role" means on Supabase).
create role service_role nologin inherit bypassrls;

-- The role PostgREST logs in as. NOINHERIT: it holds no privileges of its own and only acts after
-- `set role` to one of the three API roles it is a member of.
create role authenticator login noinherit;
grant anon, authenticated, service_role to authenticator;
alter role authenticator set statement_timeout = '8s';
alter role authenticator set lock_timeout = '8s';

-- Service owner roles ---------------------------------------------------------------------------------
-- Supabase Auth (GoTrue) and the Storage API own their schemas' tables and log in as these roles. NOINHERIT,
-- like hosted. Locally nothing logs in as them; they exist so that ownership (and therefore the
-- permission checks that depend on the owner, such as foreign keys to auth.users) matches hosted.

create role supabase_auth_admin login noinherit noreplication;
alter role supabase_auth_admin set search_path = auth;

create role supabase_storage_admin login noinherit noreplication;
alter role supabase_storage_admin set search_path = storage;
-- Hosted projects also make supabase_storage_admin a member of authenticator (the Storage API switches to
-- the caller's API role). Not reproduced: `postgres` becomes a member of supabase_storage_admin in
-- 40_storage.sql, and would then reach authenticator too, which hosted `postgres` cannot.

-- The migration role `postgres` -----------------------------------------------------------------------
-- What `supabase db push` connects as on a hosted project: NOT a superuser, but it can create databases
-- and roles, and bypasses RLS.
create role postgres nosuperuser createdb createrole login replication bypassrls;

-- `supabase db push` creates schema supabase_migrations itself, and in PostgreSQL 15 the database owner
-- (pg_database_owner) is the one who may create objects in `public`.
alter database postgres owner to postgres;

-- Hosted `postgres` can act as any API role (handy for tests: `set local role authenticated`).
grant anon, authenticated, service_role to postgres;

-- Hosted `postgres` can read everything and signal other backends (pg_cancel_backend) of non-superusers.
grant pg_read_all_data, pg_signal_backend to postgres;

-- `extensions` is on the path so that extension functions resolve unqualified, e.g. `supabase db lint`
-- calls plpgsql_check_function(...) without a schema.
alter role postgres set search_path = "$user", public, extensions;
