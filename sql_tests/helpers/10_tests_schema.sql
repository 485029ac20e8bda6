-- pgTAP test helpers: schema `tests`. LOCAL STACK ONLY, never pushed to a real project.
--
-- Applied as supabase_admin before every test run, so everything here is idempotent. The names follow
-- the helpers the Supabase community knows from basejump's supabase-test-helpers; the code is our own.
--
-- Typical use inside a pgTAP file (which runs as `postgres`, in one transaction that is rolled back):
--     select tests.create_supabase_user('alice');
--     select tests.authenticate_as('alice');      -- now role authenticated, auth.uid() = alice
--     select is((select count(*) from public.profiles), 1::bigint, 'alice sees her own profile');
--     select tests.clear_authentication();        -- back to postgres

-- Quiet on re-runs ("schema already exists, skipping").
set client_min_messages = warning;

create schema if not exists tests;
comment on schema tests is 'pgTAP helpers for the local stack only';

-- Users -----------------------------------------------------------------------------------------------

-- Insert a confirmed email user the way Supabase Auth would, and remember it under `identifier`
-- (stored as raw_user_meta_data.test_identifier). Returns the new user's id.
-- SECURITY DEFINER: the API roles have no privileges on auth.users.
create or replace function tests.create_supabase_user(
  identifier text,
  email text default null,
  phone text default null,
  metadata jsonb default null
)
returns uuid
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  new_id uuid := pg_catalog.gen_random_uuid();
begin
  if exists (select 1 from auth.users as u where u.raw_user_meta_data ->> 'test_identifier' = identifier) then
    raise exception 'a test user with identifier "%" already exists', identifier;
  end if;

  insert into auth.users (
    instance_id, id, aud, role, email, phone, email_confirmed_at,
    raw_app_meta_data, raw_user_meta_data, created_at, updated_at
  ) values (
    -- Supabase Auth writes the nil uuid here.
    '00000000-0000-0000-0000-000000000000',
    new_id,
    'authenticated',
    'authenticated',
    coalesce(email, identifier || '@test.local'),
    phone,
    pg_catalog.now(),
    '{"provider": "email", "providers": ["email"]}'::jsonb,
    -- The identifier wins over a test_identifier key in `metadata`, so lookups stay reliable.
    coalesce(metadata, '{}'::jsonb) || pg_catalog.jsonb_build_object('test_identifier', identifier),
    pg_catalog.now(),
    pg_catalog.now()
  );
  return new_id;
end
$$;

-- The id of the test user created under `identifier`; raises if there is none.
create or replace function tests.get_supabase_uid(identifier text)
returns uuid
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  user_id uuid;
begin
  select u.id into user_id
    from auth.users as u
   where u.raw_user_meta_data ->> 'test_identifier' = identifier;
  if user_id is null then
    raise exception 'no test user with identifier "%"; create it with tests.create_supabase_user()',
      identifier;
  end if;
  return user_id;
end
$$;

-- The test user as JSON (the fields a JWT is built from); raises if there is none.
create or replace function tests.get_supabase_user(identifier text)
returns json
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  found json;
begin
  select pg_catalog.json_build_object(
         'id', u.id,
         'aud', u.aud,
         'role', u.role,
         'email', u.email,
         'phone', u.phone,
         'is_anonymous', u.is_anonymous,
         'created_at', u.created_at,
         'raw_app_meta_data', u.raw_app_meta_data,
         'raw_user_meta_data', u.raw_user_meta_data
       )
    into found
    from auth.users as u
   where u.raw_user_meta_data ->> 'test_identifier' = identifier;
  if found is null then
    raise exception 'no test user with identifier "%"; create it with tests.create_supabase_user()',
      identifier;
  end if;
  return found;
end
$$;

-- Acting as a caller ----------------------------------------------------------------------------------
-- These reproduce what PostgREST does per request: a transaction-local role and a transaction-local
-- `request.jwt.claims` holding the token's claims (always including `role`). They must be SECURITY
-- INVOKER: PostgreSQL refuses to change `role` inside a security-definer function. Their `set search_path`
-- clause only restores search_path on return; the role and claims they set stay in force.

-- Act as the signed-in user `identifier`, with the claim set Supabase Auth puts in an access token.
create or replace function tests.authenticate_as(identifier text)
returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  target json := tests.get_supabase_user(identifier);
  issued_at bigint := pg_catalog.floor(extract(epoch from pg_catalog.now()))::bigint;
  claims jsonb;
