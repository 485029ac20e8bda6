-- The `tests` schema helpers (sql_tests/helpers/) behave as documented. Runs as `postgres`.
begin;
select plan(43);

-- Presence and access ---------------------------------------------------------------------------------
select functions_are('tests', array[
  'create_supabase_user', 'get_supabase_uid', 'get_supabase_user', 'authenticate_as',
  'authenticate_as_service_role', 'authenticate_as_anon', 'clear_authentication', 'rls_enabled'
],
'schema tests has exactly the documented helpers');
select ok(
  (
    select bool_and(has_schema_privilege(r, 'tests', 'usage'))
    from unnest(array['postgres', 'anon', 'authenticated', 'service_role']) as r
  ),
  'postgres and the API roles may use schema tests'
);
select ok(
  (
    select bool_and(has_function_privilege(r, oid, 'execute'))
    from pg_catalog.pg_proc
    cross join unnest(array['postgres', 'anon', 'authenticated', 'service_role']) as r
    where pronamespace = 'tests'::regnamespace
  ),
  'postgres and the API roles may call every helper'
);
select is(
  (
    select array_agg(p.proname::text order by p.proname)
    from pg_catalog.pg_proc as p
    where
      p.pronamespace = 'tests'::regnamespace
      and not p.prosecdef
      and (p.proname like 'authenticate%' or p.proname = 'clear_authentication')
  ),
  array['authenticate_as', 'authenticate_as_anon', 'authenticate_as_service_role', 'clear_authentication'],
  'the role-switching helpers are SECURITY INVOKER (PostgreSQL refuses set role in definer functions)'
);

-- Users -----------------------------------------------------------------------------------------------
select isnt(
  tests.create_supabase_user('helper-alice'), null::uuid,
  'create_supabase_user returns the new id'
);
select is(
  tests.get_supabase_uid('helper-alice'),
  (
    select u.id from auth.users as u
    where u.email = 'helper-alice@test.local'
  ),
  'get_supabase_uid finds the user; the default email is <identifier>@test.local'
);
select results_eq(
  $$ select u.aud::text, u.role::text, u.created_at, u.updated_at, u.email_confirmed_at, u.confirmed_at,
              u.raw_app_meta_data, u.is_anonymous
         from auth.users as u where u.id = tests.get_supabase_uid('helper-alice') $$,
  $$ values ('authenticated', 'authenticated', now(), now(), now(), now(),
               '{"provider": "email", "providers": ["email"]}'::jsonb, false) $$,
  'the user looks like a confirmed email signup through Supabase Auth'
);
select is(
  (
    select u.raw_user_meta_data from auth.users as u
    where u.id = tests.get_supabase_uid('helper-alice')
  ),
  '{"test_identifier": "helper-alice"}'::jsonb, 'raw_user_meta_data holds the identifier'
);

select lives_ok(
  $$ select tests.create_supabase_user('helper-bob', 'helper-bob@example.invalid', '+99955500002',
                                         '{"full_name": "Bob", "test_identifier": "ignored"}') $$,
  'create_supabase_user takes email, phone and metadata'
);
select results_eq(
  $$ select u.email::text, u.phone, u.raw_user_meta_data
         from auth.users as u where u.id = tests.get_supabase_uid('helper-bob') $$,
  $$ values ('helper-bob@example.invalid'::text, '+99955500002'::text,
               '{"full_name": "Bob", "test_identifier": "helper-bob"}'::jsonb) $$,
  'email and phone are stored; metadata is merged and the identifier wins'
);
select throws_ok(
  $$ select tests.create_supabase_user('helper-bob') $$, null, null,
  'an identifier can be used only once'
);
select throws_ok(
  $$ select tests.get_supabase_uid('nobody') $$, null, null,
  'get_supabase_uid raises for an unknown identifier'
);
select
  is(
    tests.get_supabase_user('helper-bob') ->> 'email',
    'helper-bob@example.invalid',
    'get_supabase_user returns the user as json'
  );
select is(
  (tests.get_supabase_user('helper-bob') ->> 'id')::uuid, tests.get_supabase_uid('helper-bob'),
  'get_supabase_user carries the id'
);

