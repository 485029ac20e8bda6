-- Refunds in parts and disputes, for plan payments (20261204006020): every new transition, what it does to
-- the subscription, and the events it records failed or ignored. The legacy `refunded` and the transitions of
-- 20261204001010 are 030's and 031's. Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(55);

-- The transition function, over every (status, action) pair -------------------------------------------------
-- With 300 of 900 refunded before where a part may be refunded (partially_refunded, disputed), and an event's
-- cumulative refund of 600 (a part) or 900 (all of it). Every pair not listed is null: stale or repeated.
create temporary table expected_transition (
  payment_status text, event_status text, refunded_after bigint, next_status text
) on commit drop;
insert into expected_transition values
('pending', 'paid', 0, 'paid'),
('failed', 'paid', 0, 'paid'),
('expired', 'paid', 0, 'paid'),
('pending', 'failed', 0, 'failed'),
('pending', 'expired', 0, 'expired'),
('paid', 'refund', 600, 'partially_refunded'),
('paid', 'refund', 900, 'refunded'),
('partially_refunded', 'refund', 600, 'partially_refunded'),
('partially_refunded', 'refund', 900, 'refunded'),
('disputed', 'refund', 600, 'disputed'),
('disputed', 'refund', 900, 'refunded'),
('paid', 'dispute_opened', 0, 'disputed'),
('partially_refunded', 'dispute_opened', 300, 'disputed'),
('disputed', 'dispute_won', 300, 'partially_refunded'),
('paid', 'dispute_lost', 0, 'charged_back'),
('partially_refunded', 'dispute_lost', 300, 'charged_back'),
('disputed', 'dispute_lost', 300, 'charged_back');
-- Every status with every action: one row each, and two for a refund (a part, all of it).
create temporary view transition_pair as
select
  s.payment_status,
  a.event_status,
  r.refunded_after,
  case when s.payment_status in ('partially_refunded', 'disputed', 'refunded') then 300 else 0 end
    as refunded_before
from
  unnest(array[
    'pending', 'paid', 'partially_refunded', 'refunded', 'disputed', 'charged_back',
    'failed', 'expired'
  ]) as s (payment_status
  )
cross join
  unnest(array[
    'pending', 'paid', 'failed', 'expired', 'refund', 'dispute_opened', 'dispute_won',
    'dispute_lost'
  ]) as a (event_status
  )
cross join (values (0), (300), (600), (900)) as r (refunded_after)
where
  (a.event_status = 'refund') = (r.refunded_after in (600, 900))
  and (
    a.event_status = 'refund'
    or r.refunded_after = case
      when s.payment_status in ('partially_refunded', 'disputed', 'refunded')
        then 300
      else 0
    end
  );
select is((select count(*) from transition_pair), 72::bigint, '8 statuses x 7 actions, and 8 x 2 refunds');
select is_empty(
  $$ select p.payment_status, p.event_status, p.refunded_after
     from transition_pair as p
     left join expected_transition as e using (payment_status, event_status, refunded_after)
     where private.payment_transition(p.payment_status, p.event_status, p.refunded_before, p.refunded_after, 900)
       is distinct from e.next_status $$,
  'payment_transition is the table above for every status and action; anything else is null'
);
select is(
  private.payment_transition('partially_refunded', 'refund', 600, 600, 900), null,
  'a cumulative refund that did not grow is stale'
);
select is(
  private.payment_transition('disputed', 'dispute_won', 0, 0, 900), 'paid',
  'a won dispute with nothing refunded returns to paid'
);

-- Plan payments, through apply_payment_event ---------------------------------------------------------------
do $$
declare
  who text;
begin
  update private.settings set default_plan = 'FREE', grace_days = 3;
  foreach who in array array['rf-ann', 'rf-ben', 'rf-cat', 'rf-dan', 'rf-eve', 'rf-fay', 'rf-gus'] loop
    perform tests.create_supabase_user(who);
    insert into public.payments (user_id, plan_code, provider, amount_minor, currency, order_id, expires_at)
    values (tests.get_supabase_uid(who), 'PRO', 'stripe', 900, 'USD', upper(who), now() + interval '1 day');
  end loop;
end
$$;

-- One event, as the edge app sends it: outcome/payment status.
create function pg_temp.apply(
  order_id text, event_key text, status text, amount bigint default null,
  currency text default 'USD'
)
returns text
language sql
as $$
  select a.outcome || '/' || a.payment_status
  from public.apply_payment_event('stripe', event_key, 'test.' || status, order_id, status, amount, currency) as a
$$;
-- The user's subscription: plan/status/funded by this user's payment.
create function pg_temp.plan_of(who text)
returns text
language sql
as $$
  select s.plan_code || '/' || s.status || '/' || (s.funded_by_payment_id is not null)::text
  from public.subscriptions as s where s.user_id = tests.get_supabase_uid(who)
$$;
grant execute on function pg_temp.apply(text, text, text, bigint, text),
pg_temp.plan_of(text) to service_role;
select tests.authenticate_as_service_role();

