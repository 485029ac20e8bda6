-- Who may call the admin_* RPCs: signed-in admins (user_roles decides, 035-037) and the service role; 403
-- for members, refused by grant for anon, and a refused call leaves no audit entry. Runs as `postgres`;
-- rolled back.
begin;
set local client_min_messages = warning;
select plan(23);

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
create temporary table ids on commit drop as
select (select coalesce(max(a.id), 0) from private.audit_logs as a) as audit_mark;
grant select on ids to authenticated, service_role;

-- Members get 403 for every admin RPC; anon is refused by grant ---------------------------------------------
select tests.authenticate_as('ad-bob');
select throws_ok(
  $$ select * from public.admin_set_role('ad-bob@test.local', 'admin') $$, 'PT403', 'admin_required',
  'member: admin_set_role 403'
);
select throws_ok(
  $$ select * from public.admin_bootstrap(array['ad-bob@test.local']) $$, 'PT403', 'admin_required',
  'member: admin_bootstrap 403'
);
select throws_ok(
  $$ select * from public.admin_list_users() $$, 'PT403', 'admin_required', 'member: admin_list_users 403'
);
select throws_ok(
  $$ select * from public.admin_payment_metrics() $$, 'PT403', 'admin_required',
  'member: admin_payment_metrics 403'
);
select throws_ok(
  $$ select * from public.admin_revenue_by_day() $$,
  'PT403', 'admin_required', 'member: admin_revenue_by_day 403'
);
select throws_ok(
  $$ select * from public.admin_list_payments() $$,
  'PT403', 'admin_required', 'member: admin_list_payments 403'
);
select throws_ok(
  $$ select * from public.admin_list_webhook_events() $$, 'PT403', 'admin_required',
  'member: admin_list_webhook_events 403'
);
select throws_ok(
  $$ select * from public.admin_get_webhook_event(gen_random_uuid()) $$, 'PT403', 'admin_required',
  'member: admin_get_webhook_event 403'
);
select throws_ok(
  $$ select * from public.admin_list_audit() $$, 'PT403', 'admin_required', 'member: admin_list_audit 403'
);
select throws_ok(
  $$ select public.admin_reset_rate_limit('ad-test') $$, 'PT403', 'admin_required',
  'member: admin_reset_rate_limit 403'
);
select throws_ok(
  $$ select * from public.admin_upsert_plan('HACK', 'Hack') $$, 'PT403', 'admin_required',
  'member: admin_upsert_plan 403'
);

select tests.authenticate_as_anon();
select throws_ok(
  $$ select * from public.admin_set_role('ad-bob@test.local', 'admin') $$, '42501', null,
  'anon: admin_set_role refused by grant'
);
select throws_ok(
  $$ select * from public.admin_bootstrap(array['x@example.com']) $$, '42501', null,
  'anon: admin_bootstrap refused by grant'
);
select throws_ok(
  $$ select * from public.admin_list_users() $$, '42501', null, 'anon: admin_list_users refused by grant'
);
select throws_ok(
  $$ select * from public.admin_payment_metrics() $$,
  '42501', null, 'anon: admin_payment_metrics refused by grant'
);
select throws_ok(
  $$ select * from public.admin_revenue_by_day() $$,
  '42501', null, 'anon: admin_revenue_by_day refused by grant'
);
select throws_ok(
  $$ select * from public.admin_list_payments() $$,
  '42501', null, 'anon: admin_list_payments refused by grant'
);
select throws_ok(
  $$ select * from public.admin_list_webhook_events() $$, '42501', null,
  'anon: admin_list_webhook_events refused by grant'
);
select throws_ok(
  $$ select * from public.admin_get_webhook_event(gen_random_uuid()) $$, '42501', null,
  'anon: admin_get_webhook_event refused by grant'
);
select throws_ok(
  $$ select * from public.admin_list_audit() $$, '42501', null, 'anon: admin_list_audit refused by grant'
);
select throws_ok(
  $$ select public.admin_reset_rate_limit('ad-test') $$, '42501', null,
  'anon: admin_reset_rate_limit refused by grant'
);
select throws_ok(
  $$ select * from public.admin_upsert_plan('HACK', 'Hack') $$, '42501', null,
  'anon: admin_upsert_plan refused by grant'
);
select tests.clear_authentication();
select is_empty(
  $$ select 1 from private.audit_logs as a, ids as i where a.id > i.audit_mark $$,
  'refused calls leave no audit entry'
);

select * from finish();
rollback;
