-- run_billing_cycle(now): what time does to subscriptions and payments, run at explicit instants across
-- period ends and grace boundaries. Ended periods go past_due (or canceled), past_due beyond
-- settings.grace_days falls back to FREE, pending payments past expires_at expire, expired rate-limit buckets
-- and AI holds are cleaned; a repeat at the same instant changes nothing; every change is audited.
-- Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(37);

do $$
begin
  perform tests.create_supabase_user('bc-ended');
  perform tests.create_supabase_user('bc-cancel');
  perform tests.create_supabase_user('bc-current');
  perform tests.create_supabase_user('bc-free');
  perform tests.create_supabase_user('bc-pastdue');
  perform tests.create_supabase_user('bc-long');
  perform tests.create_supabase_user('bc-grace3');
  perform tests.create_supabase_user('bc-admin');
end
$$;
update public.user_roles set role = 'admin'
where user_id = tests.get_supabase_uid('bc-admin');

-- Payments: the one that funds bc-ended's period (paid: the cycle leaves it alone), and two open checkouts
-- that expire one second apart.
insert into public.payments (
  user_id, plan_code, provider, status, amount_minor, currency, order_id, expires_at, paid_at
) values
(
  tests.get_supabase_uid('bc-ended'), 'PRO', 'stripe', 'paid', 900, 'USD', 'BC-PAID',
  '2030-01-01 01:00:00+00', '2030-01-01 00:00:00+00'
),
(
  tests.get_supabase_uid('bc-free'), 'PRO', 'stripe', 'pending', 900, 'USD', 'BC-OPEN-1',
  '2030-02-01 00:00:00+00', null
),
(
  tests.get_supabase_uid('bc-free'), 'PRO', 'stripe', 'pending', 900, 'EUR', 'BC-OPEN-2',
  '2030-02-01 00:00:01+00', null
);

-- Subscriptions at the start of the story.
update public.subscriptions as s
set
  plan_code = 'PRO',
  current_period_start = t.period_start,
  current_period_end = t.period_end,
  status = t.status,
  past_due_since = t.past_due_since,
  cancel_at_period_end = t.cancel,
  canceled_at = t.canceled_at,
  funded_by_payment_id = p.id
from (
  values
  -- A monthly period ending 2030-02-01, renewing.
  (
    'bc-ended', '2030-01-01 00:00:00+00'::timestamptz, '2030-02-01 00:00:00+00'::timestamptz, 'active',
    null::timestamptz, false, null::timestamptz, 'BC-PAID'
  ),
  -- The same period, set to cancel at its end.
  (
    'bc-cancel', '2030-01-01 00:00:00+00', '2030-02-01 00:00:00+00', 'active', null, true,
    '2030-01-20 00:00:00+00', null
  ),
  -- A period that is still running throughout.
  ('bc-current', '2030-01-15 00:00:00+00', '2030-03-01 00:00:00+00', 'active', null, false, null, null),
  -- Past due since 2030-01-10: the 7-day grace ends at 2030-01-17 00:00:00.
  (
    'bc-pastdue', '2029-12-10 00:00:00+00', '2030-01-10 00:00:00+00', 'past_due', '2030-01-10 00:00:00+00',
    false, null, null
  ),
  -- Ended long before the first run: that run catches up on both steps.
  ('bc-long', '2029-12-05 00:00:00+00', '2030-01-05 00:00:00+00', 'active', null, false, null, null)
) as t (identifier, period_start, period_end, status, past_due_since, cancel, canceled_at, funded_by)
left join public.payments as p on t.funded_by = p.order_id
where s.user_id = tests.get_supabase_uid(t.identifier);

-- Who is who in the cycle's output (subject_id is a user id or a payment id).
create temporary view subjects as
select
  u.raw_user_meta_data ->> 'test_identifier' as label,
  u.id::text as id
from auth.users as u
where u.raw_user_meta_data ->> 'test_identifier' like 'bc-%'
union all
select
  p.order_id as label,
  p.id::text as id
from public.payments as p
where p.order_id like 'BC-%';

-- Every run's output, by run label.
create temporary table cycle (
  run text not null,
  change text,
  subject_id text,
  before_state text,
  after_state text
) on commit drop;

