-- The operator_* RPCs (the CLI's reads and the webhook replay) and the normalized input that
-- apply_payment_event stores for replays: for the service role only (the CLI), refused by grant for anon and
-- every signed-in user, admins included (20261204001020); each call writes an audit entry. Runs as
-- `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(64);

select col_type_is(
  'private', 'webhook_events', 'normalized', 'jsonb', 'the ledger has a normalized column (jsonb)'
);
select throws_ok(
  $$ insert into private.webhook_events (provider, event_key, event_type, normalized)
     values ('stripe', 't040-bad-normalized', 'x', '[1]') $$,
  '23514', null, 'normalized is an object or null'
);

-- Audit rows written by this test only (the stack may hold committed rows from other suites).
create temporary table start_mark on commit drop as
select coalesce(max(a.id), 0) as last_id from private.audit_logs as a;
create temporary view recent_audit as
select a.* from private.audit_logs as a
where a.id > (select m.last_id from start_mark as m);

-- Setup: an admin, two members, payments, events, a bucket -------------------------------------------------
do $$
declare
  bob uuid;
  tomorrow timestamptz := now() + interval '1 day';
begin
  perform tests.create_supabase_user('op-admin', null, null, '{"full_name": "Olga Operator"}');
  perform tests.create_supabase_user('op-bob', null, null, '{"full_name": "Bob Member"}');
  perform tests.create_supabase_user('op-carol');
  update public.user_roles set role = case when user_id = (select tests.get_supabase_uid('op-admin'))
    then 'admin' else 'member' end
  where role = 'admin' or user_id = (select tests.get_supabase_uid('op-admin'));
  update private.settings
  set admin_bootstrap_emails = '{op-admin@test.local,op-carol@test.local,op-later@example.com}';
  bob := (select tests.get_supabase_uid('op-bob'));
  insert into public.payments (
    user_id, plan_code, provider, status, amount_minor, currency, order_id, expires_at, created_at
  ) values
  (bob, 'PRO', 'stripe', 'pending', 900, 'USD', 'T040-B1', tomorrow, now() - interval '2 hours'),
  (bob, 'PRO', 'doku', 'pending', 14900000, 'IDR', 'T040-B2', tomorrow, now() - interval '1 minute'),
  (bob, 'PRO', 'razorpay', 'expired', 74900, 'INR', 'T040-B3', now() - interval '1 h', now() - interval '3d'),
  (bob, 'PRO_YEARLY', 'stripe', 'pending', 9000, 'USD', 'T040-B4', tomorrow, now() - interval '3 hours');
  insert into private.ai_monthly_usage (user_id, month, used_tokens, held_tokens, requests)
  values (bob, private.utc_month(now()), 1200, 300, 4);
end
$$;
select tests.authenticate_as_service_role();
select results_eq(
  $$ select a.outcome, a.payment_status
     from public.apply_payment_event(
       'stripe', 't040-evt-short', 'checkout.session.completed', 'T040-B1', 'paid', 800, 'usd',
       '2024-01-15 10:00:00+00', '{"id": "t040-evt-short"}'
     ) as a $$,
  $$ values ('failed', 'pending') $$,
  'setup: a paid event for the wrong amount fails'
);
select results_eq(
  $$ select e.normalized - 'occurred_at', (e.normalized ->> 'occurred_at')::timestamptz
     from private.webhook_events as e where e.event_key = 't040-evt-short' $$,
  $$ values (
       '{"status": "paid", "currency": "usd", "order_id": "T040-B1", "amount_minor": 800}'::jsonb,
       '2024-01-15 10:00:00+00'::timestamptz
     ) $$,
  'apply_payment_event stores what it was called with in normalized'
);
select results_eq(
  $$ select a.outcome from public.apply_payment_event(
       'doku', 't040-evt-doku', 'SUCCESS', 'T040-B2', 'paid', 14900000, 'IDR') as a $$,
  $$ values ('applied') $$,
  'setup: T040-B2 is paid'
);
select results_eq(
  $$ select e.status, e.normalized ->> 'status', (e.normalized ->> 'amount_minor')::bigint
     from private.webhook_events as e where e.event_key = 't040-evt-doku' $$,
  $$ values ('processed', 'paid', 14900000::bigint) $$,
  'an applied event stores its input too'
);
do $$
declare
  claimed uuid;
begin
  select c.event_id into claimed
  from public.claim_webhook_event('razorpay', 't040-evt-old', 'payment.failed', '{}') as c;
  perform public.complete_webhook_event(claimed, 'failed', 'recorded before normalized input existed');
  perform private.consume_rate_limit('t040-ns', 'subject-a', 5, 3600);
  perform private.consume_rate_limit('t040-ns', 'subject-a', 5, 3600);
end
$$;
select tests.clear_authentication();
create temporary table ids on commit drop as
select
  (
    select e.id from private.webhook_events as e
    where e.event_key = 't040-evt-short'
  ) as short_event,
  (
    select e.id from private.webhook_events as e
    where e.event_key = 't040-evt-doku'
  ) as doku_event,
  (
    select e.id from private.webhook_events as e
    where e.event_key = 't040-evt-old'
  ) as old_event,
  (
    select p.id from public.payments as p
    where p.order_id = 'T040-B1'
  ) as b1,
  (select max(m.version) from supabase_migrations.schema_migrations as m) as migration_version,
  (select coalesce(max(a.id), 0) from private.audit_logs as a) as audit_mark;
grant select on ids to authenticated, service_role;

-- Signed-in users, admins included, and anon are refused by grant: only the CLI, as the service role, calls
-- these ---------------------------------------------------------------------------------------------------
select tests.authenticate_as('op-admin');
select throws_ok(
  $$ select * from public.operator_list_admins() $$, '42501', null,
  'admin: operator_list_admins refused by grant'
);
select throws_ok(
  $$ select public.operator_get_user('op-bob@test.local') $$, '42501', null,
  'admin: operator_get_user refused by grant'
);
select throws_ok(
  $$ select * from public.operator_list_plans() $$, '42501', null,
  'admin: operator_list_plans refused by grant'
);
select throws_ok(
  $$ select public.operator_get_payment('T040-B1') $$, '42501', null,
  'admin: operator_get_payment refused by grant'
);
select throws_ok(
  $$ select * from public.operator_pending_payments() $$, '42501', null,
  'admin: operator_pending_payments refused by grant'
);
select throws_ok(
  $$ select * from public.operator_replay_webhook_event((select i.short_event from ids as i)) $$,
  '42501', null, 'admin: operator_replay_webhook_event refused by grant'
);
select throws_ok(
  $$ select * from public.operator_get_rate_limit('t040-ns', 'subject-a') $$, '42501', null,
  'admin: operator_get_rate_limit refused by grant'
);
select throws_ok(
  $$ select public.operator_diagnostics() $$, '42501', null, 'admin: operator_diagnostics refused by grant'
);
select throws_ok(
  $$ select private.operator_get_user('op-bob@test.local') $$, '42501', null,
  'admin: the definer half of operator_get_user refused by grant'
);
select throws_ok(
  $$ select * from private.operator_list_admins() $$, '42501', null,
  'admin: the definer half of operator_list_admins refused by grant'
);
select throws_ok(
  $$ select private.operator_get_payment('T040-B1') $$, '42501', null,
  'admin: the definer half of operator_get_payment refused by grant'
);
select throws_ok(
  $$ select private.operator_diagnostics() $$, '42501', null,
  'admin: the definer half of operator_diagnostics refused by grant'
);
select tests.authenticate_as('op-bob');
select throws_ok(
  $$ select public.operator_get_user('op-bob@test.local') $$, '42501', null,
  'member: operator_get_user refused by grant'
);
select tests.authenticate_as_anon();
select throws_ok(
  $$ select * from public.operator_list_admins() $$, '42501', null,
  'anon: operator_list_admins refused by grant'
);
select throws_ok(
  $$ select public.operator_get_user('op-bob@test.local') $$, '42501', null,
  'anon: operator_get_user refused by grant'
);
select throws_ok(
  $$ select * from public.operator_list_plans() $$, '42501', null,
  'anon: operator_list_plans refused by grant'
);
select throws_ok(
  $$ select public.operator_get_payment('T040-B1') $$, '42501', null,
  'anon: operator_get_payment refused by grant'
);
select throws_ok(
  $$ select * from public.operator_pending_payments() $$, '42501', null,
  'anon: operator_pending_payments refused by grant'
);
select throws_ok(
  $$ select * from public.operator_replay_webhook_event(gen_random_uuid()) $$, '42501', null,
  'anon: operator_replay_webhook_event refused by grant'
);
select throws_ok(
  $$ select * from public.operator_get_rate_limit('t040-ns', 'subject-a') $$, '42501', null,
  'anon: operator_get_rate_limit refused by grant'
);
select throws_ok(
  $$ select public.operator_diagnostics() $$, '42501', null, 'anon: operator_diagnostics refused by grant'
);
select tests.clear_authentication();
select is_empty(
  $$ select 1 from private.audit_logs as a, ids as i where a.id > i.audit_mark $$,
  'refused calls leave no audit entry'
);
select results_eq(
  $$ select e.status, e.attempts from private.webhook_events as e, ids as i where e.id = i.short_event $$,
  $$ values ('failed', 1) $$,
  'and a refused replay leaves the event as it was'
);

-- operator_list_admins ----------------------------------------------------------------------------------
select tests.authenticate_as_service_role();
select results_eq(
  $$ select a.email, a.user_id, a.full_name, a.role, a.bootstrap
     from public.operator_list_admins() as a
     where a.email like 'op-%' $$,
  $$ values
       ('op-admin@test.local', tests.get_supabase_uid('op-admin'), 'Olga Operator', 'admin', true),
       ('op-carol@test.local', tests.get_supabase_uid('op-carol'), null, 'member', true),
       ('op-later@example.com', null::uuid, null, null, true) $$,
  'admins and every bootstrap address: an admin, a listed member, a listed address nobody signed up with'
);
select is_empty(
  $$ select 1 from public.operator_list_admins() as a where a.role = 'member' and not a.bootstrap $$,
  'members who are not on the bootstrap list are not listed'
);

-- operator_get_user -------------------------------------------------------------------------------------
select results_eq(
  $$ select u ->> 'email', u ->> 'full_name', u ->> 'role', u ->> 'effective_plan',
       u -> 'subscription' ->> 'plan_code', u -> 'subscription' ? 'user_id'
     from public.operator_get_user(' OP-Bob@Test.Local ') as u $$,
  $$ values ('op-bob@test.local', 'Bob Member', 'member', 'PRO', 'PRO', false) $$,
  'operator_get_user finds a user by email in any case: profile, role, subscription, plan in effect'
);
select results_eq(
  $$ select (u -> 'ai_usage') - 'month'
     from public.operator_get_user('op-bob@test.local') as u $$,
  $$ select pg_catalog.jsonb_build_object(
       'used_tokens', 1200, 'held_tokens', 300, 'requests', 4, 'cap', p.ai_monthly_token_cap,
       'remaining_tokens', p.ai_monthly_token_cap - 1500
     ) from public.plans as p where p.code = 'PRO' $$,
  'this month''s AI usage against the plan''s cap'
);
select results_eq(
  $$ select (u -> 'ai_usage' ->> 'month')::date from public.operator_get_user('op-bob@test.local') as u $$,
  $$ values (date_trunc('month', now() at time zone 'UTC')::date) $$,
  'the usage is for the current UTC month'
);
select results_eq(
  $$ select pg_catalog.jsonb_path_query_array(u -> 'recent_payments', '$[*].order_id')
     from public.operator_get_user('op-bob@test.local') as u $$,
  $$ values ('["T040-B2", "T040-B1", "T040-B4", "T040-B3"]'::jsonb) $$,
  'recent payments, newest first'
);
select results_eq(
  $$ select u -> 'ai_usage' ->> 'used_tokens', pg_catalog.jsonb_array_length(u -> 'recent_payments')
     from public.operator_get_user('op-carol@test.local') as u $$,
  $$ values ('0', 0) $$,
  'a user without usage or payments: zeros and an empty list'
);
select throws_ok(
  $$ select public.operator_get_user('op-nobody@example.invalid') $$, 'PT404', 'user_not_found',
  'an unknown email: 404 user_not_found'
);

-- operator_list_plans -----------------------------------------------------------------------------------
select lives_ok(
  $$ select public.admin_upsert_plan('T040_OLD', 'Old plan', prices => '{"USD": 500}', active => false) $$,
  'setup: an inactive plan'
);
select results_eq(
  $$ select p.active, p.prices, p.subscribers
     from public.operator_list_plans() as p where p.code = 'T040_OLD' $$,
  $$ values (false, '{"USD": 500}'::jsonb, 0::bigint) $$,
  'operator_list_plans lists inactive plans too, with prices and subscriber counts'
);
select tests.clear_authentication();
update public.subscriptions set plan_code = 'T040_OLD'
where user_id = tests.get_supabase_uid('op-carol');
select tests.authenticate_as_service_role();
select results_eq(
  $$ select p.subscribers from public.operator_list_plans() as p where p.code = 'T040_OLD' $$,
  $$ values (1::bigint) $$,
  'subscribers counts the subscriptions on the plan'
);

-- operator_get_payment ----------------------------------------------------------------------------------
select results_eq(
  $$ select p -> 'payment' ->> 'order_id', p -> 'payment' ->> 'user_email', p -> 'payment' ->> 'status',
       pg_catalog.jsonb_array_length(p -> 'webhook_events'), p -> 'webhook_events' -> 0 ? 'payload'
     from public.operator_get_payment('T040-B1') as p $$,
  $$ values ('T040-B1', 'op-bob@test.local', 'pending', 1, false) $$,
  'operator_get_payment by order id: the payment, its owner, its events (without payloads)'
);
select results_eq(
  $$ select public.operator_get_payment((select i.b1::text from ids as i)) -> 'payment' ->> 'order_id' $$,
  $$ values ('T040-B1') $$,
  'and by payment id'
);
select results_eq(
  $$ select pg_catalog.jsonb_path_query_array(p -> 'audit', '$[*].action')
     from public.operator_get_payment('T040-B2') as p $$,
  $$ values ('["payments.insert", "payments.update"]'::jsonb) $$,
  'its audit trail: every change to the payment row, oldest first'
);
select throws_ok(
  $$ select public.operator_get_payment('T040-NOPE') $$, 'PT404', 'payment_not_found',
  'an unknown payment: 404 payment_not_found'
);

-- operator_pending_payments -----------------------------------------------------------------------------
select results_eq(
  $$ select p.order_id from public.operator_pending_payments(now() - interval '10 minutes') as p
     where p.order_id like 'T040-%' $$,
  $$ values ('T040-B4'), ('T040-B1') $$,
  'pending payments created before the cut-off, oldest first'
);
select results_eq(
  $$ select p.order_id
     from public.operator_pending_payments(now(), provider => 'razorpay', include_expired => true) as p
     where p.order_id like 'T040-%' $$,
  $$ values ('T040-B3') $$,
  'filtered by provider; include_expired adds expired payments'
);
select is_empty(
  $$ select 1 from public.operator_pending_payments(now(), 'razorpay') as p where p.order_id like 'T040-%' $$,
  'expired payments are left out by default'
);

-- operator_replay_webhook_event -------------------------------------------------------------------------
select throws_ok(
  $$ select * from public.operator_replay_webhook_event((select i.doku_event from ids as i)) $$,
  'PT409', 'not_replayable', 'a processed event is not replayed: 409 not_replayable'
);
select throws_ok(
  $$ select * from public.operator_replay_webhook_event((select i.old_event from ids as i)) $$,
  'PT409', 'not_replayable', 'a failed event without stored input is not replayable: 409'
);
select throws_ok(
  $$ select * from public.operator_replay_webhook_event(gen_random_uuid()) $$,
  'PT404', 'webhook_event_not_found', 'an unknown event: 404'
);
select results_eq(
  $$ select r.outcome, r.payment_status, r.previous_status
     from public.operator_replay_webhook_event((select i.short_event from ids as i)) as r $$,
  $$ values ('failed', 'pending', 'failed') $$,
  'replaying the short payment fails again: the state machine decides, as it did the first time'
);
select tests.clear_authentication();
update public.payments set amount_minor = 800
where order_id = 'T040-B1';
select tests.authenticate_as_service_role();
select results_eq(
  $$ select r.event_id, r.outcome, r.payment_status, r.previous_status
     from public.operator_replay_webhook_event((select i.short_event from ids as i)) as r $$,
  $$ select i.short_event, 'applied', 'paid', 'failed' from ids as i $$,
  'once the payment is corrected, a replay applies the stored event: the payment is paid'
);
select tests.clear_authentication();
select results_eq(
  $$ select e.status, e.attempts, e.last_error, p.paid_at
     from private.webhook_events as e, public.payments as p
     where e.event_key = 't040-evt-short' and p.order_id = 'T040-B1' $$,
  $$ values ('processed', 3, null::text, '2024-01-15 10:00:00+00'::timestamptz) $$,
  'through the ledger (a re-claim per replay) and with the event''s own time'
);
select results_eq(
  $$ select s.plan_code, s.status, s.funded_by_payment_id
     from public.subscriptions as s where s.user_id = tests.get_supabase_uid('op-bob') $$,
  $$ select 'PRO', 'active', i.b1 from ids as i $$,
  'and the subscription follows, as for a webhook'
);
select tests.authenticate_as_service_role();
select throws_ok(
  $$ select * from public.operator_replay_webhook_event((select i.short_event from ids as i)) $$,
  'PT409', 'not_replayable', 'a replayed event is processed now and is not replayed twice'
);
select tests.clear_authentication();
select results_eq(
  $$ select a.actor_kind, a.before ->> 'status', a.after
     from recent_audit as a where a.action = 'admin.replay_webhook_event' order by a.id $$,
  $$ values
       ('service', 'failed', '{"outcome": "failed", "payment_status": "pending"}'::jsonb),
       ('service', 'failed', '{"outcome": "applied", "payment_status": "paid"}'::jsonb) $$,
  'each replay is audited with the outcome'
);

-- operator_get_rate_limit -------------------------------------------------------------------------------
select tests.authenticate_as_service_role();
select results_eq(
  $$ select r.hits, r.active, r.reset_at > r.window_start
     from public.operator_get_rate_limit('t040-ns', 'subject-a') as r $$,
  $$ values (2, true, true) $$,
  'operator_get_rate_limit shows a subject''s bucket: hits in the current window'
);
select is_empty(
  $$ select * from public.operator_get_rate_limit('t040-ns', 'subject-b') $$,
  'a subject without a bucket: no row'
);
select throws_ok(
  $$ select * from public.operator_get_rate_limit('', 'subject-a') $$, '22023', 'invalid_argument',
  'a namespace is required'
);

-- operator_diagnostics ----------------------------------------------------------------------------------
select results_eq(
  $$ select d ->> 'migration_version', (d ->> 'avatars_bucket')::boolean, (d ->> 'pg_cron')::boolean,
       d ->> 'billing_schedule', (d ->> 'admins')::integer, d -> 'bootstrap_emails', d ->> 'default_plan'
     from public.operator_diagnostics() as d $$,
  $$ values (
       (select i.migration_version from ids as i), true, true, '*/15 * * * *', 1,
       '["op-admin@test.local", "op-carol@test.local", "op-later@example.com"]'::jsonb, 'FREE'
     ) $$,
  'operator_diagnostics: migration version, avatars bucket, billing schedule, admins, bootstrap list'
);
select results_eq(
  $$ select (d ->> 'failed_webhook_events')::bigint >= 1, (d ->> 'overdue_pending_payments')::bigint >= 0
     from public.operator_diagnostics() as d $$,
  $$ values (true, true) $$,
  'and the counts that point at trouble (this test left one failed event)'
);
select tests.authenticate_as_service_role();
select lives_ok(
  $$ select
       (select public.operator_diagnostics()),
       (select count(*) from public.operator_list_plans()),
       (select count(*) from public.operator_list_admins()) $$,
  'the reads may be repeated (each call is audited)'
);
select tests.clear_authentication();

-- Reads of one record are audited; lists and diagnostics are not (20261204005200) ---------------------------
select results_eq(
  $$ select a.action, a.actor_kind, a.entity, count(*)
     from recent_audit as a
     where a.action like 'admin.%' and a.action not in ('admin.upsert_plan', 'admin.replay_webhook_event')
     group by 1, 2, 3 order by 1, 2 $$,
  $$ values
       ('admin.get_payment', 'service', 'payments', 3::bigint),
       ('admin.get_rate_limit', 'service', 'rate_limit_buckets', 2::bigint),
       ('admin.get_user', 'service', 'users', 5::bigint) $$,
  'each successful read of one record wrote one audit entry naming the caller; list views wrote none'
);
select is_empty(
  $$ select 1 from recent_audit as a
     where a.action = 'admin.get_rate_limit' and a.after::text like '%subject-%' $$,
  'rate-limit subjects (user ids, IPs) never reach the audit log'
);

select * from finish();
rollback;
