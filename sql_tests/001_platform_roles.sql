-- Platform stand-in: roles, the migration role, extensions and pg_cron.
-- Checks the local stack against the hosted facts (reference/supabase-platform.md §1); runs as `postgres`.
-- Must also pass after our migrations ran, so it only asserts what migrations cannot (or must not) change.
begin;
-- Keep the TAP stream clean of NOTICEs ("already exists, skipping", "drop cascades to …").
set local client_min_messages = warning;
select plan(41);

-- Role attributes as one readable string per role, e.g. 'NOSUPERUSER INHERIT … NOBYPASSRLS'.
create function pg_temp.role_attributes(role_name name)
returns text
language sql
stable
as $$
  select concat_ws(' ',
    case when r.rolsuper then 'SUPERUSER' else 'NOSUPERUSER' end,
    case when r.rolinherit then 'INHERIT' else 'NOINHERIT' end,
    case when r.rolcreaterole then 'CREATEROLE' else 'NOCREATEROLE' end,
    case when r.rolcreatedb then 'CREATEDB' else 'NOCREATEDB' end,
    case when r.rolcanlogin then 'LOGIN' else 'NOLOGIN' end,
    case when r.rolreplication then 'REPLICATION' else 'NOREPLICATION' end,
    case when r.rolbypassrls then 'BYPASSRLS' else 'NOBYPASSRLS' end)
  from pg_catalog.pg_roles as r
  where r.rolname = role_name
$$;

-- A role's own `alter role … set name = value` (database-independent).
create function pg_temp.role_setting(role_name name, setting_name text)
returns text
language sql
stable
as $$
  select substr(cfg, length(setting_name) + 2)
  from pg_catalog.pg_db_role_setting as s
  join pg_catalog.pg_roles as r on r.oid = s.setrole
  cross join lateral unnest(s.setconfig) as cfg
  where r.rolname = role_name
    and s.setdatabase = 0
    and cfg like setting_name || '=%'
$$;

-- Roles and attributes --------------------------------------------------------------------------------
select is(current_user::text, 'postgres', 'pgTAP runs as the migration role postgres, not as a superuser');

select is(
  pg_temp.role_attributes('anon'),
  'NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS',
  'anon: NOLOGIN INHERIT'
);
select is(
  pg_temp.role_attributes('authenticated'),
  'NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS',
  'authenticated: NOLOGIN INHERIT'
);
select is(
  pg_temp.role_attributes('service_role'),
  'NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION BYPASSRLS',
  'service_role: NOLOGIN INHERIT BYPASSRLS'
);
select is(
  pg_temp.role_attributes('authenticator'),
  'NOSUPERUSER NOINHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS',
  'authenticator: LOGIN NOINHERIT'
);
select is(
  pg_temp.role_attributes('supabase_auth_admin'),
  'NOSUPERUSER NOINHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS',
  'supabase_auth_admin: NOINHERIT, not a superuser'
);
select is(
  pg_temp.role_attributes('supabase_storage_admin'),
  'NOSUPERUSER NOINHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS',
  'supabase_storage_admin: NOINHERIT, not a superuser'
);
select is(
  pg_temp.role_attributes('postgres'),
  'NOSUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS',
  'postgres: NOSUPERUSER CREATEDB CREATEROLE LOGIN REPLICATION BYPASSRLS (the hosted, demoted shape)'
);
select ok(
  (
    select rolsuper from pg_catalog.pg_roles
    where rolname = 'supabase_admin'
  ),
  'supabase_admin is the superuser'
);

-- Role settings ---------------------------------------------------------------------------------------
select is(pg_temp.role_setting('anon', 'statement_timeout'), '3s', 'anon: statement_timeout 3s');
select is(
  pg_temp.role_setting('authenticated', 'statement_timeout'), '8s',
  'authenticated: statement_timeout 8s'
);
select is(
  pg_temp.role_setting('authenticator', 'statement_timeout'), '8s',
  'authenticator: statement_timeout 8s'
);
select is(pg_temp.role_setting('authenticator', 'lock_timeout'), '8s', 'authenticator: lock_timeout 8s');
select is(
  pg_temp.role_setting('postgres', 'search_path'), '"$user", public, extensions',
  'postgres: search_path "$user", public, extensions'
);

