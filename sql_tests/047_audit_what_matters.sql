-- What the audit log records (20261204005200): changes and reads of one record, not list views, and for a
-- service-role call the operator its X-Thinbase-Operator header names; and operator_match_ids
-- (20261204005300), the unique-prefix lookup behind the CLI's ids. Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(17);

select tests.create_supabase_user('audit-who');
select tests.create_supabase_user('audit-two');
create temporary table marks (name text primary key, last_id bigint) on commit drop;
insert into marks values ('start', (select coalesce(max(id), 0) from private.audit_logs));
create temporary table who on commit drop as
select email::text as email from auth.users
where id = tests.get_supabase_uid('audit-who');
create temporary table two on commit drop as
select email::text as email from auth.users
where id = tests.get_supabase_uid('audit-two');
grant select on two to service_role;
grant select on who to service_role, authenticated;
grant select on marks to service_role, authenticated;

-- The operator behind a service-role call -----------------------------------------------------------------
select tests.authenticate_as_service_role();
select set_config('request.headers', '{"x-thinbase-operator": "ops-alice"}', true);
select public.admin_set_role((select email from who), 'admin');
select tests.clear_authentication();
select results_eq(
  $$ select actor_kind, actor_label from private.audit_logs
     where id > (select last_id from marks where name = 'start') and action = 'admin.set_role' $$,
  $$ values ('service'::text, 'ops-alice'::text) $$,
  'a change through the service role names the operator its header gives'
);
select tests.authenticate_as('audit-who');
select set_config('request.headers', '{"x-thinbase-operator": "someone-else"}', true);
select public.update_profile('Who Knows', null);
select tests.clear_authentication();
select results_eq(
  $$ select actor_kind, actor_label from private.audit_logs
     where id > (select last_id from marks where name = 'start') and action = 'profiles.update' $$,
  $$ values ('admin'::text, null::text) $$,
  'a signed-in user cannot name an operator: the header counts only for the service role'
);
select tests.authenticate_as_service_role();
select set_config(
  'request.headers', json_build_object('x-thinbase-operator', e'evil\x1b]0;x\x07')::text, true
);
select public.admin_set_role((select email from two), 'admin');
select set_config('request.headers', '{}', true);
select results_eq(
  $$ select actor_label from private.audit_logs
     where id > (select last_id from marks where name = 'start') and action = 'admin.set_role'
     order by id desc limit 1 $$,
  $$ values (null::text) $$,
  'a label that is not display text is dropped, and the change is still recorded'
);
select throws_ok(
  $$ insert into private.audit_logs (actor_kind, action, entity, actor_label)
     values ('service', 'x', 'x', '') $$,
  '23514', null, 'an empty operator label is refused by the table'
);

-- Lists are not audited; one sensitive record is --------------------------------------------------------
select tests.clear_authentication();
insert into marks values ('reads', (select max(id) from private.audit_logs));
select tests.authenticate_as_service_role();
select set_config('request.headers', '{"x-thinbase-operator": "ops-bob"}', true);
select count(*) from public.admin_list_users(null, 10, 0);
select count(*) from public.admin_list_payments(null, null, null, null, null, 10, 0);
select count(*) from public.admin_list_webhook_events(null, null, null, null, 10, 0);
select count(*) from public.admin_list_audit(null, null, null, null, null, null, 10);
select count(*) from public.admin_payment_metrics();
select count(*) from public.admin_revenue_by_day(7);
select count(*) from public.operator_list_admins();
select count(*) from public.operator_list_plans();
select public.operator_diagnostics() is not null;
select is(
  (
    select count(*)::integer from private.audit_logs as a
    where a.id > (
      select m.last_id from marks as m
      where m.name = 'reads'
    )
  ),
  0, 'list views, metrics, diagnostics and the audit log itself write no entry'
);
select
  public.operator_get_user((select email from who))
  is not null;
select results_eq(
  $$ select action, actor_label from private.audit_logs
     where id > (select last_id from marks where name = 'reads') $$,
  $$ values ('admin.get_user'::text, 'ops-bob'::text) $$,
  'reading one user is recorded, with who read it'
);
select tests.clear_authentication();

-- Unique prefixes ------------------------------------------------------------------------------------------
insert into public.payments (id, plan_code, provider, amount_minor, currency, order_id, expires_at) values
('d047d047-0000-4000-8000-00000000000a', 'PRO', 'stripe', 900, 'USD', 'T047-ALPHA', now() + interval '1 day'),
('d047d047-0000-4000-8000-00000000000b', 'PRO', 'stripe', 900, 'USD', 'T047-BETA', now() + interval '1 day');
select tests.authenticate_as_service_role();
select results_eq(
  $$ select * from public.operator_match_ids('payments', 'T047-AL') $$,
  $$ values ('d047d047-0000-4000-8000-00000000000a'::text) $$,
  'an order id prefix names its payment'
);
select results_eq(
  $$ select * from public.operator_match_ids('payments', 'D047D047-0000-4000-8000-00000000000B') $$,
  $$ values ('d047d047-0000-4000-8000-00000000000b'::text) $$,
  'an id prefix names its payment, in either case'
);
select is(
  (select count(*)::integer from public.operator_match_ids('payments', 'd047d047')), 2,
  'a prefix two payments share names both (the CLI calls it ambiguous)'
);
select is(
  (select count(*)::integer from public.operator_match_ids('payments', 'T047%')), 0,
  'a % in a prefix matches only a %'
);
select is(
  (select count(*)::integer from public.operator_match_ids('webhook_events', 'ffffffff-ffff')), 0,
  'a prefix nothing starts names nothing'
);
select throws_ok(
  $$ select * from public.operator_match_ids('payments', 'T04') $$,
  'PT400', 'invalid_prefix', 'a prefix is at least 4 characters'
);
select throws_ok(
  $$ select * from public.operator_match_ids('users', 'abcd') $$,
  'PT400', 'invalid_argument', 'only payments and webhook events are matched'
);
select tests.clear_authentication();
select tests.authenticate_as('audit-who');
select throws_ok(
  $$ select * from public.operator_match_ids('payments', 'T047') $$,
  '42501', null, 'a signed-in user cannot look ids up'
);
select tests.clear_authentication();
select tests.authenticate_as_anon();
select throws_ok(
  $$ select * from public.operator_match_ids('payments', 'T047') $$,
  '42501', null, 'nor can anon'
);
select tests.clear_authentication();
select ok(
  not has_function_privilege('authenticated', 'public.operator_match_ids(text,text,integer)', 'execute'),
  'the lookup is the service role''s only'
);
select ok(
  not has_function_privilege('anon', 'private.current_actor()', 'execute'),
  'no API role may ask who the actor is'
);

select * from finish();
rollback;
