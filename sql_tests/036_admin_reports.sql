-- The admin RPCs that report: admin_list_users, admin_payment_metrics, admin_revenue_by_day,
-- admin_list_payments, admin_list_webhook_events, admin_get_webhook_event and admin_list_audit (filters,
-- paging, the audit log as a follower reads it). Each call is audited. Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(40);

-- Audit rows written by this test only (the stack may hold committed rows from other suites).
create temporary table start_mark on commit drop as
select coalesce(max(a.id), 0) as last_id from private.audit_logs as a;
create temporary view recent_audit as
select a.* from private.audit_logs as a
where a.id > (select m.last_id from start_mark as m);

-- Setup: an admin, two members, some payments and events ----------------------------------------------------
select tests.authenticate_as_service_role();
create temporary table metrics_before on commit drop as
select * from public.admin_payment_metrics();
select tests.clear_authentication();
do $$
declare
  bob uuid;
  carol uuid;
begin
  perform tests.create_supabase_user('ad-admin', null, null, '{"full_name": "Ada Admin"}');
  perform tests.create_supabase_user('ad-bob', null, null, '{"full_name": "Bob Member"}');
  perform tests.create_supabase_user('ad-carol');
  -- Only our admin is an admin, whatever else the database holds.
  update public.user_roles set role = case when user_id = (select tests.get_supabase_uid('ad-admin'))
    then 'admin' else 'member' end
  where role = 'admin' or user_id = (select tests.get_supabase_uid('ad-admin'));
  bob := (select tests.get_supabase_uid('ad-bob'));
  carol := (select tests.get_supabase_uid('ad-carol'));
  insert into public.payments (
    user_id, plan_code, provider, status, amount_minor, currency, order_id, expires_at, paid_at, refunded_at,
    refunded_minor
  ) values
  (bob, 'PRO', 'stripe', 'pending', 5000, 'KWD', 'AD-B1', now() + interval '1 day', null, null, 0),
  (bob, 'PRO', 'stripe', 'pending', 900, 'USD', 'AD-B2', now() + interval '1 day', null, null, 0),
  (carol, 'PRO', 'doku', 'failed', 900, 'USD', 'AD-C1', now(), null, null, 0),
  (carol, 'PRO', 'doku', 'expired', 900, 'USD', 'AD-C2', now(), null, null, 0),
  (
    carol, 'PRO', 'midtrans', 'paid', 7000, 'KWD', 'AD-C3', now() - interval '10 days',
    now() - interval '10 days', null, 0
  ),
  (carol, 'PRO', 'midtrans', 'refunded', 900, 'USD', 'AD-C4', now(), now(), now(), 900);
end
$$;
select tests.authenticate_as_service_role();
select results_eq(
  $$ select a.outcome
     from public.apply_payment_event('stripe', 'ad-evt-1', 'paid', 'AD-B1', 'paid', 5000, 'KWD') as a $$,
  $$ values ('applied') $$,
  'setup: bob pays AD-B1 through the webhook path'
);
select lives_ok(
  $$ select public.claim_webhook_event('razorpay', 'ad-evt-2', 'payment.failed', '{"x": 1}') $$,
  'setup: an event in progress'
);
select tests.clear_authentication();
create temporary table ids on commit drop as
select
  (
    select e.id from private.webhook_events as e
    where e.event_key = 'ad-evt-2'
  ) as held_event,
  (select coalesce(max(a.id), 0) from private.audit_logs as a) as audit_mark;
grant select on ids, metrics_before to authenticated, service_role;

-- Bob's role history as 035 leaves it (promoted by ada, stepped down, then on the bootstrap list), and carol,
-- an admin, naming ada an admin: what admin_list_users and admin_list_audit report.
select tests.authenticate_as('ad-admin');
select lives_ok($$ select public.admin_set_role('ad-bob@test.local', 'admin') $$, 'setup: ada promotes bob');
select tests.authenticate_as('ad-bob');
select lives_ok($$ select public.admin_set_role('ad-bob@test.local', 'member') $$, 'setup: bob steps down');
select tests.authenticate_as_service_role();
select lives_ok(
  $$ select public.admin_set_role('ad-carol@test.local', 'admin') $$, 'setup: carol is an admin'
);
select tests.authenticate_as('ad-carol');
select lives_ok($$ select public.admin_set_role('ad-admin@test.local', 'admin') $$, 'setup: carol names ada');
select tests.authenticate_as('ad-admin');
select lives_ok(
  $$ select public.admin_bootstrap(array['ad-bob@test.local']) $$, 'setup: bob is on the bootstrap list'
);

