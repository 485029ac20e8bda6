-- Platform stand-in, part 2: the `extensions` schema, the extensions hosted projects pre-install, pg_cron.
--
-- LOCAL STACK ONLY (see 10_roles.sql).

-- Hosted projects keep extensions out of `public` in a schema of their own. Here it is owned by the
-- superuser rather than by `postgres`: a schema owner may drop anything inside it, and we do not want the
-- migration role to be able to drop pgTAP, plpgsql_check or the platform's guard functions (50_guards.sql).
-- Owning it by supabase_admin also makes `supabase db lint` skip it, as it skips other managed schemas.
create schema if not exists extensions authorization supabase_admin;

-- Every API role can call extension functions (gen_random_bytes, uuid_generate_v4, citext operators …).
grant usage on schema extensions to postgres, anon, authenticated, service_role;
-- Hosted `postgres` owns this schema and may therefore create in it; CREATE is granted instead of
-- ownership. (Migrations' `create extension if not exists citext with schema extensions` works for
-- trusted extensions either way: their scripts run with the bootstrap superuser's rights.)
grant create on schema extensions to postgres;

-- Installed by the platform on every hosted project.
create extension if not exists pgcrypto with schema extensions;
create extension if not exists "uuid-ossp" with schema extensions;

-- Neither pgtap nor plpgsql_check is marked `trusted`, so the non-superuser migration role cannot create
-- them. Hosted projects create them on the user's behalf (supautils "privileged extensions"); here the
-- superuser pre-installs them. pgtap is what our sql_tests/ run on; `supabase db lint` runs
-- `create extension if not exists plpgsql_check` (a no-op once it exists) and then calls it unqualified.
create extension if not exists pgtap with schema extensions;
create extension if not exists plpgsql_check with schema extensions;

-- pg_cron ---------------------------------------------------------------------------------------------
-- The cluster preloads pg_cron with cron.database_name = 'postgres'; the extension creates schema `cron`
-- for its objects. Its control file names no schema, so a bare `create extension` would record it in the
-- first schema on the search_path (`public`), where the advisor flags it (extension_in_public); Supabase
-- creates it `with schema pg_catalog`, and so do we, so that pg_extension says what a project's says.
-- pg_cron leaves the schema unusable for non-superusers, so (as hosted projects do when pg_cron is
-- enabled) the migration role gets usage, so that a migration can call cron.schedule(...) and
-- cron.unschedule(...); jobs run as the role that scheduled them.
create extension if not exists pg_cron with schema pg_catalog;

grant usage on schema cron to postgres with grant option;
grant all on all tables in schema cron to postgres with grant option;
grant all on all sequences in schema cron to postgres with grant option;
grant all on all functions in schema cron to postgres with grant option;
-- cron.job is written only through pg_cron's functions (schedule/unschedule/alter_job); direct writes
-- would bypass its checks, so hosted projects leave `postgres` with read access only.
revoke all on table cron.job from postgres;
grant select on table cron.job to postgres with grant option;
