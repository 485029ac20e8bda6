-- Platform stand-in: the `auth` schema (reference/supabase-platform.md §1.3, §2). Runs as `postgres`.
begin;
select plan(44);

-- Schema ----------------------------------------------------------------------------------------------
select schema_owner_is(
  'auth', 'supabase_admin',
  'schema auth is owned by supabase_admin (so supabase db lint skips it)'
);
select ok(
  (
    select bool_and(has_schema_privilege(r, 'auth', 'usage'))
    from unnest(array['anon', 'authenticated', 'service_role', 'postgres']) as r
  ),
  'the API roles and postgres may use schema auth'
);
select ok(
  not has_schema_privilege('postgres', 'auth', 'create'),
  'postgres may not create objects in schema auth'
);
select ok(
  has_schema_privilege('supabase_auth_admin', 'auth', 'usage'),
  'supabase_auth_admin keeps USAGE on auth (foreign keys to auth.users are checked as the owner)'
);

-- auth.users: shape -----------------------------------------------------------------------------------
select has_table('auth', 'users', 'auth.users exists');
select table_owner_is('auth', 'users', 'supabase_auth_admin', 'auth.users is owned by supabase_auth_admin');
select results_eq(
  $$ select a.attname::text collate "default", pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
              a.attgenerated::text, pg_catalog.pg_get_expr(d.adbin, d.adrelid) collate "default"
         from pg_catalog.pg_attribute as a
         left join pg_catalog.pg_attrdef as d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where a.attrelid = 'auth.users'::regclass and a.attnum > 0 and not a.attisdropped
        order by a.attnum $$,
  $$ values
        ('instance_id', 'uuid', false, '', null::text),
        ('id', 'uuid', true, '', null),
        ('aud', 'character varying(255)', false, '', null),
        ('role', 'character varying(255)', false, '', null),
        ('email', 'character varying(255)', false, '', null),
        ('encrypted_password', 'character varying(255)', false, '', null),
        ('email_confirmed_at', 'timestamp with time zone', false, '', null),
        ('invited_at', 'timestamp with time zone', false, '', null),
        ('confirmation_token', 'character varying(255)', false, '', null),
        ('confirmation_sent_at', 'timestamp with time zone', false, '', null),
        ('recovery_token', 'character varying(255)', false, '', null),
        ('recovery_sent_at', 'timestamp with time zone', false, '', null),
        ('email_change_token_new', 'character varying(255)', false, '', null),
        ('email_change', 'character varying(255)', false, '', null),
        ('email_change_sent_at', 'timestamp with time zone', false, '', null),
        ('last_sign_in_at', 'timestamp with time zone', false, '', null),
        ('raw_app_meta_data', 'jsonb', false, '', null),
        ('raw_user_meta_data', 'jsonb', false, '', null),
        ('is_super_admin', 'boolean', false, '', null),
        ('created_at', 'timestamp with time zone', false, '', null),
        ('updated_at', 'timestamp with time zone', false, '', null),
        ('phone', 'text', false, '', null),
        ('phone_confirmed_at', 'timestamp with time zone', false, '', null),
        ('phone_change', 'text', false, '', '''''::text'),
        ('phone_change_token', 'character varying(255)', false, '', '''''::character varying'),
        ('phone_change_sent_at', 'timestamp with time zone', false, '', null),
        ('confirmed_at', 'timestamp with time zone', false, 's',
         'LEAST(email_confirmed_at, phone_confirmed_at)'),
        ('email_change_token_current', 'character varying(255)', false, '', '''''::character varying'),
        ('email_change_confirm_status', 'smallint', false, '', '0'),
        ('banned_until', 'timestamp with time zone', false, '', null),
        ('reauthentication_token', 'character varying(255)', false, '', '''''::character varying'),
        ('reauthentication_sent_at', 'timestamp with time zone', false, '', null),
        ('is_sso_user', 'boolean', true, '', 'false'),
        ('deleted_at', 'timestamp with time zone', false, '', null),
        ('is_anonymous', 'boolean', true, '', 'false') $$,
  'auth.users has the final GoTrue columns (name, type, not null, generated, default) in order'
);
select col_is_pk('auth', 'users', 'id', 'auth.users.id is the primary key');
select col_hasnt_default('auth', 'users', 'id', 'auth.users.id has no default (Supabase Auth generates it)');
select col_hasnt_default('auth', 'users', 'created_at', 'auth.users.created_at has no default');
select col_is_unique('auth', 'users', 'phone', 'auth.users.phone is unique');
select is(
  (
    select pg_catalog.pg_get_indexdef(i.indexrelid)
    from pg_catalog.pg_index as i
    where i.indexrelid = 'auth.users_email_partial_key'::regclass
  ),
  'CREATE UNIQUE INDEX users_email_partial_key ON auth.users USING btree (email) WHERE (is_sso_user = false)',
  'email is unique only among non-SSO users (partial unique index)'
);
select indexes_are('auth', 'users', array[
  'users_pkey', 'users_phone_key', 'users_email_partial_key', 'users_instance_id_email_idx',
  'users_instance_id_idx', 'users_is_anonymous_idx', 'confirmation_token_idx', 'recovery_token_idx',
  'email_change_token_current_idx', 'email_change_token_new_idx', 'reauthentication_token_idx'
],
'auth.users has the GoTrue indexes');

-- auth.users: RLS and privileges ----------------------------------------------------------------------
select tests.rls_enabled('auth', 'users');
select policies_are('auth', 'users', '{}'::name[], 'auth.users has no policies');
select table_privs_are('auth', 'users', 'anon', '{}'::text[], 'anon has no privileges on auth.users');
select table_privs_are(
  'auth', 'users', 'authenticated', '{}'::text[],
  'authenticated has no privileges on auth.users'
);
select table_privs_are(
  'auth', 'users', 'postgres',
  array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'postgres has all privileges on auth.users'
);

-- auth.users: behaviour -------------------------------------------------------------------------------
select throws_ok(
  $$ insert into auth.users (email) values ('platform-test-no-id@example.invalid') $$,
  '23502', null, 'an insert without id fails: there is no default'
);
select lives_ok(
  $$ insert into auth.users (id, email, email_confirmed_at, phone_confirmed_at, created_at)
       values ('5f0c2a9e-3b7d-4e61-9a0c-7d1a0f000001', 'platform-test-one@example.invalid',
               '2030-01-02 00:00:00+00', '2030-01-01 00:00:00+00', now()) $$,
  'postgres can insert a user the way Supabase Auth does'
);
select is(
  (
    select u.confirmed_at from auth.users as u
    where u.id = '5f0c2a9e-3b7d-4e61-9a0c-7d1a0f000001'
  ),
  '2030-01-01 00:00:00+00'::timestamptz,
  'confirmed_at is generated as the earlier of the two confirmations'
);
select is(
  (
    select u.is_anonymous from auth.users as u
    where u.id = '5f0c2a9e-3b7d-4e61-9a0c-7d1a0f000001'
  ),
  false, 'is_anonymous defaults to false'
);
select throws_ok(
  $$ insert into auth.users (id, confirmed_at) values (gen_random_uuid(), now()) $$,
  '428C9', null, 'confirmed_at is read-only'
);
select throws_ok(
  $$ insert into auth.users (id, email) values (gen_random_uuid(), 'platform-test-one@example.invalid') $$,
  '23505', null, 'a second non-SSO user with the same email is refused'
);
select lives_ok(
  $$ insert into auth.users (id, email, is_sso_user)
     values (gen_random_uuid(), 'platform-test-one@example.invalid', true) $$,
  'an SSO user may share the email'
);
select lives_ok(
  $$ insert into auth.users (id, phone) values (gen_random_uuid(), '+99955500001') $$,
  'a user with a phone number can be inserted'
);
select throws_ok(
  $$ insert into auth.users (id, phone) values (gen_random_uuid(), '+99955500001') $$,
  '23505', null, 'phone numbers are unique'
);

-- JWT helper functions --------------------------------------------------------------------------------
select results_eq(
  $$ select p.proname::text collate "default", p.provolatile::text,
              pg_catalog.format_type(p.prorettype, null),
              pg_catalog.pg_get_userbyid(p.proowner)::text collate "default"
         from pg_catalog.pg_proc as p
        where p.pronamespace = 'auth'::regnamespace and p.proname in ('uid', 'role', 'email', 'jwt')
          and p.pronargs = 0
        order by p.proname $$,
  $$ values ('email', 's', 'text', 'supabase_auth_admin'),
              ('jwt', 's', 'jsonb', 'supabase_auth_admin'),
              ('role', 's', 'text', 'supabase_auth_admin'),
              ('uid', 's', 'uuid', 'supabase_auth_admin') $$,
  'auth.uid/role/email/jwt exist, are STABLE, return uuid/text/text/jsonb, owned by supabase_auth_admin'
);
select ok(
  (
    select bool_and(has_function_privilege(r, f, 'execute'))
    from unnest(array['anon', 'authenticated', 'service_role', 'postgres']) as r
    cross join unnest(array['auth.uid()', 'auth.role()', 'auth.email()', 'auth.jwt()']) as f
  ),
  'anon, authenticated, service_role and postgres may call the auth helpers'
);

-- Nothing set (a GUC that was set transaction-locally reads back as '').
set local "request.jwt.claims" = '';
set local "request.jwt.claim" = '';
set local "request.jwt.claim.sub" = '';
set local "request.jwt.claim.role" = '';
set local "request.jwt.claim.email" = '';
select ok(
  auth.uid() is null and auth.role() is null and auth.email() is null and auth.jwt() is null,
  'without claims every helper returns null (empty strings count as unset)'
);

-- The JSON claims PostgREST sets today.
set local "request.jwt.claims" = '{"sub": "00000000-0000-4000-8000-00000000000a",
  "role": "authenticated", "email": "a@example.com", "aal": "aal1"}';
select is(
  auth.uid(), '00000000-0000-4000-8000-00000000000a'::uuid,
  'auth.uid() reads sub from request.jwt.claims'
);
select is(auth.role(), 'authenticated', 'auth.role() reads role from request.jwt.claims');
select is(auth.email(), 'a@example.com', 'auth.email() reads email from request.jwt.claims');
select is(auth.jwt() ->> 'aal', 'aal1', 'auth.jwt() returns the whole claim set');

-- Legacy per-claim settings win over the JSON claims.
set local "request.jwt.claim.sub" = '00000000-0000-4000-8000-00000000000b';
set local "request.jwt.claim.role" = 'service_role';
set local "request.jwt.claim.email" = 'b@example.com';
set local "request.jwt.claim" = '{"role": "legacy"}';
select is(
  auth.uid(), '00000000-0000-4000-8000-00000000000b'::uuid,
  'auth.uid() prefers request.jwt.claim.sub'
);
select is(auth.role(), 'service_role', 'auth.role() prefers request.jwt.claim.role');
select is(auth.email(), 'b@example.com', 'auth.email() prefers request.jwt.claim.email');
select is(auth.jwt(), '{"role": "legacy"}'::jsonb, 'auth.jwt() prefers request.jwt.claim');

-- An empty legacy setting falls through to the JSON claims.
set local "request.jwt.claim.sub" = '';
set local "request.jwt.claim.role" = '';
set local "request.jwt.claim.email" = '';
set local "request.jwt.claim" = '';
select is(
  auth.uid(), '00000000-0000-4000-8000-00000000000a'::uuid,
  'an empty request.jwt.claim.sub falls back to request.jwt.claims'
);
select is(
  auth.jwt() ->> 'sub', '00000000-0000-4000-8000-00000000000a',
  'an empty request.jwt.claim falls back to request.jwt.claims'
);

-- Callable as the API roles, as policies need.
set local role anon;
select is(auth.uid(), '00000000-0000-4000-8000-00000000000a'::uuid, 'anon can call auth.uid()');
reset role;
set local role authenticated;
select is(auth.role(), 'authenticated', 'authenticated can call auth.role()');
select throws_ok(
  $$ select count(*) from auth.users $$, '42501', null,
  'authenticated cannot read auth.users'
);
reset role;
set local role service_role;
select is(auth.email(), 'a@example.com', 'service_role can call auth.email()');
reset role;

select * from finish();
rollback;