-- admin_list_users ------------------------------------------------------------------------------------------
select tests.authenticate_as('ad-admin');
select results_eq(
  $$ select u.id, u.email, u.full_name, u.role, u.plan_code, u.subscription_status
     from public.admin_list_users('BOB MEM') as u $$,
  $$ values (
       tests.get_supabase_uid('ad-bob'), 'ad-bob@test.local', 'Bob Member', 'admin', 'PRO', 'active'
     ) $$,
  'admin_list_users searches names (case-insensitive) and joins profile, role and subscription'
);
select results_eq(
  $$ select u.email from public.admin_list_users('ad-carol@') as u $$,
  $$ values ('ad-carol@test.local') $$,
  'and emails'
);
select results_eq(
  $$ select count(*) from public.admin_list_users('@test.local', 500) as u where u.email like 'ad-%' $$,
  $$ values (3::bigint) $$,
  'a search matches every test user'
);
select results_eq(
  $$ select (select array_agg(u.id) from public.admin_list_users('@test.local', 1, 0) as u)
       || (select array_agg(u.id) from public.admin_list_users('@test.local', 1, 1) as u)
       || (select array_agg(u.id) from public.admin_list_users('@test.local', 1, 2) as u) $$,
  $$ select array_agg(u.id) from public.admin_list_users('@test.local', 3, 0) as u $$,
  'limit and offset page through the same order'
);
select results_eq(
  $$ select count(*) from public.admin_list_users(null, 0) $$, $$ values (1::bigint) $$,
  'a limit below 1 is raised to 1'
);
select tests.clear_authentication();
select is_empty(
  $$ select 1 from recent_audit as a where a.action = 'admin.list_users' $$,
  'listing users writes no audit entry (a list view, 20261204005200)'
);
select tests.authenticate_as('ad-admin');

-- admin_payment_metrics / admin_revenue_by_day --------------------------------------------------------------
select results_eq(
  $$ select m.payments_total - b.payments_total, m.pending - b.pending, m.paid - b.paid, m.failed - b.failed,
       m.expired - b.expired, m.refunded - b.refunded,
       (m.revenue_minor_by_currency ->> 'KWD')::bigint
       - coalesce((b.revenue_minor_by_currency ->> 'KWD')::bigint, 0),
       m.paying_subscribers - b.paying_subscribers
     from public.admin_payment_metrics() as m, metrics_before as b $$,
  $$ values (6::bigint, 1::bigint, 2::bigint, 1::bigint, 1::bigint, 1::bigint, 12000::bigint, 1::bigint) $$,
  'admin_payment_metrics counts payments by status, paid revenue per currency and paying subscribers'
);
select results_eq(
  $$ select r.day, r.amount_minor, r.payments from public.admin_revenue_by_day(30) as r
     where r.currency = 'KWD' order by r.day $$,
  $$ values
       (((now() - interval '10 days') at time zone 'UTC')::date, 7000::bigint, 1::bigint),
       ((now() at time zone 'UTC')::date, 5000::bigint, 1::bigint) $$,
  'admin_revenue_by_day sums paid payments per UTC day and currency'
);
select results_eq(
  $$ select r.amount_minor from public.admin_revenue_by_day(7) as r where r.currency = 'KWD' $$,
  $$ values (5000::bigint) $$,
  'only the last `days` days'
);
select lives_ok($$ select * from public.admin_revenue_by_day(100000) $$, 'a huge span is accepted');
select lives_ok($$ select * from public.admin_revenue_by_day(null) $$, 'no span means the default');
select tests.clear_authentication();
select is_empty(
  $$ select 1 from recent_audit as a where a.action in ('admin.revenue_by_day', 'admin.payment_metrics') $$,
  'metrics and revenue reports write no audit entry'
);

-- admin_list_payments ---------------------------------------------------------------------------------------
select tests.authenticate_as('ad-admin');
select results_eq(
  $$ select p.order_id from public.admin_list_payments(user_id => tests.get_supabase_uid('ad-bob')) as p
     order by p.order_id $$,
  $$ values ('AD-B1'), ('AD-B2') $$,
  'admin_list_payments filters by user'
);
select results_eq(
  $$ select p.order_id
     from public.admin_list_payments(status => 'paid', since => now() - interval '1 hour') as p
     where p.order_id like 'AD-%' order by p.order_id $$,
  $$ values ('AD-B1'), ('AD-C3') $$,
  'by status and creation time'
);
select results_eq(
  $$ select p.order_id, p.status from public.admin_list_payments(order_id => 'AD-C2') as p $$,
  $$ values ('AD-C2', 'expired') $$,
  'by order id'
);
select results_eq(
  $$ select p.order_id from public.admin_list_payments(provider => 'midtrans') as p
     where p.order_id like 'AD-%' order by p.order_id $$,
  $$ values ('AD-C3'), ('AD-C4') $$,
  'by provider'
);
select results_eq(
  $$ select count(*)
     from public.admin_list_payments(user_id => tests.get_supabase_uid('ad-carol'), "limit" => 3) $$,
  $$ values (3::bigint) $$,
  'limit bounds a page'
);
select results_eq(
  $$ select count(*) from public.admin_list_payments(
       user_id => tests.get_supabase_uid('ad-carol'), "limit" => 3, "offset" => 3
     ) $$,
  $$ values (1::bigint) $$,
  'offset reaches the rest'
);
select tests.clear_authentication();
select is_empty(
  $$ select 1 from recent_audit as a where a.action = 'admin.list_payments' $$,
  'listing payments writes no audit entry'
);

