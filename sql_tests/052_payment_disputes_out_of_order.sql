-- Disputes out of order (20261204006050): a dispute's close that arrives before its opening is not lost,
-- and the late opening does not open the closed dispute again; a dispute opened after a close still opens.
-- Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(14);

do $$
declare
  who text;
begin
  update private.settings set default_plan = 'FREE', grace_days = 3;
  foreach who in array array['oo-ann', 'oo-ben', 'oo-cat'] loop
    perform tests.create_supabase_user(who);
    insert into public.payments (user_id, plan_code, provider, amount_minor, currency, order_id, expires_at)
    values (tests.get_supabase_uid(who), 'PRO', 'stripe', 900, 'USD', upper(who), now() + interval '1 day');
  end loop;
end
$$;

-- One event, as the edge app sends it, that happened `ago` before now: outcome/payment status.
create function pg_temp.apply(
  order_id text, event_key text, status text, ago interval, amount bigint default null
)
returns text
language sql
as $$
  select a.outcome || '/' || a.payment_status
  from public.apply_payment_event(
    'stripe', event_key, 'test.' || status, order_id, status, amount, 'USD', now() - ago
  ) as a
$$;
-- The user's subscription: plan/status.
create function pg_temp.plan_of(who text)
returns text
language sql
as $$
  select s.plan_code || '/' || s.status
  from public.subscriptions as s where s.user_id = tests.get_supabase_uid(who)
$$;
grant execute on function pg_temp.apply(text, text, text, interval, bigint), pg_temp.plan_of(text)
to service_role;
select tests.authenticate_as_service_role();

-- Won, then the opening that happened before it.
select is(pg_temp.apply('OO-ANN', 'oo-ann-paid', 'paid', '1 hour', 900), 'applied/paid', 'ann pays');
select is(
  pg_temp.apply('OO-ANN', 'oo-ann-won', 'dispute_won', '10 minutes'), 'applied/paid',
  'a won dispute before its opening: applied, still paid'
);
select is(
  (
    select p.dispute_closed_at from public.payments as p
    where p.order_id = 'OO-ANN'
  ),
  now() - interval '10 minutes', 'the close is recorded: when it happened'
);
select is(
  pg_temp.apply('OO-ANN', 'oo-ann-opened', 'dispute_opened', '20 minutes'), 'ignored/paid',
  'its opening, arriving late: stale, the dispute stays closed'
);
select is(pg_temp.plan_of('oo-ann'), 'PRO/active', 'the plan stays active');
select is(
  pg_temp.apply('OO-ANN', 'oo-ann-won2', 'dispute_won', '5 minutes'), 'ignored/paid',
  'won again: ignored, as after a dispute seen open'
);
select is(
  pg_temp.apply('OO-ANN', 'oo-ann-new', 'dispute_opened', '1 minute'), 'applied/disputed',
  'a dispute opened after the close is a new one: it opens'
);
select is(pg_temp.plan_of('oo-ann'), 'PRO/past_due', 'and holds the plan, as a dispute does');

-- Lost, then the opening: charged back, and it stays so.
select is(pg_temp.apply('OO-BEN', 'oo-ben-paid', 'paid', '1 hour', 900), 'applied/paid', 'ben pays');
select is(
  pg_temp.apply('OO-BEN', 'oo-ben-lost', 'dispute_lost', '10 minutes'), 'applied/charged_back',
  'a lost dispute before its opening: charged back'
);
select is(
  pg_temp.apply('OO-BEN', 'oo-ben-opened', 'dispute_opened', '20 minutes'), 'ignored/charged_back',
  'its opening, arriving late: ignored'
);
select is(pg_temp.plan_of('oo-ben'), 'FREE/active', 'the plan is revoked, as by any chargeback');

-- Of a partly refunded payment: applied, still partly refunded.
select is(pg_temp.apply('OO-CAT', 'oo-cat-paid', 'paid', '1 hour', 900), 'applied/paid', 'cat pays');
select is(
  pg_temp.apply('OO-CAT', 'oo-cat-r', 'refund', '30 minutes', 300)
  || ' ' || pg_temp.apply('OO-CAT', 'oo-cat-won', 'dispute_won', '10 minutes')
  || ' ' || pg_temp.apply('OO-CAT', 'oo-cat-opened', 'dispute_opened', '20 minutes'),
  'applied/partially_refunded applied/partially_refunded ignored/partially_refunded',
  'a partial refund, a won dispute before its opening, the late opening: partially refunded throughout'
);
select tests.clear_authentication();

select * from finish();
rollback;