create function pg_temp.run_cycle(run text, at timestamptz)
returns void
language sql
volatile
security invoker
set search_path = ''
as $$
  insert into pg_temp.cycle select run_cycle.run, c.* from public.run_billing_cycle(now => run_cycle.at) as c
$$;

create temporary table audit_mark on commit drop as
select coalesce(max(a.id), 0) as last_id from private.audit_logs as a;
grant select on subjects, cycle, audit_mark to service_role;
grant insert on cycle to service_role;
grant execute on function pg_temp.run_cycle(text, timestamptz) to service_role;

-- Shape and access rules ------------------------------------------------------------------------------
select isnt_definer(
  'public', 'run_billing_cycle', array['timestamp with time zone'], 'public.run_billing_cycle is invoker'
);
select is_definer(
  'private', 'run_billing_cycle', array['timestamp with time zone'],
  'private.run_billing_cycle is security definer'
);
select col_default_is('private', 'settings', 'grace_days', '7', 'the grace period is 7 days by default');

select tests.authenticate_as('bc-admin');
select throws_ok(
  $$ select * from public.run_billing_cycle() $$, '42501', null,
  'an admin cannot run the cycle through the API (operators use the service role)'
);
select tests.authenticate_as('bc-free');
select throws_ok(
  $$ select * from public.run_billing_cycle() $$, '42501', null, 'a user cannot run the cycle'
);
select tests.authenticate_as_anon();
select throws_ok($$ select * from public.run_billing_cycle() $$, '42501', null, 'anon cannot run the cycle');

-- Run A, 2030-01-16 23:59:59: one second before bc-pastdue's grace ends -----------------------------------
select tests.authenticate_as_service_role();
select pg_temp.run_cycle('A', '2030-01-16 23:59:59+00');
select results_eq(
  $$ select s.label, c.change, c.before_state, c.after_state
     from cycle as c inner join subjects as s on c.subject_id = s.id
     where c.run = 'A' order by c.change, s.label $$,
  $$ values
       ('bc-long', 'subscription_grace_ended', 'past_due', 'active:FREE'),
       ('bc-long', 'subscription_period_ended', 'active', 'past_due') $$,
  'a period that ended long ago goes past due and, its grace over too, back to FREE in one run'
);
select results_eq(
  $$ select s.status, s.past_due_since from public.subscriptions as s
     where s.user_id = tests.get_supabase_uid('bc-pastdue') $$,
  $$ values ('past_due', '2030-01-10 00:00:00+00'::timestamptz) $$,
  'one second before the grace boundary, past due stays past due'
);

-- Run B, 2030-01-17 00:00:00: the grace boundary --------------------------------------------------------
select pg_temp.run_cycle('B', '2030-01-17 00:00:00+00');
select results_eq(
  $$ select s.label, c.change, c.before_state, c.after_state
     from cycle as c inner join subjects as s on c.subject_id = s.id
     where c.run = 'B' order by c.change, s.label $$,
  $$ values ('bc-pastdue', 'subscription_grace_ended', 'past_due', 'active:FREE') $$,
  'at past_due_since + grace_days exactly, the subscription falls back'
);
select results_eq(
  $$ select s.plan_code, s.status, s.current_period_start, s.current_period_end, s.past_due_since,
       s.cancel_at_period_end, s.funded_by_payment_id
     from public.subscriptions as s where s.user_id = tests.get_supabase_uid('bc-pastdue') $$,
  $$ values ('FREE', 'active', '2030-01-17 00:00:00+00'::timestamptz, null::timestamptz, null::timestamptz,
       false, null::uuid) $$,
  'back on FREE: active from the run''s instant, with no period end'
);
select pg_temp.run_cycle('B2', '2030-01-17 00:00:00+00');
select is_empty($$ select 1 from cycle as c where c.run = 'B2' $$, 'a second run at that instant: no rows');