-- admin_list_webhook_events / admin_get_webhook_event -------------------------------------------------------
select tests.authenticate_as('ad-admin');
select results_eq(
  $$ select e.event_key, e.status from public.admin_list_webhook_events(order_id => 'AD-B1') as e $$,
  $$ values ('ad-evt-1', 'processed') $$,
  'admin_list_webhook_events filters by order id'
);
select results_eq(
  $$ select e.event_key
     from public.admin_list_webhook_events(provider => 'razorpay', status => 'processing') as e
     where e.event_key like 'ad-%' $$,
  $$ values ('ad-evt-2') $$,
  'by provider and status'
);
select results_eq(
  $$ select count(*) from public.admin_list_webhook_events(since => now() + interval '1 second') $$,
  $$ values (0::bigint) $$,
  'by time received'
);
select results_eq(
  $$ select e.event_key, e.payload, e.status
     from public.admin_get_webhook_event((select i.held_event from ids as i)) as e $$,
  $$ values ('ad-evt-2', '{"x": 1}'::jsonb, 'processing') $$,
  'admin_get_webhook_event returns the event with its payload'
);
select throws_ok(
  $$ select * from public.admin_get_webhook_event(gen_random_uuid()) $$, 'PT404', 'webhook_event_not_found',
  'an unknown event: 404'
);
select tests.clear_authentication();
select results_eq(
  $$ select a.action, a.entity_id from recent_audit as a
     where a.action in ('admin.list_webhook_events', 'admin.get_webhook_event') order by a.id $$,
  $$ select 'admin.get_webhook_event', i.held_event::text from ids as i $$,
  'reading one event is audited, naming it (the refused get left none); listing events is not'
);

-- admin_list_audit ------------------------------------------------------------------------------------------
select tests.authenticate_as('ad-admin');
select results_eq(
  $$ select a.action, a.entity_id from public.admin_list_audit(
       actor_user_id => tests.get_supabase_uid('ad-carol'), action => 'admin.set_role'
     ) as a $$,
  $$ values ('admin.set_role', tests.get_supabase_uid('ad-admin')::text) $$,
  'admin_list_audit filters by actor and action'
);
select results_eq(
  $$ select array_agg(a.action order by a.id) from public.admin_list_audit(
       entity => 'user_roles', entity_id => tests.get_supabase_uid('ad-bob')::text, "limit" => 500
     ) as a $$,
  $$ values (array[
       'user_roles.insert', 'user_roles.update', 'admin.set_role', 'user_roles.update', 'admin.set_role',
       'user_roles.update'
     ]) $$,
  'by entity and entity id: bob''s signup, two role changes (row + explicit entry each), the bootstrap'
);
select results_eq(
  $$ select count(*) from public.admin_list_audit(since => now() + interval '1 second') $$,
  $$ values (0::bigint) $$,
  'by time'
);
create temporary table first_page on commit drop as
-- Positional: actor_user_id, entity, entity_id, action, since, after_id, limit.
select * from public.admin_list_audit(null, null, null, null, null, null, 3);
create temporary table cursor_page on commit drop as
select * from public.admin_list_audit(null, null, null, null, null, (select i.audit_mark from ids as i), 3);
select tests.clear_authentication();
select results_eq(
  $$ select f.id from first_page as f $$,
  $$ select a.id from private.audit_logs as a order by a.id desc limit 3 $$,
  'the first page is the newest entries, newest first'
);
select is_empty(
  $$ select 1 from first_page as f where f.action = 'admin.list_audit' $$,
  'reading the log is never logged (it would read its own entries back)'
);
select results_eq(
  $$ select c.id from cursor_page as c $$,
  $$ select a.id from private.audit_logs as a, ids as i where a.id > i.audit_mark order by a.id limit 3 $$,
  'with after_id, the entries after it, oldest first (a follower''s cursor)'
);
select is_empty(
  $$ select 1 from recent_audit as a where a.action = 'admin.list_audit' $$,
  'no read of the log, first page or cursor, is audited'
);

-- Every successful call above left exactly its audit entries ------------------------------------------------
select tests.clear_authentication();
select results_eq(
  $$ select a.action, count(*)
     from recent_audit as a
     where a.action in (
       'admin.get_webhook_event', 'admin.list_audit', 'admin.list_payments', 'admin.list_users',
       'admin.list_webhook_events', 'admin.payment_metrics', 'admin.revenue_by_day'
     ) group by 1 order by 1 $$,
  $$ values ('admin.get_webhook_event', 1::bigint) $$,
  'of all the reads above, only the one of a single record left an entry; none for a refused one'
);

select * from finish();
rollback;
