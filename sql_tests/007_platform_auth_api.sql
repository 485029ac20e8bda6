-- Platform stand-in: Supabase Auth's sessions and the server's calls in schema auth_api
-- (supabase/platform/35_auth_api.sql; the local gateway's /auth/v1). Runs as `postgres`.
begin;
select plan(36);

-- Tables: shape, owner, RLS, privileges ------------------------------------------------------------------
select columns_are('auth', 'identities', array[
  'provider_id', 'user_id', 'identity_data', 'provider', 'last_sign_in_at', 'created_at', 'updated_at',
  'email', 'id'
], 'auth.identities has GoTrue''s columns');
select columns_are('auth', 'sessions', array[
  'id', 'user_id', 'created_at', 'updated_at', 'factor_id', 'aal', 'not_after', 'refreshed_at',
  'user_agent', 'ip', 'tag', 'oauth_client_id', 'refresh_token_hmac_key', 'refresh_token_counter', 'scopes'
], 'auth.sessions has GoTrue''s columns');
select columns_are('auth', 'refresh_tokens', array[
  'instance_id', 'id', 'token', 'user_id', 'revoked', 'created_at', 'updated_at', 'parent', 'session_id'
], 'auth.refresh_tokens has GoTrue''s columns');
select col_type_is(
  'auth', 'refresh_tokens', 'user_id', 'character varying(255)',
  'auth.refresh_tokens.user_id is text, as in GoTrue'
);
select col_type_is(
  'auth', 'sessions', 'refreshed_at', 'timestamp without time zone',
  'auth.sessions.refreshed_at has no time zone, as in GoTrue'
);
select is(
  (
    select array_agg(tableowner::text order by tablename) from pg_catalog.pg_tables
    where schemaname = 'auth' and tablename in ('identities', 'refresh_tokens', 'sessions')
  ),
  array['supabase_auth_admin', 'supabase_auth_admin', 'supabase_auth_admin'],
  'supabase_auth_admin owns the three tables'
);
select ok(
  (
    select bool_and(c.relrowsecurity) from pg_catalog.pg_class as c
    where c.oid in ('auth.identities'::regclass, 'auth.sessions'::regclass, 'auth.refresh_tokens'::regclass)
  ),
  'RLS is enabled on the three tables'
);
select is(
  (
    select count(*)::integer from pg_catalog.pg_policies
    where schemaname = 'auth' and tablename in ('identities', 'sessions', 'refresh_tokens')
  ),
  0,
  'and they have no policies'
);
select ok(
  not (
    select bool_or(has_table_privilege(r, t, p))
    from unnest(array['anon', 'authenticated', 'service_role']) as r
    cross join unnest(array['auth.identities', 'auth.sessions', 'auth.refresh_tokens']) as t
    cross join unnest(array['select', 'insert', 'update', 'delete', 'truncate', 'references', 'trigger']) as p
  ),
  'the API roles have no privilege on the three tables'
);
select ok(
  has_table_privilege('postgres', 'auth.sessions', 'select')
  and has_table_privilege('postgres', 'auth.refresh_tokens', 'select'),
  'postgres may read them, as on hosted projects'
);

-- Schema auth_api: owner, usage, functions, privileges ----------------------------------------------------
select schema_owner_is('auth_api', 'supabase_admin', 'schema auth_api is owned by the superuser');
select ok(
  has_schema_privilege('service_role', 'auth_api', 'usage')
  and not has_schema_privilege('anon', 'auth_api', 'usage')
  and not has_schema_privilege('authenticated', 'auth_api', 'usage'),
  'only service_role (of the API roles) may use schema auth_api'
);
select ok(
  not (
    select bool_or(has_schema_privilege(r, 'auth_api', 'create'))
    from unnest(array['postgres', 'service_role', 'supabase_auth_admin', 'authenticator']) as r
  ),
  'nobody but the superuser may create in auth_api (migrations cannot change it)'
);
select functions_are('auth_api', array[
  'ts', 'user_json', 'new_refresh_token', 'session_json', 'start_session', 'sign_up', 'password_grant',
  'refresh_token_grant', 'token_user', 'get_user', 'update_user', 'logout'
], 'auth_api has exactly the server''s calls and their helpers');
select ok(
  (select
    bool_and(
      p.proowner = 'supabase_auth_admin'::regrole
      and p.proconfig @> array['search_path=""']
    )
  from pg_catalog.pg_proc as p
  where p.pronamespace = 'auth_api'::regnamespace),
  'every auth_api function is owned by supabase_auth_admin and pins search_path'
);
select is(
  (
    select array_agg(p.proname::text order by p.proname) from pg_catalog.pg_proc as p
    where
      p.pronamespace = 'auth_api'::regnamespace and has_function_privilege('service_role', p.oid, 'execute')
  ),
  array['get_user', 'logout', 'password_grant', 'refresh_token_grant', 'sign_up', 'update_user'],
  'service_role may execute exactly the endpoints'' functions'
);
select ok(
  not (
    select bool_or(has_function_privilege(roles.r, p.oid, 'execute'))
    from pg_catalog.pg_proc as p cross join unnest(array['anon', 'authenticated']) as roles (r)
    where p.pronamespace = 'auth_api'::regnamespace
  ),
  'anon and authenticated may execute none'
);
select ok(
  (
    select bool_and(p.prosecdef) from pg_catalog.pg_proc as p
    where
      p.pronamespace = 'auth_api'::regnamespace
      and p.proname in (
        'get_user', 'logout', 'password_grant', 'refresh_token_grant', 'sign_up', 'update_user'
      )
  ),
  'the endpoints run as their owner (GoTrue''s role), SECURITY DEFINER'
);

set local role authenticated;
select throws_ok(
  $$ select auth_api.sign_up('pgtap-auth-x@example.invalid', 'secret123') $$,
  '42501', null, 'a signed-in user cannot call auth_api'
);
reset role;
set local role anon;
select throws_ok(
  $$ select auth_api.password_grant('pgtap-auth-x@example.invalid', 'secret123') $$,
  '42501', null, 'anon cannot call auth_api'
);
reset role;

-- Behaviour, as the gateway calls it (service_role) -------------------------------------------------------
set local role service_role;
create temporary table t (name text primary key, v jsonb) on commit drop;
insert into t values (
  'signup', auth_api.sign_up('PGTAP-Auth@Example.invalid', 'secret123', '{"full_name": "Tap"}')
);
select is(
  (
    select v -> 'user' ->> 'email' from t
    where name = 'signup'
  ), 'pgtap-auth@example.invalid',
  'sign_up stores the address lower-cased and answers the user'
);
select matches(
  (
    select v ->> 'refresh_token' from t
    where name = 'signup'
  ), '^[a-z0-9]{12}$',
  'its refresh token has GoTrue''s first format'
);
select throws_ok(
  $$ select auth_api.sign_up('pgtap-auth@example.invalid', 'another1') $$,
  'PT422', 'user_already_exists', 'the same address again is user_already_exists'
);
select throws_ok(
  $$ select auth_api.password_grant('pgtap-auth@example.invalid', 'wrong-one') $$,
  'PT400', 'invalid_credentials', 'a wrong password is invalid_credentials'
);
insert into t values ('login', auth_api.password_grant('pgtap-auth@example.invalid', 'secret123'));
select isnt(
  (
    select v ->> 'session_id' from t
    where name = 'login'
  ),
  (
    select v ->> 'session_id' from t
    where name = 'signup'
  ),
  'each sign-in starts its own session'
);
insert into t values (
  'r1', auth_api.refresh_token_grant((
    select v ->> 'refresh_token' from t
    where name = 'login'
  ))
);
select isnt(
  (
    select v ->> 'refresh_token' from t
    where name = 'r1'
  ),
  (
    select v ->> 'refresh_token' from t
    where name = 'login'
  ),
  'a refresh rotates the token'
);
select is(
  auth_api.refresh_token_grant((
    select v ->> 'refresh_token' from t
    where name = 'login'
  ))
  ->> 'refresh_token',
  (
    select v ->> 'refresh_token' from t
    where name = 'r1'
  ),
  'the replaced token again answers the current one (a lost answer)'
);
insert into t values (
  'r2', auth_api.refresh_token_grant((
    select v ->> 'refresh_token' from t
    where name = 'r1'
  ))
);
select is(
  auth_api.refresh_token_grant(
    (
      select v ->> 'refresh_token' from t
      where name = 'login'
    ), 10, now() + interval '1 minute'
  ),
  '{"error": "refresh_token_already_used", "message": "Invalid Refresh Token: Already Used"}'::jsonb,
  'past the reuse interval a rotated token is refused, as data'
);
reset role;
select is(
  (
    select bool_and(revoked) from auth.refresh_tokens
    where session_id = (
      select (t.v ->> 'session_id')::uuid from t
      where t.name = 'login'
    )
  ),
  true,
  'and every token of its session is revoked'
);
select is(
  (
    select p.full_name from public.profiles as p
    where p.id = (
      select (t.v -> 'user' ->> 'id')::uuid from t
      where t.name = 'signup'
    )
  ),
  'Tap',
  'the onboarding trigger ran for the sign-up'
);
select ok(
  (
    select u.encrypted_password like '$2a$10$%' from auth.users as u
    where u.email = 'pgtap-auth@example.invalid'
  ),
  'the password is bcrypt with GoTrue''s cost'
);
set local role service_role;
select throws_ok(
  format(
    $$ select auth_api.get_user(%L, gen_random_uuid()) $$, (
      select v -> 'user' ->> 'id' from t
      where name = 'signup'
    )
  ),
  'PT403', 'session_not_found', 'a token naming a session that does not exist is session_not_found'
);
select throws_ok(
  format(
    $$ select auth_api.update_user(%L, null, 'secret123') $$, (
      select v -> 'user' ->> 'id' from t
      where name = 'signup'
    )
  ),
  'PT422', 'same_password', 'the same password again is same_password'
);
select is(
  auth_api.update_user(
    (
      select (t.v -> 'user' ->> 'id')::uuid from t
      where t.name = 'signup'
    ),
    null,
    null,
    '{"full_name": null, "a": 1}'
  ) -> 'user_metadata',
  '{"a": 1, "email_verified": true}'::jsonb,
  'metadata merges key by key; null removes a key'
);
select lives_ok(
  format(
    $$ select auth_api.logout(%L, %L, 'local') $$,
    (
      select v -> 'user' ->> 'id' from t
      where name = 'signup'
    ),
    (
      select v ->> 'session_id' from t
      where name = 'signup'
    )
  ),
  'logout with scope local'
);
reset role;
select is(
  (
    select count(*)::integer from auth.sessions
    where user_id = (
      select (t.v -> 'user' ->> 'id')::uuid from t
      where t.name = 'signup'
    )
  ),
  1,
  'ends that session only'
);

select * from finish();
rollback;
