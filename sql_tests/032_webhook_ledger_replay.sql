-- Redeliveries: providers deliver at least once and out of order, and apply_payment_event records each event
-- once under its provider + event key. The same key again is a duplicate that changes nothing; a failed
-- event is taken over and decided again; an event another worker holds is in progress; the same key with
-- another event type is an error; and a failure part-way leaves no trace, so the provider's retry starts
-- over. (An operator's replay of a failed event is 040's.) Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(13);

do $$
declare
  who record;
begin
  update private.settings set default_plan = 'FREE', webhook_lease_seconds = 60;
  perform tests.create_supabase_user('wh-alice');
  perform tests.create_supabase_user('wh-bob');
  perform tests.create_supabase_user('wh-dave');
  perform tests.create_supabase_user('wh-erin');
  for who in
    select * from (values
      ('wh-alice', 'T015-A1', 'PRO', 'stripe', 900, 'USD'),
      ('wh-bob', 'T015-B1', 'PRO', 'stripe', 900, 'USD'),
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

-- The same key again ----------------------------------------------------------------------------------------
select results_eq(
  $$ select a.outcome, a.payment_status
     from public.apply_payment_event(
       'stripe', 't015-evt-a1', 'checkout.completed', 'T015-A1', 'paid', 900, 'USD'
     ) as a $$,
  $$ values ('applied', 'paid') $$,
  'the first delivery: applied'
);
select results_eq(
  $$ select a.event_id, a.outcome, a.payment_status
     from public.apply_payment_event(
       'stripe', 't015-evt-a1', 'checkout.completed', 'T015-A1', 'paid', 900, 'USD'
     ) as a $$,
  $$ select e.id, 'duplicate', 'paid' from private.webhook_events as e where e.event_key = 't015-evt-a1' $$,
  'the same event key again: duplicate (the original event id)'
);
select results_eq(
  $$ select e.attempts, e.status from private.webhook_events as e where e.event_key = 't015-evt-a1' $$,
  $$ values (1, 'processed') $$,
  'a duplicate writes nothing: one attempt, still processed'
);
select throws_ok(
  $$ select * from public.apply_payment_event(
       'stripe', 't015-evt-a1', 'charge.refunded', 'T015-A1', 'refunded'
     ) $$,
  'PT409', 'event_type_mismatch', 'a known key with another event type: 409'
);

-- A failed event is decided again ---------------------------------------------------------------------------
select results_eq(
  $$ select a.outcome from public.apply_payment_event(
       'stripe', 't015-evt-b1', 'checkout.completed', 'T015-B1', 'paid', 800, 'USD'
     ) as a $$,
  $$ values ('failed') $$,
  'a paid amount that differs: failed (030)'
);
select results_eq(
  $$ select a.outcome from public.apply_payment_event(
       'stripe', 't015-evt-b1', 'checkout.completed', 'T015-B1', 'paid', 800, 'USD'
     ) as a $$,
  $$ values ('failed') $$,
  'a failed event is re-claimed and re-evaluated on redelivery'
);
select results_eq(
  $$ select e.attempts from private.webhook_events as e where e.event_key = 't015-evt-b1' $$,
  $$ values (2) $$,
  'the redelivery counts as an attempt'
);

-- An event another worker holds -----------------------------------------------------------------------------
select lives_ok(
  $$ select public.claim_webhook_event('stripe', 't015-evt-held', 'checkout.completed', '{}') $$,
  'another worker holds evt-held'
);
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       'stripe', 't015-evt-held', 'checkout.completed', 'T015-E1', 'paid', 900, 'USD'
     ) as a $$,
  $$ values ('in_progress', 'pending') $$,
  'a delivery of an event in progress: in_progress, nothing applied'
);
select results_eq(
  $$ select p.status from public.payments as p where p.order_id = 'T015-E1' $$,
  $$ values ('pending') $$,
  'the payment is untouched'
);

-- A failure part-way ----------------------------------------------------------------------------------------
select results_eq(
  $$ select a.outcome from public.apply_payment_event(
       'doku', 't015-evt-d2', 'payment.success', 'T015-D2', 'paid', 14900000, 'IDR'
     ) as a $$,
  $$ values ('applied') $$,
  'dave pays T015-D2, which funds his period'
);
-- In one transaction: a failure after the claim leaves no trace.
select tests.clear_authentication();
alter table public.subscriptions add constraint test_no_free check (plan_code <> 'FREE') not valid;
select tests.authenticate_as_service_role();
select throws_ok(
  $$ select * from public.apply_payment_event('doku', 't015-evt-atomic', 'x', 'T015-D2', 'refunded') $$,
  '23514', null, 'a refund whose plan change fails (a constraint the test adds) raises'
);
select tests.clear_authentication();
alter table public.subscriptions drop constraint test_no_free;
select results_eq(
  $$ select (select count(*) from private.webhook_events as e where e.event_key = 't015-evt-atomic'),
       (select p.status from public.payments as p where p.order_id = 'T015-D2') $$,
  $$ values (0::bigint, 'paid') $$,
  'claim, payment transition and subscription change commit together or not at all'
);


select * from finish();
rollback;