begin
  claims := pg_catalog.jsonb_build_object(
    'sub', target ->> 'id',
    'role', 'authenticated',
    'aud', coalesce(target ->> 'aud', 'authenticated'),
    -- Supabase Auth sends "" rather than omitting email/phone.
    'email', coalesce(target ->> 'email', ''),
    'phone', coalesce(target ->> 'phone', ''),
    'aal', 'aal1',
    'amr', pg_catalog.jsonb_build_array(
      pg_catalog.jsonb_build_object('method', 'password', 'timestamp', issued_at)),
    'session_id', pg_catalog.gen_random_uuid(),
    'is_anonymous', coalesce((target ->> 'is_anonymous')::boolean, false),
    'iat', issued_at,
    'exp', issued_at + 3600,
    'app_metadata', coalesce(target -> 'raw_app_meta_data', '{}'::json),
    'user_metadata', coalesce(target -> 'raw_user_meta_data', '{}'::json)
  );
  perform pg_catalog.set_config('request.jwt.claims', claims::text, true);
  perform pg_catalog.set_config('role', 'authenticated', true);
end
$$;

-- Act as the service key: role service_role (BYPASSRLS) with the claims of a legacy service_role API key.
create or replace function tests.authenticate_as_service_role()
returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  issued_at bigint := pg_catalog.floor(extract(epoch from pg_catalog.now()))::bigint;
begin
  perform pg_catalog.set_config(
    'request.jwt.claims',
    pg_catalog.jsonb_build_object('iss', 'supabase', 'role', 'service_role',
                    'iat', issued_at, 'exp', issued_at + 3600)::text,
    true);
  perform pg_catalog.set_config('role', 'service_role', true);
end
$$;

-- Act as an anonymous caller (anon key, no user session). Not in basejump's set; PostgREST's anon shape.
create or replace function tests.authenticate_as_anon()
returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  issued_at bigint := pg_catalog.floor(extract(epoch from pg_catalog.now()))::bigint;
begin
  perform pg_catalog.set_config(
    'request.jwt.claims',
    pg_catalog.jsonb_build_object('iss', 'supabase', 'role', 'anon',
                    'iat', issued_at, 'exp', issued_at + 3600)::text,
    true);
  perform pg_catalog.set_config('role', 'anon', true);
end
$$;

-- Back to the role the test session logged in as (postgres under pg_prove), with no claims.
-- `role = 'none'` is SET ROLE NONE: it returns to the session user whatever the current role is, and is
-- allowed from any role, including `authenticated`. Claims are set to '' (auth.* treat '' as unset).
create or replace function tests.clear_authentication()
returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  perform pg_catalog.set_config('request.jwt.claims', '', true);
  perform pg_catalog.set_config('role', 'none', true);
end
$$;

-- RLS checks, as pgTAP assertions ---------------------------------------------------------------------
-- They return pgTAP's ok(...) line, so they count as one test each in plan(N). pgTAP's own functions look
-- each other up through search_path, hence `extensions` rather than ''.

-- Every ordinary and partitioned table in the schema has row level security enabled.
create or replace function tests.rls_enabled(testing_schema text)
returns text
language plpgsql
volatile
security invoker
set search_path = extensions
as $$
declare
  missing text[];
begin
  select pg_catalog.array_agg(c.relname::text order by c.relname) into missing
    from pg_catalog.pg_class as c
    join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
   where n.nspname = testing_schema
     and c.relkind in ('r', 'p')
     and not c.relrowsecurity;
  return extensions.ok(
    missing is null,
    pg_catalog.format('All tables in schema %I have row level security enabled', testing_schema)
  ) || case when missing is null then ''
        else E'\n' || extensions.diag('without RLS: ' || pg_catalog.array_to_string(missing, ', '))
     end;
end
$$;

-- One table has row level security enabled (fails, rather than errors, if the table does not exist).
create or replace function tests.rls_enabled(testing_schema text, testing_table text)
returns text
language plpgsql
volatile
security invoker
set search_path = extensions
as $$
begin
  return extensions.ok(
    coalesce((
      select c.relrowsecurity
        from pg_catalog.pg_class as c
        join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
       where n.nspname = testing_schema
         and c.relname = testing_table
         and c.relkind in ('r', 'p')
    ), false),
    pg_catalog.format('Table %I.%I has row level security enabled', testing_schema, testing_table)
  );
end
$$;

-- Who may use the helpers: the pgTAP runner (postgres) and every role a test switches to.
grant usage on schema tests to postgres, anon, authenticated, service_role;
revoke all on all functions in schema tests from public;
grant execute on all functions in schema tests to postgres, anon, authenticated, service_role;
