-- public.user_roles, private.is_admin() and private.require_admin(): who is an admin comes from this table,
-- never from a JWT claim. Only definer functions call the two helpers, so no API role may execute them
-- (20261204000200); their behaviour is checked as those definers run them: the caller's claims, the owner's
-- role (`set local role postgres` after authenticating). Runs as `postgres`; everything is rolled back.
begin;
set local client_min_messages = warning;
select plan(37);

do $$
begin
  perform tests.create_supabase_user('roles-alice');
  perform tests.create_supabase_user('roles-bob');
  perform tests.create_supabase_user('roles-admin');
  -- A scalar subquery: plpgsql plans the statement before the new user is visible to a bare call.
  update public.user_roles set role = 'admin' where user_id = (select tests.get_supabase_uid('roles-admin'));
end
$$;

-- Shape and access rules ------------------------------------------------------------------------------
select has_table('public', 'user_roles', 'public.user_roles exists');
select tests.rls_enabled('public', 'user_roles');
select policies_are('public', 'user_roles', array['user_roles_select_own'], 'user_roles has one policy');
select policy_roles_are(
  'public', 'user_roles', 'user_roles_select_own', array['authenticated'], 'the policy is for authenticated'
);
select policy_cmd_is('public', 'user_roles', 'user_roles_select_own', 'select', 'the policy is for select');
select has_index(
  'public', 'user_roles', 'user_roles_admins_idx', array['user_id'], 'admins are found through an index'
);
select throws_ok(
  $$ update public.user_roles set role = 'owner' where user_id = tests.get_supabase_uid('roles-alice') $$,
  '23514', null, 'a role is member or admin'
);

-- A signed-in member ------------------------------------------------------------------------------------
select tests.authenticate_as('roles-alice');
select results_eq(
  $$ select r.user_id, r.role from public.user_roles as r $$,
  $$ values (tests.get_supabase_uid('roles-alice'), 'member') $$,
  'a user sees exactly their own role, member'
);
select is_empty(
  $$ select 1 from public.user_roles as r where r.user_id = tests.get_supabase_uid('roles-bob') $$,
  'a user cannot see another user''s role'
);
select throws_ok(
  $$ update public.user_roles set role = 'admin' where user_id = tests.get_supabase_uid('roles-alice') $$,
  '42501', null, 'a user cannot make themselves admin'
);
select throws_ok(
  $$ insert into public.user_roles (user_id, role) values (tests.get_supabase_uid('roles-bob'), 'admin') $$,
  '42501', null, 'a user cannot insert a role'
);
select throws_ok(
  $$ delete from public.user_roles $$, '42501', null, 'a user cannot delete roles'
);
select throws_ok(
  $$ select private.is_admin(tests.get_supabase_uid('roles-admin')) $$, '42501', null,
  'a user cannot ask is_admin() about another user'
);
select throws_ok(
  $$ select private.is_admin(tests.get_supabase_uid('roles-alice')) $$, '42501', null,
  'nor about themselves: only definer functions call is_admin()'
);
select throws_ok(
  $$ select private.require_admin() $$, '42501', null, 'a user cannot call require_admin() directly'
);

-- As the admin RPCs' definer halves run them: alice's claims, the owner's role.
set local role postgres;
select is(
  private.is_admin(tests.get_supabase_uid('roles-alice')), false, 'is_admin() is false for a member'
);
select is(
  private.is_admin(tests.get_supabase_uid('roles-admin')), true,
  'is_admin() answers for any user, whatever the caller may read itself (for definer callers)'
);
select throws_ok(
  $$ select private.require_admin() $$, 'PT403', 'admin_required', 'require_admin() refuses a member: 403'
);

-- A stale or forged admin claim changes nothing: only user_roles counts.
do $$
begin
  perform set_config('request.jwt.claims', (current_setting('request.jwt.claims')::jsonb
    || '{"app_metadata": {"role": "admin"}, "user_role": "admin", "is_admin": true}'::jsonb)::text, true);
end
$$;
select throws_ok(
  $$ select private.require_admin() $$, 'PT403', 'admin_required',
  'require_admin() ignores admin-looking JWT claims'
);

-- An admin ---------------------------------------------------------------------------------------------
select tests.authenticate_as('roles-admin');
select results_eq(
  $$ select r.role from public.user_roles as r $$, $$ values ('admin') $$,
  'an admin, too, sees only their own role row'
);
select throws_ok(
  $$ select private.require_admin() $$, '42501', null, 'an admin cannot call require_admin() directly either'
);
set local role postgres;
select lives_ok($$ select private.require_admin() $$, 'require_admin() lets an admin through');
select tests.authenticate_as('roles-admin');
select throws_ok(
  $$ update public.user_roles set role = 'admin' where user_id = tests.get_supabase_uid('roles-bob') $$,
  '42501', null, 'even an admin cannot write user_roles directly (admin_set_role does that)'
);

-- anon ---------------------------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select throws_ok(
  $$ select r.role from public.user_roles as r $$, '42501', null, 'anon cannot read user_roles'
);
select throws_ok(
  $$ select private.is_admin(null) $$, '42501', null, 'anon cannot call is_admin()'
);

-- service_role -------------------------------------------------------------------------------------------
select tests.authenticate_as_service_role();
select results_eq(
  $$ select count(*) from public.user_roles
     where user_id in (
       tests.get_supabase_uid('roles-alice'), tests.get_supabase_uid('roles-bob'),
       tests.get_supabase_uid('roles-admin')
     ) $$,
  $$ values (3::bigint) $$,
  'service_role sees every role'
);
select throws_ok(
  $$ select private.require_admin() $$, '42501', null, 'service_role cannot call require_admin() directly'
);
select throws_ok(
  $$ select private.is_admin(tests.get_supabase_uid('roles-alice')) $$, '42501', null,
  'service_role cannot call is_admin() directly'
);
set local role postgres;
select lives_ok($$ select private.require_admin() $$, 'require_admin() lets the service role through');
select tests.authenticate_as_service_role();
select lives_ok(
  $$ update public.user_roles set role = 'admin' where user_id = tests.get_supabase_uid('roles-bob') $$,
  'service_role can change a role'
);
select results_eq(
  $$ select r.role, r.updated_at from public.user_roles as r
     where r.user_id = tests.get_supabase_uid('roles-bob') $$,
  $$ values ('admin', now()) $$,
  'the change is stored and updated_at is touched'
);
set local role postgres;
select is(private.is_admin(tests.get_supabase_uid('roles-bob')), true, 'is_admin() sees the change at once');

-- No identity at all -------------------------------------------------------------------------------------
select tests.clear_authentication();
select is(private.is_admin(null), false, 'is_admin(null) is false');
select is(private.is_admin(gen_random_uuid()), false, 'is_admin() of an unknown id is false');
select throws_ok(
  $$ select private.require_admin() $$, 'PT403', 'admin_required',
  'require_admin() refuses a caller with no claims (even the migration role)'
);

-- Function access ---------------------------------------------------------------------------------------
select is_definer('private', 'is_admin', array['uuid'], 'is_admin() is security definer');
select volatility_is('private', 'is_admin', array['uuid'], 'stable', 'is_admin() is stable');

select * from finish();
rollback;