-- Run C, 2030-02-01 00:00:00: the periods of bc-ended and bc-cancel end ------------------------------------
-- Housekeeping material: a bucket whose window ended before C and one still running; an AI hold that
-- expired before C and one that has not.
select tests.clear_authentication();
select results_eq(
  $$ select count(*) filter (where c.allowed)
     from (
       select * from private.consume_rate_limit('bc-test', 'old', 5, 60, '2030-01-31 23:58:00+00')
       union all
       select * from private.consume_rate_limit('bc-test', 'running', 5, 3600, '2030-01-31 23:58:00+00')
     ) as c $$,
  $$ values (2::bigint) $$,
  'two rate-limit buckets: one resets at 23:59, one at 00:00 (both at or before C)'
);
select results_eq(
  $$ select count(*) filter (where c.allowed)
     from private.consume_rate_limit('bc-test', 'later', 5, 3600, '2030-02-01 00:30:00+00') as c $$,
  $$ values (1::bigint) $$,
  'a bucket whose window ends after C'
);
select results_eq(
  $$ select count(*) filter (where r.allowed)
     from (
       select * from private.reserve_ai_usage(tests.get_supabase_uid('bc-free'), 10, '2030-01-31 23:40:00+00')
       union all
       select * from private.reserve_ai_usage(tests.get_supabase_uid('bc-current'), 20, '2030-01-31 23:55:00+00')
     ) as r $$,
  $$ values (2::bigint) $$,
  'two AI holds: one expires at 23:50, one at 00:05'
);
create temporary table buckets_before_c on commit drop as
select count(*) as n from private.rate_limit_buckets as b
where b.reset_at <= '2030-02-01 00:00:00+00';
grant select on buckets_before_c to service_role;

select tests.authenticate_as_service_role();
select pg_temp.run_cycle('C', '2030-02-01 00:00:00+00');
select results_eq(
  $$ select s.label, c.change, c.before_state, c.after_state
     from cycle as c inner join subjects as s on c.subject_id = s.id
     where c.run = 'C' order by c.change, s.label $$,
  $$ values
       ('BC-OPEN-1', 'payment_expired', 'pending', 'expired'),
       ('bc-cancel', 'subscription_period_ended', 'active', 'canceled'),
       ('bc-ended', 'subscription_period_ended', 'active', 'past_due') $$,
  'at the period end: renewing goes past due, cancel-at-period-end is canceled; an expired checkout expires'
);
select results_eq(
  $$ select c.change, c.after_state from cycle as c where c.run = 'C' and c.subject_id is null order by 1 $$,
  $$ select 'ai_holds_released', '1' union all select 'rate_limit_buckets_deleted', b.n::text
     from buckets_before_c as b $$,
  'housekeeping: one row per kind, with how many; the expired AI hold and every ended bucket'
);
select results_eq(
  $$ select s.plan_code, s.status, s.past_due_since, s.current_period_end, s.funded_by_payment_id is not null
     from public.subscriptions as s where s.user_id = tests.get_supabase_uid('bc-ended') $$,
  $$ values ('PRO', 'past_due', '2030-02-01 00:00:00+00'::timestamptz, '2030-02-01 00:00:00+00'::timestamptz,
       true) $$,
  'past due since the period end, still on PRO (in grace)'
);
select results_eq(
  $$ select s.plan_code, s.status, s.past_due_since, s.canceled_at
     from public.subscriptions as s where s.user_id = tests.get_supabase_uid('bc-cancel') $$,
  $$ values ('PRO', 'canceled', null::timestamptz, '2030-01-20 00:00:00+00'::timestamptz) $$,
  'canceled, keeping the instant the user asked to cancel'
);
select results_eq(
  $$ select s.status, s.current_period_end from public.subscriptions as s
     where s.user_id = tests.get_supabase_uid('bc-current') $$,
  $$ values ('active', '2030-03-01 00:00:00+00'::timestamptz) $$,
  'a running period is untouched'
);
select results_eq(
  $$ select p.order_id, p.status from public.payments as p
     where p.order_id like 'BC-%' order by p.order_id $$,
  $$ values ('BC-OPEN-1', 'expired'), ('BC-OPEN-2', 'pending'), ('BC-PAID', 'paid') $$,
  'a checkout expires at expires_at, not a second before; a paid payment is never expired'
);
select is_empty(
  $$ select 1 from private.rate_limit_buckets as b where b.reset_at <= '2030-02-01 00:00:00+00' $$,
  'every bucket whose window ended is deleted'
);
select results_eq(
  $$ select b.namespace, b.reset_at from private.rate_limit_buckets as b where b.namespace = 'bc-test' $$,
  $$ values ('bc-test', '2030-02-01 01:00:00+00'::timestamptz) $$,
  'a bucket whose window is still running stays'
);
select results_eq(
  $$ select h.user_id = tests.get_supabase_uid('bc-free'), h.status from private.ai_holds as h
     where h.user_id in (tests.get_supabase_uid('bc-free'), tests.get_supabase_uid('bc-current'))
     order by h.expires_at $$,
  $$ values (true, 'released'), (false, 'held') $$,
  'the expired AI hold is released, the other one still held'
);
select results_eq(
  $$ select m.user_id = tests.get_supabase_uid('bc-free'), m.held_tokens from private.ai_monthly_usage as m
     where m.user_id in (tests.get_supabase_uid('bc-free'), tests.get_supabase_uid('bc-current'))
     order by m.held_tokens $$,
  $$ values (true, 0::bigint), (false, 20::bigint) $$,
  'and its estimate is given back'
);

