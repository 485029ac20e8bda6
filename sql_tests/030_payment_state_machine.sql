-- The payment state machine of apply_payment_event: which event moves a payment from which status to which
-- (the table below; private.payment_transition holds the same table), and the events it refuses to apply
-- whatever the status (amount, currency or provider that differ, an unknown order, bad input). What a
-- transition does to the subscription is in 031, redeliveries in 032. Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(40);

-- Every (payment status, event status) pair: the outcome and the payment's status after. Anything but the six
-- transitions is stale or repeated: recorded as ignored, nothing changes.
create temporary table transition_case (
  id integer primary key,
  before_status text not null,
  event_status text not null,
  outcome text not null,
  after_status text not null
) on commit drop;
insert into transition_case (id, before_status, event_status, outcome, after_status) values
(1, 'pending', 'pending', 'ignored', 'pending'),
(2, 'pending', 'paid', 'applied', 'paid'),
(3, 'pending', 'failed', 'applied', 'failed'),
(4, 'pending', 'expired', 'applied', 'expired'),
(5, 'pending', 'refunded', 'ignored', 'pending'),
(6, 'paid', 'pending', 'ignored', 'paid'),
(7, 'paid', 'paid', 'ignored', 'paid'),
(8, 'paid', 'failed', 'ignored', 'paid'),
(9, 'paid', 'expired', 'ignored', 'paid'),
(10, 'paid', 'refunded', 'applied', 'refunded'),
(11, 'failed', 'pending', 'ignored', 'failed'),
(12, 'failed', 'paid', 'applied', 'paid'),
(13, 'failed', 'failed', 'ignored', 'failed'),
(14, 'failed', 'expired', 'ignored', 'failed'),
(15, 'failed', 'refunded', 'ignored', 'failed'),
(16, 'expired', 'pending', 'ignored', 'expired'),
(17, 'expired', 'paid', 'applied', 'paid'),
(18, 'expired', 'failed', 'ignored', 'expired'),
(19, 'expired', 'expired', 'ignored', 'expired'),
(20, 'expired', 'refunded', 'ignored', 'expired'),
(21, 'refunded', 'pending', 'ignored', 'refunded'),
(22, 'refunded', 'paid', 'ignored', 'refunded'),
(23, 'refunded', 'failed', 'ignored', 'refunded'),
(24, 'refunded', 'expired', 'ignored', 'refunded'),
(25, 'refunded', 'refunded', 'ignored', 'refunded');

