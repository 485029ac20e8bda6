-- What a transition does for the user who paid: `paid` starts the plan's period (a new plan) or extends
-- the current one from its end (the same plan, also within the grace period), exactly once, dated from when
-- it happened (never later than now); a refund of the payment that funded the current period puts the user
-- back on FREE. Each step is audited. Which transitions exist is 030's; redeliveries are 032's. Runs as
-- `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(30);

-- Users and their checkouts (inserted directly: create_payment is tested in 014).
do $$
declare
  who record;
begin
  update private.settings set default_plan = 'FREE', webhook_lease_seconds = 60;
  perform tests.create_supabase_user('wh-alice');
  perform tests.create_supabase_user('wh-carol');
  perform tests.create_supabase_user('wh-dave');
  perform tests.create_supabase_user('wh-erin');
  for who in
    select * from (values
      ('wh-alice', 'T015-A1', 'PRO', 'stripe', 900, 'USD'),
      ('wh-carol', 'T015-C1', 'PRO', 'midtrans', 14900000, 'IDR'),
      ('wh-carol', 'T015-C2', 'PRO_YEARLY', 'stripe', 9000, 'USD'),
      ('wh-dave', 'T015-D1', 'PRO', 'razorpay', 74900, 'INR'),
      ('wh-dave', 'T015-D2', 'PRO', 'doku', 14900000, 'IDR'),
      ('wh-erin', 'T015-E1', 'PRO', 'stripe', 900, 'USD')
    ) as v (identifier, order_id, plan_code, provider, amount_minor, currency)
  loop
    insert into public.payments (user_id, plan_code, provider, amount_minor, currency, order_id, expires_at)
    values (
      tests.get_supabase_uid(who.identifier), who.plan_code, who.provider, who.amount_minor, who.currency,
      who.order_id, now() + interval '1 day'
    );
  end loop;
end
$$;
select tests.authenticate_as_service_role();

-- paid ------------------------------------------------------------------------------------------------------
select results_eq(
  $$ select a.outcome, a.payment_status
     from public.apply_payment_event(
       'stripe', 't015-evt-a1', 'checkout.completed', 'T015-A1', 'paid', 900, 'USD'
     ) as a $$,
  $$ values ('applied', 'paid') $$,
  'paid: applied'
);
select results_eq(
  $$ select p.status, p.paid_at from public.payments as p where p.order_id = 'T015-A1' $$,
  $$ values ('paid', now()) $$,
  'the payment is paid, paid_at = when it happened'
);
select results_eq(
  $$ select s.plan_code, s.status, s.current_period_start, s.current_period_end, s.funded_by_payment_id
     from public.subscriptions as s where s.user_id = tests.get_supabase_uid('wh-alice') $$,
  $$ select 'PRO', 'active', now(), now() + interval '1 month', p.id
     from public.payments as p where p.order_id = 'T015-A1' $$,
  'PRO is active for one month from now, funded by this payment'
);
select results_eq(
  $$ select e.status, e.order_id, e.attempts, e.lease_expires_at, e.processed_at, e.last_error
     from private.webhook_events as e where e.provider = 'stripe' and e.event_key = 't015-evt-a1' $$,
  $$ values ('processed', 'T015-A1', 1, null::timestamptz, now(), null::text) $$,
  'the ledger row is processed and names the order'
);
select results_eq(
  $$ select a.actor_kind, a.before ->> 'status', a.after ->> 'status' from private.audit_logs as a
     where a.action = 'payments.update'
       and a.entity_id = (select p.id::text from public.payments as p where p.order_id = 'T015-A1') $$,
  $$ values ('service', 'pending', 'paid') $$,
  'the transition is audited as the service'
);
select results_eq(
  $$ select a.actor_kind, a.before ->> 'plan_code', a.after ->> 'plan_code' from private.audit_logs as a
     where a.action = 'subscriptions.update' and a.entity_id = tests.get_supabase_uid('wh-alice')::text $$,
  $$ values ('service', 'FREE', 'PRO') $$,
  'so is the plan change'
);

-- The same event again, another paid event for the order, and late events (030: each changes nothing).
do $$
begin
  perform public.apply_payment_event('stripe', 't015-evt-a1', 'checkout.completed', 'T015-A1', 'paid', 900, 'USD');
  perform public.apply_payment_event(
    'stripe', 't015-evt-a1-bis', 'payment.succeeded', 'T015-A1', 'paid', 900, 'USD'
  );
  perform public.apply_payment_event('stripe', 't015-evt-a1-late', 'payment.pending', 'T015-A1', 'pending');
  perform public.apply_payment_event('stripe', 't015-evt-a1-fail', 'payment.failed', 'T015-A1', 'failed');
end
$$;
select results_eq(
  $$ select s.plan_code, s.current_period_end from public.subscriptions as s
     where s.user_id = tests.get_supabase_uid('wh-alice') $$,
  $$ values ('PRO', now() + interval '1 month') $$,
  'none of that extended the period twice'
);

-- Paying again for the same plan extends from the current period's end.
select tests.clear_authentication();
insert into public.payments (user_id, plan_code, provider, amount_minor, currency, order_id, expires_at)
values (tests.get_supabase_uid('wh-alice'), 'PRO', 'stripe', 900, 'USD', 'T015-A2', now() + interval '1 day');
select tests.authenticate_as_service_role();
select results_eq(
  $$ select a.outcome from public.apply_payment_event(
       'stripe', 't015-evt-a2', 'checkout.completed', 'T015-A2', 'paid', 900, 'USD'
     ) as a $$,
  $$ values ('applied') $$,
  'a second payment for the same plan: applied'
);
select results_eq(
  $$ select s.plan_code, s.current_period_start, s.current_period_end, s.funded_by_payment_id
     from public.subscriptions as s where s.user_id = tests.get_supabase_uid('wh-alice') $$,
  $$ select 'PRO', now(), (now() + interval '1 month') + interval '1 month', p.id
     from public.payments as p where p.order_id = 'T015-A2' $$,
  'it extends from current_period_end (the period start stays), funded by the new payment'
);

-- Refunds.
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       'stripe', 't015-evt-a1-refund', 'charge.refunded', 'T015-A1', 'refunded'
     ) as a $$,
  $$ values ('applied', 'refunded') $$,
  'refunded after paid: applied'
);
select results_eq(
  $$ select p.status, p.refunded_at, p.paid_at from public.payments as p where p.order_id = 'T015-A1' $$,
  $$ values ('refunded', now(), now()) $$,
  'the payment is refunded and keeps paid_at'
);
select results_eq(
  $$ select s.plan_code, s.current_period_end from public.subscriptions as s
     where s.user_id = tests.get_supabase_uid('wh-alice') $$,
  $$ values ('PRO', (now() + interval '1 month') + interval '1 month') $$,
  'a refund of a payment that no longer funds the period leaves the subscription alone'
);
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       'stripe', 't015-evt-a2-refund', 'charge.refunded', 'T015-A2', 'refunded'
     ) as a $$,
  $$ values ('applied', 'refunded') $$,
  'refund of the funding payment: applied'
);
select results_eq(
  $$ select s.plan_code, s.status, s.current_period_start, s.current_period_end, s.funded_by_payment_id,
       s.cancel_at_period_end
     from public.subscriptions as s where s.user_id = tests.get_supabase_uid('wh-alice') $$,
  $$ values ('FREE', 'active', now(), null::timestamptz, null::uuid, false) $$,
  'the user is back on FREE'
);
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       'stripe', 't015-evt-a2-refund-2', 'charge.refunded', 'T015-A2', 'refunded'
     ) as a $$,
  $$ values ('ignored', 'refunded') $$,
  'a second refund event: ignored'
);
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       'stripe', 't015-evt-a2-paid-late', 'checkout.completed', 'T015-A2', 'paid', 900, 'USD'
     ) as a $$,
  $$ values ('ignored', 'refunded') $$,
  'a late paid after the refund: ignored, the payment is not revived'
);
select results_eq(
  $$ select s.plan_code from public.subscriptions as s
     where s.user_id = tests.get_supabase_uid('wh-alice') $$,
  $$ values ('FREE') $$,
  'and the user stays on FREE'
);

-- A plan change: carol's PRO payment fails, then is paid; her yearly checkout expires, then is paid.
do $$
begin
  perform public.apply_payment_event('midtrans', 't015-evt-c1-deny', 'deny', 'T015-C1', 'failed');
  perform public.apply_payment_event(
    'midtrans', 't015-evt-c1-settle', 'settlement', 'T015-C1', 'paid', 14900000, 'IDR'
  );
  perform public.apply_payment_event('stripe', 't015-evt-c2-expire', 'checkout.expired', 'T015-C2', 'expired');
end
$$;
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       'stripe', 't015-evt-c2-paid', 'checkout.completed', 'T015-C2', 'paid', 9000, 'USD'
     ) as a $$,
  $$ values ('applied', 'paid') $$,
  'paid after expired: applied'
);
select results_eq(
  $$ select s.plan_code, s.current_period_start, s.current_period_end, s.funded_by_payment_id
     from public.subscriptions as s where s.user_id = tests.get_supabase_uid('wh-carol') $$,
  $$ select 'PRO_YEARLY', now(), now() + interval '1 year', p.id
     from public.payments as p where p.order_id = 'T015-C2' $$,
  'a different plan starts a fresh period now, a year long for a yearly plan'
);

-- When it happened: occurred_at in the past is used, in the future it is capped at now.
select results_eq(
  $$ select a.outcome from public.apply_payment_event(
       'razorpay', 't015-evt-d1', 'payment.captured', 'T015-D1', 'paid', 74900, 'INR',
       now() - interval '2 days'
     ) as a $$,
  $$ values ('applied') $$,
  'paid with an occurred_at two days ago'
);
select results_eq(
  $$ select p.paid_at, s.current_period_start, s.current_period_end
     from public.payments as p, public.subscriptions as s
     where p.order_id = 'T015-D1' and s.user_id = p.user_id $$,
  $$ values (
       now() - interval '2 days', now() - interval '2 days', (now() - interval '2 days') + interval '1 month'
     ) $$,
  'the payment and the period date from when it happened'
);
select results_eq(
  $$ select a.outcome from public.apply_payment_event(
       'doku', 't015-evt-d2', 'payment.success', 'T015-D2', 'paid', 14900000, 'IDR', now() + interval '3 days'
     ) as a $$,
  $$ values ('applied') $$,
  'paid with an occurred_at in the future'
);
select results_eq(
  $$ select p.paid_at, s.current_period_end
     from public.payments as p, public.subscriptions as s
     where p.order_id = 'T015-D2' and s.user_id = p.user_id $$,
  $$ values (now(), ((now() - interval '2 days') + interval '1 month') + interval '1 month') $$,
  'a future instant is capped at now; the same plan extends dave''s period'
);

-- Paying during the grace period extends from the period that ended; paying after a cancellation starts over.
do $$
declare
  frank uuid;
begin
  perform tests.create_supabase_user('wh-frank');
  frank := (select tests.get_supabase_uid('wh-frank'));
  update public.subscriptions
  set plan_code = 'PRO', status = 'past_due', current_period_start = now() - interval '33 days',
    current_period_end = now() - interval '3 days', past_due_since = now() - interval '3 days'
  where user_id = frank;
  insert into public.payments (user_id, plan_code, provider, amount_minor, currency, order_id, expires_at)
  values
  (frank, 'PRO', 'stripe', 900, 'USD', 'T015-F1', now() + interval '1 day'),
  (frank, 'PRO', 'doku', 14900000, 'IDR', 'T015-F2', now() + interval '1 day');
end
$$;
select tests.authenticate_as_service_role();
select results_eq(
  $$ select a.outcome from public.apply_payment_event(
       'stripe', 't015-evt-f1', 'checkout.completed', 'T015-F1', 'paid', 900, 'USD'
     ) as a $$,
  $$ values ('applied') $$,
  'paid while past due: applied'
);
select results_eq(
  $$ select s.status, s.past_due_since, s.current_period_start, s.current_period_end
     from public.subscriptions as s where s.user_id = tests.get_supabase_uid('wh-frank') $$,
  $$ values (
       'active', null::timestamptz, now() - interval '33 days',
       (now() - interval '3 days') + interval '1 month'
     ) $$,
  'the subscription is active again, extended from the end of the period that lapsed into grace'
);
select tests.clear_authentication();
update public.subscriptions
set
  status = 'canceled',
  cancel_at_period_end = true,
  canceled_at = now() - interval '40 days',
  current_period_end = now() - interval '1 day'
where user_id = tests.get_supabase_uid('wh-frank');
select tests.authenticate_as_service_role();
select results_eq(
  $$ select a.outcome from public.apply_payment_event(
       'doku', 't015-evt-f2', 'payment.success', 'T015-F2', 'paid', 14900000, 'IDR'
     ) as a $$,
  $$ values ('applied') $$,
  'paid after a cancellation: applied'
);
select results_eq(
  $$ select s.status, s.current_period_start, s.current_period_end, s.cancel_at_period_end, s.canceled_at
     from public.subscriptions as s where s.user_id = tests.get_supabase_uid('wh-frank') $$,
  $$ values ('active', now(), now() + interval '1 month', false, null::timestamptz) $$,
  'a canceled subscription starts a fresh period now, no longer set to cancel'
);


-- A payment whose user is gone.
select tests.clear_authentication();
delete from auth.users
where id = tests.get_supabase_uid('wh-erin');
select tests.authenticate_as_service_role();
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       'stripe', 't015-evt-e1', 'checkout.completed', 'T015-E1', 'paid', 900, 'USD'
     ) as a $$,
  $$ values ('applied', 'paid') $$,
  'a payment whose user was deleted is still recorded as paid'
);

-- Owners see the outcome through the tables.
select tests.authenticate_as('wh-carol');
select results_eq(
  $$ select p.order_id, p.status from public.payments as p order by p.order_id $$,
  $$ values ('T015-C1', 'paid'), ('T015-C2', 'paid') $$,
  'carol sees her payments as paid'
);
select results_eq(
  $$ select s.plan_code, s.status from public.subscriptions as s $$,
  $$ values ('PRO_YEARLY', 'active') $$,
  'and her subscription'
);


select * from finish();
rollback;