-- authenticate_as -------------------------------------------------------------------------------------
select tests.authenticate_as('helper-alice');
select is(current_user::text, 'authenticated', 'authenticate_as switches to role authenticated');
select is(
  auth.uid(), tests.get_supabase_uid('helper-alice'),
  'auth.uid() is the user (helpers work while authenticated)'
);
select is(auth.role(), 'authenticated', 'the role claim is authenticated');
select is(auth.email(), 'helper-alice@test.local', 'the email claim is the user''s email');
select ok(
  auth.jwt() ?& array[
    'sub', 'role', 'aud', 'email', 'phone', 'aal', 'session_id', 'is_anonymous',
    'iat', 'exp', 'app_metadata', 'user_metadata'
  ],
  'the claims carry the full Supabase Auth claim set'
);
select results_eq(
  $$ select auth.jwt() ->> 'aud', auth.jwt() ->> 'aal', auth.jwt() ->> 'phone',
              auth.jwt() -> 'is_anonymous', auth.jwt() -> 'app_metadata' -> 'provider',
              auth.jwt() -> 'user_metadata' ->> 'test_identifier' $$,
  $$ values ('authenticated', 'aal1', '', 'false'::jsonb, '"email"'::jsonb, 'helper-alice') $$,
  'aud, aal, phone ("" when absent), is_anonymous, app_metadata and user_metadata'
);
select ok(
  (auth.jwt() ->> 'exp')::bigint > (auth.jwt() ->> 'iat')::bigint
  and (auth.jwt() ->> 'session_id')::uuid is not null,
  'exp is after iat and session_id is a uuid'
);
select is(
  current_setting('request.jwt.claims')::jsonb ->> 'sub', tests.get_supabase_uid('helper-alice')::text,
  'the claims live in request.jwt.claims, as PostgREST sets them'
);

select tests.authenticate_as('helper-bob');
select is(
  auth.uid(), tests.get_supabase_uid('helper-bob'),
  'authenticate_as can switch users while authenticated'
);

-- clear_authentication: from authenticated back to the runner's role ----------------------------------
select tests.clear_authentication();
select is(current_user::text, 'postgres', 'clear_authentication returns to postgres from authenticated');
select is(current_user::text, session_user::text, 'clear_authentication returns to the session user');
select ok(auth.uid() is null and auth.jwt() is null, 'clear_authentication clears the claims');
select lives_ok($$ select count(*) from auth.users $$, 'postgres privileges are back');

-- service role and anon -------------------------------------------------------------------------------
select tests.authenticate_as_service_role();
select is(current_user::text, 'service_role', 'authenticate_as_service_role switches to service_role');
select is(auth.role(), 'service_role', 'the service role claim is service_role');
select ok(auth.uid() is null, 'the service role has no user id');
select tests.clear_authentication();
select is(current_user::text, 'postgres', 'clear_authentication returns to postgres from service_role');

select tests.authenticate_as_anon();
select is(current_user::text, 'anon', 'authenticate_as_anon switches to anon');
select is(auth.role(), 'anon', 'the anon claim is anon');
select tests.clear_authentication();
select is(current_user::text, 'postgres', 'clear_authentication returns to postgres from anon');

-- rls_enabled -----------------------------------------------------------------------------------------
-- check_test() runs a pgTAP assertion, takes its result back out of the tally, and asserts its outcome
-- and description instead (two tests each), so an expected "not ok" does not fail this file.
select * from check_test(
  tests.rls_enabled('storage'), true,
  'rls_enabled(schema) on storage', 'All tables in schema storage have row level security enabled'
);
select * from check_test(
  tests.rls_enabled('storage', 'objects'), true,
  'rls_enabled(schema, table) on storage.objects', 'Table storage.objects has row level security enabled'
);
create table public.platform_test_without_rls (id int);
select * from check_test(
  tests.rls_enabled('public', 'platform_test_without_rls'), false,
  'rls_enabled(schema, table) on a table without RLS',
  'Table public.platform_test_without_rls has row level security enabled'
);
select * from check_test(
  tests.rls_enabled('public'), false,
  'rls_enabled(schema) on a schema holding a table without RLS',
  'All tables in schema public have row level security enabled'
);
select * from check_test(
  tests.rls_enabled('public', 'platform_test_no_such_table'), false,
  'rls_enabled(schema, table) on a missing table'
);

select * from finish();
rollback;