-- One payment per case in its status before (no user: what a paid payment does for its user is 031's), and
-- the case's event, as the edge app reports it.
insert into public.payments (
  plan_code, provider, status, amount_minor, currency, order_id, expires_at, paid_at, refunded_at,
  refunded_minor
)
select
  'PRO' as plan_code,
  'stripe' as provider,
  c.before_status as status,
  900 as amount_minor,
  'USD' as currency,
  'T030-' || c.id as order_id,
  now() + interval '1 day' as expires_at,
  case when c.before_status in ('paid', 'refunded') then now() - interval '1 day' end as paid_at,
  case when c.before_status = 'refunded' then now() - interval '1 hour' end as refunded_at,
  case when c.before_status = 'refunded' then 900 else 0 end as refunded_minor
from transition_case as c;
create temporary table transition_result (id integer primary key, outcome text, payment_status text)
on commit drop;
grant select on transition_case to service_role;
grant insert on transition_result to service_role;
select tests.authenticate_as_service_role();
do $$
declare
  c record;
begin
  for c in select * from pg_temp.transition_case order by id loop
    insert into pg_temp.transition_result (id, outcome, payment_status)
    select c.id, a.outcome, a.payment_status
    from public.apply_payment_event(
      'stripe', 't030-evt-' || c.id, 'test.' || c.event_status, 'T030-' || c.id, c.event_status, 900, 'USD'
    ) as a;
  end loop;
end
$$;
select tests.clear_authentication();

-- The transitions -------------------------------------------------------------------------------------------
select
  is(
    format('%s; payment %s; ledger %s', r.outcome, r.payment_status, e.status),
    format(
      '%s; payment %s; ledger %s', c.outcome, c.after_status,
      case c.outcome when 'applied' then 'processed' else 'ignored' end
    ),
    format('payment %s, event %s: %s, %s after', c.before_status, c.event_status, c.outcome, c.after_status)
  )
from transition_case as c
inner join transition_result as r on c.id = r.id
inner join private.webhook_events as e on e.provider = 'stripe' and e.event_key = 't030-evt-' || c.id
order by c.id;
select results_eq(
  $$ select c.id, e.last_error from transition_case as c
     inner join private.webhook_events as e on e.provider = 'stripe' and e.event_key = 't030-evt-' || c.id
     order by c.id $$,
  $$ select c.id,
       case when c.outcome = 'ignored'
         then format('stale_or_repeated: payment is %s, event says %s', c.before_status, c.event_status)
       end
     from transition_case as c order by c.id $$,
  'ignored events are recorded with the reason; applied ones with none'
);
select results_eq(
  $$ select c.id, p.status, p.paid_at is not null, p.refunded_at is not null
     from transition_case as c inner join public.payments as p on p.order_id = 'T030-' || c.id
     order by c.id $$,
  $$ select c.id, c.after_status, c.after_status in ('paid', 'refunded'), c.after_status = 'refunded'
     from transition_case as c order by c.id $$,
  'a paid payment knows when it was paid, a refunded one when it was refunded too'
);
select is_empty(
  $$ select c.id from transition_case as c
     where private.payment_transition(
         c.before_status, case when c.event_status = 'refunded' then 'refund' else c.event_status end,
         case when c.before_status = 'refunded' then 900 else 0 end,
         case when c.event_status = 'refunded' or c.before_status = 'refunded' then 900 else 0 end, 900
       ) is distinct from case when c.outcome = 'applied' then c.after_status end $$,
  'private.payment_transition agrees with that table (a full refund as apply_payment_event passes it)'
);

-- Events that are never applied -----------------------------------------------------------------------------
do $$
begin
  perform tests.create_supabase_user('wh-bob');
  insert into public.payments (user_id, plan_code, provider, amount_minor, currency, order_id, expires_at)
  values (tests.get_supabase_uid('wh-bob'), 'PRO', 'stripe', 900, 'USD', 'T015-B1', now() + interval '1 day');
end
$$;
select tests.authenticate_as_service_role();
-- Amount and currency must match the payment.
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       'stripe', 't015-evt-b1', 'checkout.completed', 'T015-B1', 'paid', 800, 'USD'
     ) as a $$,
  $$ values ('failed', 'pending') $$,
  'a paid amount that differs: failed, the payment stays pending'
);
select results_eq(
  $$ select e.status, e.last_error from private.webhook_events as e where e.event_key = 't015-evt-b1' $$,
  $$ values ('failed', 'amount_mismatch: expected 900 USD, got 800 USD') $$,
  'the ledger records why'
);
select results_eq(
  $$ select a.outcome from public.apply_payment_event(
       'stripe', 't015-evt-b2', 'checkout.completed', 'T015-B1', 'paid', 900, 'EUR'
     ) as a $$,
  $$ values ('failed') $$,
  'a paid currency that differs: failed'
);
select results_eq(
  $$ select a.outcome from public.apply_payment_event(
       'stripe', 't015-evt-b3', 'checkout.completed', 'T015-B1', 'paid'
     ) as a $$,
  $$ values ('failed') $$,
  'a paid event without an amount: failed'
);
select results_eq(
  $$ select a.outcome from public.apply_payment_event(
       'midtrans', 't015-evt-b4', 'settlement', 'T015-B1', 'paid', 900, 'USD'
     ) as a $$,
  $$ values ('failed') $$,
  'an event from another provider than the payment''s: failed'
);
select results_eq(
  $$ select p.status, p.paid_at, s.plan_code
     from public.payments as p, public.subscriptions as s
     where p.order_id = 'T015-B1' and s.user_id = p.user_id $$,
  $$ values ('pending', null::timestamptz, 'FREE') $$,
  'nothing changed for bob'
);
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       'stripe', 't015-evt-b5', 'checkout.completed', 'T015-B1', 'paid', 900, 'usd'
     ) as a $$,
  $$ values ('applied', 'paid') $$,
  'the right amount, currency in any case: applied'
);


select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       'stripe', 't015-evt-nope', 'checkout.completed', 'T015-NOPE', 'paid', 900, 'USD'
     ) as a $$,
  $$ values ('ignored', null::text) $$,
  'an unknown order: ignored'
);
select results_eq(
  $$ select e.status, e.order_id, e.last_error from private.webhook_events as e
     where e.event_key = 't015-evt-nope' $$,
  $$ values ('ignored', 'T015-NOPE', 'unknown_order') $$,
  'and recorded as such'
);

-- Bad input.
select throws_ok(
  $$ select * from public.apply_payment_event('stripe', 't015-evt-bad', 'x', 'T015-E1', 'settled') $$,
  '22023', 'invalid_argument', 'an unknown status: 22023'
);
select throws_ok(
  $$ select * from public.apply_payment_event('stripe', 't015-evt-bad', 'x', 'T015-E1', null) $$,
  '22023', 'invalid_argument', 'no status: 22023'
);
select is_empty(
  $$ select 1 from private.webhook_events as e where e.event_key = 't015-evt-bad' $$,
  'a refused call leaves nothing in the ledger'
);

select * from finish();
rollback;