select is(pg_temp.apply('RF-ANN', 'rf-ann-paid', 'paid', 900), 'applied/paid', 'ann pays');
select is(pg_temp.plan_of('rf-ann'), 'PRO/active/true', 'ann is on PRO');

-- Partial refunds: applied, cumulative, and the plan stays (the behaviour change).
select is(
  pg_temp.apply('RF-ANN', 'rf-ann-r1', 'refund', 300), 'applied/partially_refunded',
  'a refund of 300 of 900: partially refunded'
);
select results_eq(
  $$ select p.refunded_minor, p.refunded_at, p.paid_at from public.payments as p
     where p.order_id = 'RF-ANN' $$,
  $$ values (300::bigint, now(), now()) $$,
  'refunded_minor is 300, refunded_at when it happened, paid_at kept'
);
select is(pg_temp.plan_of('rf-ann'), 'PRO/active/true', 'a partial refund keeps the plan');
select is(
  pg_temp.apply('RF-ANN', 'rf-ann-r1-again', 'refund', 300), 'ignored/partially_refunded',
  'the same cumulative amount under another key: ignored'
);
select is(
  pg_temp.apply('RF-ANN', 'rf-ann-r-old', 'refund', 200), 'ignored/partially_refunded',
  'an older, smaller cumulative amount: ignored'
);
select is(
  (
    select e.last_error from private.webhook_events as e
    where e.event_key = 'rf-ann-r-old'
  ),
  'stale_or_repeated: payment is partially_refunded, event says refund of 200 in all',
  'the ledger says why'
);
select is(
  pg_temp.apply('RF-ANN', 'rf-ann-r2', 'refund', 600), 'applied/partially_refunded',
  'a second partial refund (600 in all) is applied, not ignored'
);
select is(
  (
    select p.refunded_minor from public.payments as p
    where p.order_id = 'RF-ANN'
  ), 600::bigint,
  'refunded_minor is the greatest cumulative amount reported'
);
select is(
  pg_temp.apply('RF-ANN', 'rf-ann-r1', 'refund', 300), 'duplicate/partially_refunded',
  'a redelivery of the first refund: a duplicate'
);

-- Refunds that do not add up are recorded failed.
select is(
  pg_temp.apply('RF-ANN', 'rf-ann-over', 'refund', 901), 'failed/partially_refunded',
  'a refund above the amount: failed'
);
select is(
  (
    select e.last_error from private.webhook_events as e
    where e.event_key = 'rf-ann-over'
  ),
  'refund_mismatch: 901 USD refunded in all, of a payment of 900 USD',
  'recorded as refund_mismatch'
);
select is(
  pg_temp.apply('RF-ANN', 'rf-ann-eur', 'refund', 700, 'EUR'), 'failed/partially_refunded',
  'a refund in another currency: failed'
);
select is(
  pg_temp.apply('RF-ANN', 'rf-ann-none', 'refund', null), 'failed/partially_refunded',
  'a refund without an amount: failed'
);
select is(
  (
    select p.refunded_minor from public.payments as p
    where p.order_id = 'RF-ANN'
  ), 600::bigint,
  'failed refunds changed nothing'
);

-- Reaching the amount: refunded, and the plan goes.
select is(
  pg_temp.apply('RF-ANN', 'rf-ann-r3', 'refund', 900), 'applied/refunded',
  'the cumulative refund reaches 900: refunded'
);
select is(pg_temp.plan_of('rf-ann'), 'FREE/active/false', 'a full refund revokes the plan');
select is(
  pg_temp.apply('RF-ANN', 'rf-ann-d', 'dispute_opened'), 'ignored/refunded',
  'a dispute of a refunded payment: ignored'
);

-- A dispute holds the plan (past_due), a won one restores it.
select is(pg_temp.apply('RF-BEN', 'rf-ben-paid', 'paid', 900), 'applied/paid', 'ben pays');
select is(pg_temp.apply('RF-BEN', 'rf-ben-d1', 'dispute_opened'), 'applied/disputed', 'a dispute opens');
select results_eq(
  $$ select s.status, s.past_due_since from public.subscriptions as s
     where s.user_id = tests.get_supabase_uid('rf-ben') $$,
  $$ values ('past_due', now()) $$,
  'the subscription is past due from the dispute'
);
select is(
  pg_temp.apply('RF-BEN', 'rf-ben-d1b', 'dispute_opened'), 'ignored/disputed',
  'a second dispute_opened: ignored'
);
select is(
  pg_temp.apply('RF-BEN', 'rf-ben-p2', 'paid', 900), 'ignored/disputed', 'paid while disputed: ignored'
);
select is_empty(
  $$ select 1 from public.run_billing_cycle(now() + interval '10 days') as c
     where c.subject_id = tests.get_supabase_uid('rf-ben')::text and c.change = 'subscription_grace_ended' $$,
  'the billing cycle does not lapse a subscription whose payment is disputed, past its grace'
);
select is(pg_temp.plan_of('rf-ben'), 'PRO/past_due/true', 'ben is still on PRO, past due');
select is(pg_temp.apply('RF-BEN', 'rf-ben-won', 'dispute_won'), 'applied/paid', 'the dispute is won: paid');
select results_eq(
  $$ select s.plan_code, s.status, s.past_due_since from public.subscriptions as s
     where s.user_id = tests.get_supabase_uid('rf-ben') $$,
  $$ values ('PRO', 'active', null::timestamptz) $$,
  'a won dispute restores the subscription'
);
select is(pg_temp.apply('RF-BEN', 'rf-ben-won2', 'dispute_won'), 'ignored/paid', 'won again: ignored');

