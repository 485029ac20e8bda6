-- public.profiles and the onboarding trigger on auth.users: every new user gets a profile, a FREE
-- subscription and a role; deleting the user removes those and keeps payments and audit rows.
-- Runs as `postgres`; everything is rolled back.
begin;
set local client_min_messages = warning;
select plan(51);

-- Shape and access rules ------------------------------------------------------------------------------
select has_table('public', 'profiles', 'public.profiles exists');
select tests.rls_enabled('public', 'profiles');
select policies_are(
  'public', 'profiles', array['profiles_select_own', 'profiles_update_own'],
  'profiles has a select and an update policy'
);
select policy_cmd_is(
  'public', 'profiles', 'profiles_update_own', 'update', 'profiles_update_own is for update'
);
select trigger_is(
  'auth', 'users', 'on_auth_user_created', 'private', 'handle_new_user',
  'ONE trigger on auth.users onboards new users'
);
select is(
  (
    select array_agg(t.tgname::text) from pg_catalog.pg_trigger as t
    where t.tgrelid = 'auth.users'::regclass and not t.tgisinternal
  ),
  array['on_auth_user_created'],
  'auth.users carries exactly one trigger of ours'
);
select is_definer(
  'private', 'handle_new_user', array[]::text[],
  'handle_new_user is security definer (Supabase Auth inserts as supabase_auth_admin)'
);

-- Onboarding --------------------------------------------------------------------------------------------
update private.settings set admin_bootstrap_emails = '{prof-boss@example.com}', default_plan = 'FREE';
do $$
begin
  perform tests.create_supabase_user(
    'prof-alice', 'prof-alice@example.com', null,
    '{"full_name": "  Alice Liddell ", "avatar_url": "https://img.example/alice.png"}'
  );
  -- Google/GitHub style metadata: name and picture.
  perform tests.create_supabase_user(
    'prof-bob', null, null, '{"name": "Bob", "picture": "https://img.example/bob.png"}'
  );
  perform tests.create_supabase_user('prof-plain');
  perform tests.create_supabase_user(
    'prof-long', null, null, jsonb_build_object('full_name', repeat('x', 300))
  );
  perform tests.create_supabase_user('prof-blank', null, null, '{"full_name": "   ", "avatar_url": ""}');
  -- On the bootstrap list, in another case.
  perform tests.create_supabase_user('prof-boss', 'Prof-Boss@Example.COM');
end
$$;

select results_eq(
  $$ select p.full_name, p.avatar_url, p.avatar_path, p.created_at, p.updated_at
     from public.profiles as p where p.id = tests.get_supabase_uid('prof-alice') $$,
  $$ values ('Alice Liddell', 'https://img.example/alice.png', null::text, now(), now()) $$,
  'a new user gets a profile with full_name (trimmed) and avatar_url from raw_user_meta_data'
);
select results_eq(
  $$ select p.full_name, p.avatar_url from public.profiles as p
     where p.id = tests.get_supabase_uid('prof-bob') $$,
  $$ values ('Bob', 'https://img.example/bob.png') $$,
  'name and picture are used when full_name and avatar_url are absent'
);
select results_eq(
  $$ select p.full_name, p.avatar_url from public.profiles as p
     where p.id in (tests.get_supabase_uid('prof-plain'), tests.get_supabase_uid('prof-blank')) $$,
  $$ values (null::text, null::text), (null::text, null::text) $$,
  'no (or blank) metadata gives null name and avatar'
);
select results_eq(
  $$ select char_length(p.full_name) from public.profiles as p
     where p.id = tests.get_supabase_uid('prof-long') $$,
  $$ values (200) $$,
  'an overlong name is cut to 200 characters rather than failing the signup'
);
select results_eq(
  $$ select s.plan_code, s.status, s.current_period_start, s.current_period_end, s.cancel_at_period_end,
       s.funded_by_payment_id
     from public.subscriptions as s where s.user_id = tests.get_supabase_uid('prof-alice') $$,
  $$ values ('FREE', 'active', now(), null::timestamptz, false, null::uuid) $$,
  'a new user gets an active FREE subscription with no period end'
);
select results_eq(
  $$ select r.role from public.user_roles as r where r.user_id = tests.get_supabase_uid('prof-alice') $$,
  $$ values ('member') $$,
  'a new user is a member'
);
select results_eq(
  $$ select r.role from public.user_roles as r where r.user_id = tests.get_supabase_uid('prof-boss') $$,
  $$ values ('admin') $$,
  'an email on the bootstrap list (any case) becomes admin at signup'
);
select results_eq(
  $$ select count(*) from auth.users as u
     where u.raw_user_meta_data ->> 'test_identifier' like 'prof-%'
       and exists (select 1 from public.profiles as p where p.id = u.id)
       and exists (select 1 from public.subscriptions as s where s.user_id = u.id)
       and exists (select 1 from public.user_roles as r where r.user_id = u.id) $$,
  $$ values (6::bigint) $$,
  'every new user has a profile, a subscription and a role'
);
update private.settings set default_plan = 'PRO';
do $$ begin perform tests.create_supabase_user('prof-default'); end $$;
select results_eq(
  $$ select s.plan_code from public.subscriptions as s
     where s.user_id = tests.get_supabase_uid('prof-default') $$,
  $$ values ('PRO') $$,
  'the plan a new user starts on is settings.default_plan'
);
update private.settings set default_plan = 'FREE';

