-- The admin RPCs that decide who is an admin: admin_set_role (never the last admin) and admin_bootstrap (the
-- list of addresses that are admins from their first sign-up). Each successful call is audited. Runs as
-- `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(25);

-- Audit rows written by this test only (the stack may hold committed rows from other suites).
create temporary table start_mark on commit drop as
select coalesce(max(a.id), 0) as last_id from private.audit_logs as a;
create temporary view recent_audit as
select a.* from private.audit_logs as a
where a.id > (select m.last_id from start_mark as m);

-- Setup: an admin and two members ---------------------------------------------------------------------------
do $$
begin
  perform tests.create_supabase_user('ad-admin', null, null, '{"full_name": "Ada Admin"}');
  perform tests.create_supabase_user('ad-bob', null, null, '{"full_name": "Bob Member"}');
  perform tests.create_supabase_user('ad-carol');
  -- Only our admin is an admin, whatever else the database holds.
  update public.user_roles set role = case when user_id = (select tests.get_supabase_uid('ad-admin'))
    then 'admin' else 'member' end
  where role = 'admin' or user_id = (select tests.get_supabase_uid('ad-admin'));
end
$$;

-- admin_set_role --------------------------------------------------------------------------------------------
select tests.authenticate_as('ad-admin');
select results_eq(
  $$ select * from public.admin_set_role(' AD-Bob@Test.Local ', 'ADMIN') $$,
  $$ values (tests.get_supabase_uid('ad-bob'), 'ad-bob@test.local', 'admin', 'member') $$,
  'an admin promotes bob (email and role in any case): user, email, new and previous role'
);
select tests.clear_authentication();
select results_eq(
  $$ select a.actor_kind, a.actor_user_id, a.entity, a.entity_id, a.before, a.after
     from recent_audit as a where a.action = 'admin.set_role' $$,
  $$ values (
       'admin', tests.get_supabase_uid('ad-admin'), 'user_roles', tests.get_supabase_uid('ad-bob')::text,
       '{"role": "member"}'::jsonb, '{"role": "admin"}'::jsonb) $$,
  'admin_set_role writes an audit entry naming the admin'
);
select tests.authenticate_as('ad-bob');
select lives_ok(
  $$ select * from public.admin_list_users() $$, 'bob is an admin at once (no new token needed)'
);
select results_eq(
  $$ select * from public.admin_set_role('ad-bob@test.local', 'member') $$,
  $$ values (tests.get_supabase_uid('ad-bob'), 'ad-bob@test.local', 'member', 'admin') $$,
  'with two admins, one may step down'
);
select throws_ok(
  $$ select * from public.admin_list_users() $$,
  'PT403', 'admin_required', 'and is refused at once afterwards'
);
select tests.authenticate_as('ad-admin');
select throws_ok(
  $$ select * from public.admin_set_role('ad-admin@test.local', 'member') $$, 'PT409', 'last_admin',
  'the last admin cannot be demoted: 409 last_admin'
);
select results_eq(
  $$ select * from public.admin_set_role('ad-carol@test.local', 'member') $$,
  $$ values (tests.get_supabase_uid('ad-carol'), 'ad-carol@test.local', 'member', 'member') $$,
  'setting the role a user already has is harmless'
);
select throws_ok(
  $$ select * from public.admin_set_role('ad-nobody@example.invalid', 'admin') $$, 'PT404', 'user_not_found',
  'an unknown email: 404'
);
select throws_ok(
  $$ select * from public.admin_set_role('ad-bob@test.local', 'owner') $$, 'PT400', 'invalid_role',
  'an unknown role: 400'
);
select throws_ok(
  $$ select * from public.admin_set_role('ad-bob@test.local', null) $$,
  'PT400', 'invalid_role', 'no role: 400'
);
select tests.authenticate_as_service_role();
select throws_ok(
  $$ select * from public.admin_set_role('ad-admin@test.local', 'member') $$, 'PT409', 'last_admin',
  'not even the service role may remove the last admin'
);
select results_eq(
  $$ select s.new_role from public.admin_set_role('ad-carol@test.local', 'admin') as s $$,
  $$ values ('admin') $$,
  'the service role may set roles'
);
select tests.clear_authentication();
select results_eq(
  $$ select a.actor_kind, a.actor_user_id from recent_audit as a
     where a.action = 'admin.set_role' and a.entity_id = tests.get_supabase_uid('ad-carol')::text
       and a.after ->> 'role' = 'admin' $$,
  $$ values ('service', null::uuid) $$,
  'and that is audited as the service'
);
select tests.authenticate_as('ad-admin');
select results_eq(
  $$ select s.new_role from public.admin_set_role('ad-admin@test.local', 'member') as s $$,
  $$ values ('member') $$,
  'with carol as admin, the first admin may step down'
);
select tests.authenticate_as('ad-carol');
select lives_ok(
  $$ select public.admin_set_role('ad-admin@test.local', 'admin') $$, 'carol makes ada admin again'
);

-- admin_bootstrap -------------------------------------------------------------------------------------------
select tests.authenticate_as('ad-admin');
select results_eq(
  $$ select * from public.admin_bootstrap(
       array['AD-Bob@test.local', ' ad-new-boss@example.com ', '', 'ad-admin@test.local', 'ad-bob@test.local']
     ) $$,
  $$ values
       ('ad-admin@test.local', tests.get_supabase_uid('ad-admin'), 'already_admin'),
       ('ad-bob@test.local', tests.get_supabase_uid('ad-bob'), 'upgraded'),
       ('ad-new-boss@example.com', null::uuid, 'pending_signup') $$,
  'admin_bootstrap reports per address: already_admin, upgraded, pending_signup (deduplicated, trimmed)'
);
select tests.clear_authentication();
select results_eq(
  $$ select s.admin_bootstrap_emails::text[] from private.settings as s $$,
  $$ values (array['ad-admin@test.local', 'ad-bob@test.local', 'ad-new-boss@example.com']) $$,
  'the list is stored, lower-cased, in settings'
);
select results_eq(
  $$ select r.role from public.user_roles as r where r.user_id = tests.get_supabase_uid('ad-bob') $$,
  $$ values ('admin') $$,
  'the existing user on the list is now admin'
);
select results_eq(
  $$ select a.actor_kind, a.entity, a.after
     from recent_audit as a where a.action = 'admin.bootstrap' $$,
  $$ values ('admin', 'settings',
       '{"emails": ["ad-admin@test.local", "ad-bob@test.local", "ad-new-boss@example.com"]}'::jsonb) $$,
  'admin_bootstrap writes an audit entry with the list'
);
do $$ begin perform tests.create_supabase_user('ad-newboss', 'AD-New-Boss@Example.com'); end $$;
select results_eq(
  $$ select r.role from public.user_roles as r where r.user_id = tests.get_supabase_uid('ad-newboss') $$,
  $$ values ('admin') $$,
  'a later signup on the list becomes admin, whatever the case of the address'
);
select tests.authenticate_as('ad-admin');
select throws_ok(
  $$ select * from public.admin_bootstrap(array['ok@example.com', 'not-an-email']) $$,
  'PT400', 'invalid_email',
  'an entry that is not an email address: 400'
);
select tests.authenticate_as_service_role();
select results_eq(
  $$ select s.admin_bootstrap_emails::text[] from private.settings as s $$,
  $$ values (array['ad-admin@test.local', 'ad-bob@test.local', 'ad-new-boss@example.com']) $$,
  'a refused call changes nothing'
);
select is_empty(
  $$ select * from public.admin_bootstrap(array[]::text[]) $$, 'the service role may clear the list'
);
select results_eq(
  $$ select s.admin_bootstrap_emails::text[], (select r.role from public.user_roles as r
       where r.user_id = tests.get_supabase_uid('ad-bob'))
     from private.settings as s $$,
  $$ values (array[]::text[], 'admin') $$,
  'clearing the list demotes nobody'
);

-- Every successful call above left exactly its audit entries ------------------------------------------------
select tests.clear_authentication();
select results_eq(
  $$ select a.action, count(*)
     from recent_audit as a where a.action in ('admin.bootstrap', 'admin.list_users', 'admin.set_role') group by 1 order by 1 $$,
  $$ values ('admin.bootstrap', 2::bigint), ('admin.set_role', 6::bigint) $$,
  'one audit entry per successful change, none for a refused one, none for listing users (20261204005200)'
);

select * from finish();
rollback;