-- Audit of run C.
select results_eq(
  $$ select a.action, a.actor_kind, a.before ->> 'status', a.after ->> 'status'
     from private.audit_logs as a, audit_mark as m
     where a.id > m.last_id and a.entity_id in (
       tests.get_supabase_uid('bc-ended')::text, tests.get_supabase_uid('bc-cancel')::text,
       (select p.id::text from public.payments as p where p.order_id = 'BC-OPEN-1')
     ) and a.after ->> 'status' in ('past_due', 'canceled', 'expired')
     order by a.after ->> 'status' $$,
  $$ values
       ('subscriptions.update', 'service', 'active', 'canceled'),
       ('payments.update', 'service', 'pending', 'expired'),
       ('subscriptions.update', 'service', 'active', 'past_due') $$,
  'each change of run C is audited with before and after, by the service role'
);
select results_eq(
  $$ select (a.after ->> 'at')::timestamptz, (a.after ->> 'changes')::integer
     from private.audit_logs as a, audit_mark as m
     where a.id > m.last_id and a.action = 'billing.run' and a.entity = 'billing'
       and (a.after ->> 'at')::timestamptz = '2030-02-01 00:00:00+00' $$,
  $$ select '2030-02-01 00:00:00+00'::timestamptz,
       sum(case when c.subject_id is null then c.after_state::integer else 1 end)::integer
     from cycle as c where c.run = 'C' $$,
  'and the run leaves one summary entry with its instant and the number of changes'
);

-- The same instant again: nothing.
create temporary table state_before_c2 on commit drop as
select
  (select md5(string_agg(s::text, ',' order by s.user_id)) from public.subscriptions as s) as subscriptions,
  (select md5(string_agg(p::text, ',' order by p.id)) from public.payments as p) as payments,
  (select max(a.id) from private.audit_logs as a) as last_audit,
  (select count(*) from private.rate_limit_buckets) as buckets,
  (select md5(string_agg(h::text, ',' order by h.id)) from private.ai_holds as h) as holds;
grant select on state_before_c2 to service_role;
select pg_temp.run_cycle('C2', '2030-02-01 00:00:00+00');
select is_empty(
  $$ select 1 from cycle as c where c.run = 'C2' $$, 'a second run at the same instant: no rows'
);
select results_eq(
  $$ select
       (select md5(string_agg(s::text, ',' order by s.user_id)) from public.subscriptions as s),
       (select md5(string_agg(p::text, ',' order by p.id)) from public.payments as p),
       (select max(a.id) from private.audit_logs as a),
       (select count(*) from private.rate_limit_buckets),
       (select md5(string_agg(h::text, ',' order by h.id)) from private.ai_holds as h) $$,
  $$ select b.subscriptions, b.payments, b.last_audit, b.buckets, b.holds from state_before_c2 as b $$,
  'and changes nothing: subscriptions, payments, buckets and holds as they were, no audit entry'
);