-- The owner --------------------------------------------------------------------------------------------
select tests.authenticate_as('prof-alice');
select results_eq(
  $$ select p.id from public.profiles as p $$,
  $$ values (tests.get_supabase_uid('prof-alice')) $$,
  'a user sees exactly their own profile'
);
select lives_ok(
  $$ update public.profiles set full_name = 'Alice L.' where id = tests.get_supabase_uid('prof-alice') $$,
  'a user may change their own name'
);
select results_eq(
  $$ select p.full_name, p.updated_at from public.profiles as p $$,
  $$ values ('Alice L.', now()) $$,
  'the name is stored and updated_at is touched'
);
select throws_ok(
  $$ update public.profiles set avatar_url = 'https://evil.example/x.png' $$,
  '42501', null, 'a user cannot set avatar_url directly'
);
select throws_ok(
  $$ update public.profiles set avatar_path = 'x/y.png' $$, '42501', null,
  'a user cannot set avatar_path directly'
);
select throws_ok(
  $$ update public.profiles set full_name = repeat('y', 201) $$, '23514', null,
  'a name is at most 200 characters'
);
select throws_ok(
  $$ insert into public.profiles (id) values (gen_random_uuid()) $$, '42501', null,
  'a user cannot insert a profile'
);
select throws_ok(
  $$ delete from public.profiles $$, '42501', null, 'a user cannot delete their profile'
);

-- Another user ------------------------------------------------------------------------------------------
select tests.authenticate_as('prof-bob');
select is_empty(
  $$ select 1 from public.profiles where id = tests.get_supabase_uid('prof-alice') $$,
  'another user cannot see alice''s profile'
);
select is_empty(
  $$ update public.profiles set full_name = 'hacked' where id = tests.get_supabase_uid('prof-alice')
     returning id $$,
  'another user''s update of alice''s name touches no row'
);
select tests.authenticate_as('prof-boss');
select is_empty(
  $$ select 1 from public.profiles where id = tests.get_supabase_uid('prof-alice') $$,
  'an admin does not read other profiles through the table either (admin RPCs do that)'
);
select tests.clear_authentication();
select results_eq(
  $$ select p.full_name from public.profiles as p where p.id = tests.get_supabase_uid('prof-alice') $$,
  $$ values ('Alice L.') $$,
  'alice''s name is unchanged by the others'
);

-- anon and service_role ---------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select throws_ok($$ select 1 from public.profiles $$, '42501', null, 'anon cannot read profiles');
select throws_ok(
  $$ update public.profiles set full_name = 'x' $$, '42501', null, 'anon cannot update profiles'
);

select tests.authenticate_as_service_role();
select ok(
  (select count(*) from public.profiles) >= 7, 'service_role reads every profile'
);
select lives_ok(
  $$ update public.profiles set avatar_path = 'avatars/a.png', avatar_url = null
     where id = tests.get_supabase_uid('prof-alice') $$,
  'service_role may set the avatar columns'
);
select throws_ok(
  $$ update public.profiles set avatar_url = repeat('u', 2049)
     where id = tests.get_supabase_uid('prof-alice') $$,
  '23514', null, 'an avatar url is at most 2048 characters'
);

-- Deleting a user ---------------------------------------------------------------------------------------
-- Alice leaves something behind: a payment (as herself) and audit rows that name her as the actor.
select tests.authenticate_as('prof-alice');
select lives_ok(
  $$ select public.create_payment('PRO', 'stripe', 'USD') $$, 'alice starts a checkout'
);
select tests.clear_authentication();
create temporary table alice_before as
select
  tests.get_supabase_uid('prof-alice') as uid,
  (
    select p.id from public.payments as p
    where p.user_id = tests.get_supabase_uid('prof-alice')
  ) as payment_id,
  (
    select array_agg(a.id) from private.audit_logs as a
    where a.actor_user_id = tests.get_supabase_uid('prof-alice')
  ) as acted,
  (
    select array_agg(a.id) from private.audit_logs as a
    where a.entity_id = tests.get_supabase_uid('prof-alice')::text
  ) as about;
select cmp_ok(
  (select cardinality(b.acted) from alice_before as b), '>=', 2,
  'alice is the actor of audit rows (her name change and her payment)'
);