-- Memberships -----------------------------------------------------------------------------------------
select set_eq(
  $$ select m.roleid::regrole::text from pg_catalog.pg_auth_members as m
       where m.member = 'authenticator'::regrole $$,
  array['anon', 'authenticated', 'service_role'],
  'authenticator is a member of exactly anon, authenticated and service_role'
);
select ok(
  pg_has_role('postgres', 'anon', 'member')
  and pg_has_role('postgres', 'authenticated', 'member')
  and pg_has_role('postgres', 'service_role', 'member'),
  'postgres is a member of anon, authenticated and service_role (it can set role to them)'
);
select ok(
  not pg_has_role('postgres', 'supabase_auth_admin', 'member'),
  'postgres is not a member of supabase_auth_admin (it must not own auth tables)'
);
select ok(
  not pg_has_role('postgres', 'supabase_admin', 'member'),
  'postgres is not a member of the superuser'
);
select ok(
  not pg_has_role('postgres', 'authenticator', 'member'),
  'postgres is not a member of authenticator'
);
select ok(
  pg_has_role('postgres', 'supabase_storage_admin', 'usage'),
  'postgres inherits supabase_storage_admin (ownership of storage tables, for CREATE POLICY)'
);

-- Database --------------------------------------------------------------------------------------------
select is(
  (
    select pg_catalog.pg_get_userbyid(d.datdba)::text from pg_catalog.pg_database as d
    where d.datname = 'postgres'
  ),
  'postgres', 'postgres owns database postgres (supabase db push creates supabase_migrations itself)'
);

-- Extensions ------------------------------------------------------------------------------------------
select schema_owner_is(
  'extensions', 'supabase_admin',
  'schema extensions is owned by the superuser (postgres cannot drop what is in it)'
);
select ok(
  (
    select bool_and(has_schema_privilege(r, 'extensions', 'usage'))
    from unnest(array['postgres', 'anon', 'authenticated', 'service_role']) as r
  ),
  'postgres, anon, authenticated and service_role may use schema extensions'
);
select ok(
  has_schema_privilege('postgres', 'extensions', 'create'),
  'postgres may create objects (trusted extensions) in schema extensions'
);
select has_extension('extensions', 'pgcrypto', 'pgcrypto is installed in extensions');
select has_extension('extensions', 'uuid-ossp', 'uuid-ossp is installed in extensions');
select has_extension('extensions', 'pgtap', 'pgtap is installed in extensions');
select has_extension('extensions', 'plpgsql_check', 'plpgsql_check is installed in extensions');
select lives_ok(
  $$ create extension seg with schema extensions $$,
  'postgres can create a trusted extension in schema extensions'
);
select lives_ok(
  $$ create extension if not exists citext with schema extensions $$,
  'postgres can create citext in schema extensions'
);
select is(
  (
    select p.pronamespace::regnamespace::text
    from pg_catalog.pg_proc as p
    where p.proname = 'gen_random_bytes'
  ),
  'extensions',
  'pgcrypto functions live in schema extensions'
);
select lives_ok(
  $$ select * from plpgsql_check_function('storage.foldername(text)') $$,
  'plpgsql_check_function resolves unqualified (what supabase db lint calls)'
);
select is(
  (
    select array_agg(v.name::text order by v.name)
    from pg_catalog.pg_available_extension_versions as v
    where v.name in ('pgtap', 'plpgsql_check') and v.installed and not v.trusted
  ),
  array['pgtap', 'plpgsql_check'],
  'pgtap and plpgsql_check are untrusted, so the superuser pre-installed them'
);

-- pg_cron ---------------------------------------------------------------------------------------------
select has_extension('pg_cron', 'pg_cron is installed');
-- Supabase creates it `with schema pg_catalog` (its objects live in schema cron either way); in `public` the
-- advisor's extension_in_public lint would warn, and pg_extension would differ from a hosted project's.
select is(
  (
    select x.extnamespace::regnamespace::text from pg_catalog.pg_extension as x
    where x.extname = 'pg_cron'
  ),
  'pg_catalog',
  'pg_cron is created in schema pg_catalog, as on Supabase'
);
select ok(has_schema_privilege('postgres', 'cron', 'usage'), 'postgres may use schema cron');
select ok(
  has_function_privilege('postgres', 'cron.schedule(text, text, text)', 'execute')
  and has_function_privilege('postgres', 'cron.unschedule(name)', 'execute'),
  'postgres may call cron.schedule and cron.unschedule'
);
select isnt(
  cron.schedule('thinbase-platform-test', '0 3 * * *', 'select 1'),
  null::bigint,
  'postgres can schedule a job by name'
);
select is(
  (
    select j.username::text from cron.job as j
    where j.jobname = 'thinbase-platform-test'
  ),
  'postgres', 'the job runs as the role that scheduled it'
);
select ok(cron.unschedule('thinbase-platform-test'), 'postgres can unschedule its job');
select ok(
  not has_table_privilege('postgres', 'cron.job', 'insert'),
  'postgres cannot write cron.job directly (only through pg_cron''s functions)'
);

select * from finish();
rollback;