-- Runs D and E: bc-ended's grace (7 days from 2030-02-01) -------------------------------------------------
select pg_temp.run_cycle('D', '2030-02-07 23:59:59+00');
select results_eq(
  $$ select s.label, c.change from cycle as c inner join subjects as s on c.subject_id = s.id
     where c.run = 'D' order by s.label $$,
  $$ values ('BC-OPEN-2', 'payment_expired') $$,
  'one second before the grace ends: only the second checkout (long expired) changes'
);
select results_eq(
  $$ select s.status, s.plan_code from public.subscriptions as s
     where s.user_id = tests.get_supabase_uid('bc-ended') $$,
  $$ values ('past_due', 'PRO') $$,
  'bc-ended is still past due on PRO'
);
select pg_temp.run_cycle('E', '2030-02-08 00:00:00+00');
select results_eq(
  $$ select s.label, c.change, c.before_state, c.after_state
     from cycle as c inner join subjects as s on c.subject_id = s.id where c.run = 'E' $$,
  $$ values ('bc-ended', 'subscription_grace_ended', 'past_due', 'active:FREE') $$,
  'at the grace boundary bc-ended falls back to FREE'
);
select results_eq(
  $$ select s.plan_code, s.status, s.current_period_start, s.current_period_end, s.past_due_since,
       s.funded_by_payment_id
     from public.subscriptions as s where s.user_id = tests.get_supabase_uid('bc-ended') $$,
  $$ values ('FREE', 'active', '2030-02-08 00:00:00+00'::timestamptz, null::timestamptz, null::timestamptz,
       null::uuid) $$,
  'FREE, active from the boundary, no period end, no funding payment'
);
select results_eq(
  $$ select s.status, s.plan_code from public.subscriptions as s
     where s.user_id = tests.get_supabase_uid('bc-cancel') $$,
  $$ values ('canceled', 'PRO') $$,
  'a canceled subscription stays canceled (it was never past due)'
);
select results_eq(
  $$ select a.before ->> 'status', a.before ->> 'plan_code', a.after ->> 'status', a.after ->> 'plan_code',
       a.actor_kind
     from private.audit_logs as a, audit_mark as m
     where a.id > m.last_id and a.entity = 'subscriptions'
       and a.entity_id = tests.get_supabase_uid('bc-ended')::text
       and (a.after ->> 'current_period_start')::timestamptz = '2030-02-08 00:00:00+00' $$,
  $$ values ('past_due', 'PRO', 'active', 'FREE', 'service') $$,
  'the fall back to FREE is audited'
);
select results_eq(
  $$ select count(*) from private.audit_logs as a, audit_mark as m
     where a.id > m.last_id and a.action = 'billing.run' $$,
  $$ select count(distinct c.run) from cycle as c $$,
  'every run that changed something (A, B, C, D, E) left one summary entry; the empty repeats none'
);

-- Another grace period --------------------------------------------------------------------------------
select tests.clear_authentication();
update private.settings set grace_days = 3;
update public.subscriptions
set
  plan_code = 'PRO',
  status = 'past_due',
  current_period_start = '2030-02-01 00:00:00+00',
  current_period_end = '2030-03-01 00:00:00+00',
  past_due_since = '2030-03-01 00:00:00+00'
where user_id = tests.get_supabase_uid('bc-grace3');
select tests.authenticate_as_service_role();
select pg_temp.run_cycle('G1', '2030-03-03 23:59:59+00');
select is_empty(
  $$ select 1 from cycle as c inner join subjects as s on c.subject_id = s.id
     where c.run = 'G1' and s.label = 'bc-grace3' $$,
  'with grace_days = 3: still past due one second before the third day ends'
);
select pg_temp.run_cycle('G2', '2030-03-04 00:00:00+00');
select results_eq(
  $$ select c.change, c.after_state from cycle as c inner join subjects as s on c.subject_id = s.id
     where c.run = 'G2' and s.label = 'bc-grace3' $$,
  $$ values ('subscription_grace_ended', 'active:FREE') $$,
  'and back on FREE at the boundary: the setting is honoured'
);
select tests.clear_authentication();

select * from finish();
rollback;