select lives_ok(
  $$ delete from auth.users where id = tests.get_supabase_uid('prof-alice') $$,
  'a user can be deleted (as Supabase Auth would)'
);
select is_empty(
  $$ select 1 from public.profiles as p, alice_before as b where p.id = b.uid $$,
  'the profile is gone'
);
select is_empty(
  $$ select 1 from public.user_roles as r, alice_before as b where r.user_id = b.uid $$,
  'the role is gone'
);
select is_empty(
  $$ select 1 from public.subscriptions as s, alice_before as b where s.user_id = b.uid $$,
  'the subscription is gone'
);
select results_eq(
  $$ select p.user_id, p.status, p.amount_minor from public.payments as p, alice_before as b
     where p.id = b.payment_id $$,
  $$ values (null::uuid, 'pending', 900::bigint) $$,
  'the payment stays, with user_id set to null'
);
select results_eq(
  $$ select count(*), count(*) filter (where a.actor_user_id is null)
     from private.audit_logs as a, alice_before as b where a.id = any(b.acted) $$,
  $$ select cardinality(b.acted)::bigint, cardinality(b.acted)::bigint from alice_before as b $$,
  'the audit rows she acted in stay, with actor_user_id set to null'
);
select results_eq(
  $$ select count(*) from private.audit_logs as a, alice_before as b where a.id = any(b.about) $$,
  $$ select cardinality(b.about)::bigint from alice_before as b $$,
  'the audit rows about her stay'
);
select results_eq(
  $$ select a.action, a.actor_kind from private.audit_logs as a, alice_before as b
     where a.entity_id = b.uid::text and a.action like '%.delete' order by a.action $$,
  $$ values
       ('profiles.delete', 'system'), ('subscriptions.delete', 'system'), ('user_roles.delete', 'system') $$,
  'the deletion itself is audited, by the system'
);
select results_eq(
  $$ select a.action, a.before ->> 'user_id', a.after ->> 'user_id'
     from private.audit_logs as a, alice_before as b
     where a.entity = 'payments' and a.entity_id = b.payment_id::text and a.action = 'payments.update' $$,
  $$ select 'payments.update', b.uid::text, null::text from alice_before as b $$,
  'the payment''s loss of its user is audited'
);
select results_eq(
  $$ select count(*) from public.profiles
     where id in (
       select u.id from auth.users as u where u.raw_user_meta_data ->> 'test_identifier' like 'prof-%'
     ) $$,
  $$ values (6::bigint) $$,
  'the other users keep their profiles'
);
select tests.authenticate_as('prof-bob');
select is_empty(
  $$ select 1 from public.payments $$, 'an orphaned payment is visible to no user'
);
select tests.clear_authentication();

-- Self-service account deletion: a definer function deleting auth.users while the request's claims still
-- name the user (the usual Supabase "delete my account" RPC). The audit rows its cascade writes cannot
-- reference the user being deleted, so they carry a null actor instead of failing the deletion.
do $$ begin perform tests.create_supabase_user('prof-leaver'); end $$;
create function pg_temp.delete_me()
returns void
language sql
volatile
security definer
set search_path = ''
as $$ delete from auth.users where id = (select auth.uid()) $$;
grant execute on function pg_temp.delete_me() to authenticated;
create temporary table leaver as
select tests.get_supabase_uid('prof-leaver') as uid;
select tests.authenticate_as('prof-leaver');
select lives_ok($$ select pg_temp.delete_me() $$, 'a user can delete their own account');
select tests.clear_authentication();
select results_eq(
  $$ select a.action, a.actor_kind, a.actor_user_id from private.audit_logs as a, leaver as l
     where a.entity_id = l.uid::text and a.action like '%.delete' order by a.action $$,
  $$ values
       ('profiles.delete', 'user', null::uuid), ('subscriptions.delete', 'user', null::uuid),
       ('user_roles.delete', 'user', null::uuid) $$,
  'the cascade is audited as the user, with the actor reference already null'
);

-- A phone-only signup (no email) is onboarded too, as a member.
insert into auth.users (instance_id, id, aud, role, phone, raw_user_meta_data, created_at, updated_at)
values (
  '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated', '+15550199013',
  '{"test_identifier": "prof-phone", "full_name": "Phone Only"}', now(), now()
);
select results_eq(
  $$ select p.full_name, r.role, s.plan_code
     from public.profiles as p
     inner join public.user_roles as r on p.id = r.user_id
     inner join public.subscriptions as s on p.id = s.user_id
     where p.id = tests.get_supabase_uid('prof-phone') $$,
  $$ values ('Phone Only', 'member', 'FREE') $$,
  'a user without an email gets a profile, a member role and a FREE subscription'
);

-- A bootstrap email removed from the list no longer grants admin at signup.
update private.settings set admin_bootstrap_emails = '{}';
do $$ begin perform tests.create_supabase_user('prof-boss2', 'prof-boss@example.com'); end $$;
select results_eq(
  $$ select r.role from public.user_roles as r where r.user_id = tests.get_supabase_uid('prof-boss2') $$,
  $$ values ('member') $$,
  'with the list emptied, the same address signs up as a member'
);
select throws_ok(
  $$ select private.handle_new_user() $$, '0A000', null, 'handle_new_user only runs as a trigger'
);

select * from finish();
rollback;