-- A partly refunded payment that is disputed and won is partly refunded again.
select is(pg_temp.apply('RF-CAT', 'rf-cat-paid', 'paid', 900), 'applied/paid', 'cat pays');
select is(pg_temp.apply('RF-CAT', 'rf-cat-r1', 'refund', 300), 'applied/partially_refunded', 'cat: 300 back');
select is(pg_temp.apply('RF-CAT', 'rf-cat-d', 'dispute_opened'), 'applied/disputed', 'then a dispute');
select is(
  pg_temp.apply('RF-CAT', 'rf-cat-r2', 'refund', 500), 'applied/disputed',
  'a partial refund during a dispute: applied, still disputed'
);
select is(
  pg_temp.apply('RF-CAT', 'rf-cat-won', 'dispute_won'), 'applied/partially_refunded',
  'won: partially refunded, as before the dispute'
);
select results_eq(
  $$ select p.refunded_minor, s.plan_code, s.status from public.payments as p
     join public.subscriptions as s on s.user_id = p.user_id where p.order_id = 'RF-CAT' $$,
  $$ values (500::bigint, 'PRO', 'active') $$,
  'cat keeps 500 refunded and PRO'
);

-- A lost dispute is a chargeback: as a full refund for the plan.
select is(pg_temp.apply('RF-DAN', 'rf-dan-paid', 'paid', 900), 'applied/paid', 'dan pays');
select is(pg_temp.apply('RF-DAN', 'rf-dan-d', 'dispute_opened'), 'applied/disputed', 'a dispute opens');
select is(
  pg_temp.apply('RF-DAN', 'rf-dan-lost', 'dispute_lost'), 'applied/charged_back', 'lost: charged back'
);
select is(pg_temp.plan_of('rf-dan'), 'FREE/active/false', 'a lost dispute revokes the plan');
select is(
  pg_temp.apply('RF-DAN', 'rf-dan-won', 'dispute_won'), 'ignored/charged_back',
  'won after lost: ignored'
);
select is(
  pg_temp.apply('RF-DAN', 'rf-dan-r', 'refund', 900), 'ignored/charged_back',
  'a refund after a chargeback: ignored'
);

-- A chargeback without a dispute first (Midtrans), from paid and from partially refunded.
select is(pg_temp.apply('RF-EVE', 'rf-eve-paid', 'paid', 900), 'applied/paid', 'eve pays');
select is(
  pg_temp.apply('RF-EVE', 'rf-eve-cb', 'dispute_lost'), 'applied/charged_back',
  'dispute_lost straight from paid: charged back'
);
select is(pg_temp.plan_of('rf-eve'), 'FREE/active/false', 'eve is back on FREE');
select is(pg_temp.apply('RF-FAY', 'rf-fay-paid', 'paid', 900), 'applied/paid', 'fay pays');
select is(pg_temp.apply('RF-FAY', 'rf-fay-r', 'refund', 100), 'applied/partially_refunded', 'fay: 100 back');
select is(
  pg_temp.apply('RF-FAY', 'rf-fay-cb', 'dispute_lost'), 'applied/charged_back',
  'dispute_lost straight from partially refunded: charged back'
);

-- A dispute won after the period ended: past due from the period's end, as the billing cycle makes it.
select is(pg_temp.apply('RF-GUS', 'rf-gus-paid', 'paid', 900), 'applied/paid', 'gus pays');
select is(pg_temp.apply('RF-GUS', 'rf-gus-d', 'dispute_opened'), 'applied/disputed', 'a dispute opens');
select tests.clear_authentication();
update public.subscriptions as s
set current_period_start = now() - interval '2 months', current_period_end = now() - interval '1 day'
where s.user_id = tests.get_supabase_uid('rf-gus');
select tests.authenticate_as_service_role();
select is(pg_temp.apply('RF-GUS', 'rf-gus-won', 'dispute_won'), 'applied/paid', 'the dispute is won');
select results_eq(
  $$ select s.plan_code, s.status, s.past_due_since from public.subscriptions as s
     where s.user_id = tests.get_supabase_uid('rf-gus') $$,
  $$ values ('PRO', 'past_due', now() - interval '1 day') $$,
  'the period ended meanwhile: past due from its end (the grace period runs from there)'
);
select tests.clear_authentication();

select * from finish();
rollback;
