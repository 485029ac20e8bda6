-- private.webhook_events, claim_webhook_event(), complete_webhook_event() and apply_payment_event(): the
-- idempotent ledger of provider deliveries and the payment/subscription state machine behind it.
-- Runs as `postgres`; everything is rolled back.
begin;
set local client_min_messages = warning;
select plan(103);

-- Users and their checkouts (inserted directly: create_payment is tested in 014).
do $$
declare
  who record;
begin
  update private.settings set default_plan = 'FREE', webhook_lease_seconds = 60;
  perform tests.create_supabase_user('wh-alice');
  perform tests.create_supabase_user('wh-bob');
  perform tests.create_supabase_user('wh-carol');
  perform tests.create_supabase_user('wh-dave');
  perform tests.create_supabase_user('wh-erin');
  perform tests.create_supabase_user('wh-admin');
  update public.user_roles set role = 'admin' where user_id = (select tests.get_supabase_uid('wh-admin'));
  for who in
    select * from (values
      ('wh-alice', 'T015-A1', 'PRO', 'stripe', 900, 'USD'),
      ('wh-bob', 'T015-B1', 'PRO', 'stripe', 900, 'USD'),
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

-- Shape and access rules ------------------------------------------------------------------------------
select has_table('private', 'webhook_events', 'private.webhook_events exists');
select tests.rls_enabled('private', 'webhook_events');
select col_is_unique(
  'private', 'webhook_events', array['provider', 'event_key'], 'one ledger row per (provider, event_key)'
);
select has_index(
  'private', 'webhook_events', 'webhook_events_order_id_idx', array['order_id'],
  'events are found by order id'
);
select throws_ok(
  $$ insert into private.webhook_events (provider, event_key, event_type, status)
     values ('stripe', 't015-k-no-lease', 'x', 'processing') $$,
  '23514', null, 'a claim in progress always has a lease'
);

-- Who reaches it: a user, an admin and anon are refused -----------------------------------------------------
select tests.authenticate_as('wh-alice');
select throws_ok(
  $$ select * from public.claim_webhook_event('stripe', 't015-k-user', 'x', '{}') $$, '42501', null,
  'a user cannot claim an event'
);
select throws_ok(
  $$ select * from public.apply_payment_event('stripe', 't015-k-user', 'x', 'T015-A1', 'paid', 900, 'USD') $$,
  '42501', null, 'a user cannot report their own payment as paid'
);
select throws_ok(
  $$ select 1 from private.webhook_events $$, '42501', null, 'a user cannot read the ledger'
);
select tests.authenticate_as('wh-admin');
select throws_ok(
  $$ select 1 from private.webhook_events $$, '42501', null,
  'an admin cannot read the ledger directly (admin_list_webhook_events does)'
);
select throws_ok(
  $$ select * from public.claim_webhook_event('stripe', 't015-k-admin', 'x', '{}') $$, '42501', null,
  'an admin cannot claim an event'
);
select tests.authenticate_as_anon();
select throws_ok(
  $$ select * from public.apply_payment_event('stripe', 't015-k-anon', 'x', 'T015-A1', 'paid', 900, 'USD') $$,
  '42501', null, 'anon cannot apply an event'
);
select throws_ok($$ select 1 from private.webhook_events $$, '42501', null, 'anon cannot read the ledger');

-- claim_webhook_event / complete_webhook_event ---------------------------------------------------------
select tests.authenticate_as_service_role();
select results_eq(
  $$ select c.outcome
     from public.claim_webhook_event('stripe', 't015-k-1', 'charge.succeeded', '{"n": 1}') as c $$,
  $$ values ('claimed') $$,
  'a new key is claimed'
);
select results_eq(
  $$ select e.status, e.attempts, e.lease_expires_at, e.payload, e.event_type, e.received_at
     from private.webhook_events as e where e.provider = 'stripe' and e.event_key = 't015-k-1' $$,
  $$ values ('processing', 1, now() + interval '60 seconds', '{"n": 1}'::jsonb, 'charge.succeeded', now()) $$,
  'the claim is recorded as processing, attempt 1, with a lease of settings.webhook_lease_seconds'
);
select results_eq(
  $$ select c.event_id, c.outcome
     from public.claim_webhook_event('stripe', 't015-k-1', 'charge.succeeded', '{}') as c $$,
  $$ select e.id, 'in_progress' from private.webhook_events as e where e.event_key = 't015-k-1' $$,
  'the same key while the lease runs: in_progress, same event id'
);
select results_eq(
  $$ select c.status, c.lease_expires_at, c.processed_at, c.last_error
     from public.complete_webhook_event(
       (select e.id from private.webhook_events as e where e.event_key = 't015-k-1'), 'processed'
     ) as c $$,
  $$ values ('processed', null::timestamptz, now(), null::text) $$,
  'complete_webhook_event closes the claim'
);
select results_eq(
  $$ select c.outcome from public.claim_webhook_event('stripe', 't015-k-1', 'charge.succeeded', '{}') as c $$,
  $$ values ('duplicate') $$,
  'a processed event delivered again: duplicate'
);
select results_eq(
  $$ select e.attempts, e.payload from private.webhook_events as e where e.event_key = 't015-k-1' $$,
  $$ values (1, '{"n": 1}'::jsonb) $$,
  'duplicates and in-progress deliveries change nothing'
);
select results_eq(
  $$ select c.outcome
     from public.claim_webhook_event('midtrans', 't015-k-1', 'charge.succeeded', '{}') as c $$,
  $$ values ('claimed') $$,
  'the same key from another provider is another event'
);
select lives_ok(
  $$ select public.complete_webhook_event(
       (
         select e.id from private.webhook_events as e
         where e.provider = 'midtrans' and e.event_key = 't015-k-1'
       ),
       'ignored'
     ) $$,
  'an event can be closed as ignored'
);
select results_eq(
  $$ select c.outcome
     from public.claim_webhook_event('midtrans', 't015-k-1', 'charge.succeeded', '{}') as c $$,
  $$ values ('duplicate') $$,
  'an ignored event delivered again: duplicate'
);
select throws_ok(
  $$ select * from public.claim_webhook_event('stripe', 't015-k-1', 'charge.refunded', '{}') $$,
  'PT409', 'event_type_mismatch', 'the same key with another event type is an error'
);

-- A failed event may be claimed again.
select lives_ok(
  $$ select public.claim_webhook_event('stripe', 't015-k-2', 'charge.succeeded', '{"try": 1}') $$, 'claim k-2'
);
select results_eq(
  $$ select c.status, c.last_error from public.complete_webhook_event(
       (select e.id from private.webhook_events as e where e.event_key = 't015-k-2'), 'failed', 'boom'
     ) as c $$,
  $$ values ('failed', 'boom') $$,
  'complete_webhook_event records a failure and its error'
);
select results_eq(
  $$ select c.outcome
     from public.claim_webhook_event('stripe', 't015-k-2', 'charge.succeeded', '{"try": 2}') as c $$,
  $$ values ('claimed') $$,
  'a failed event is claimed again'
);
select results_eq(
  $$ select e.status, e.attempts, e.last_error, e.payload from private.webhook_events as e
     where e.event_key = 't015-k-2' $$,
  $$ values ('processing', 2, null::text, '{"try": 2}'::jsonb) $$,
  'the re-claim counts the attempt, clears the error and keeps the newest payload'
);
select throws_ok(
  $$ select * from public.claim_webhook_event('stripe', 't015-k-2', 'charge.refunded', '{}') $$,
  'PT409', 'event_type_mismatch', 'a different event type is refused while processing too'
);

-- An expired lease may be claimed again (the first claimer crashed).
select lives_ok(
  $$ select public.claim_webhook_event('stripe', 't015-k-3', 'charge.succeeded', '{}') $$, 'claim k-3'
);
select tests.clear_authentication();
update private.webhook_events set lease_expires_at = now() - interval '1 second'
where event_key = 't015-k-3';
select tests.authenticate_as_service_role();
select results_eq(
  $$ select c.outcome from public.claim_webhook_event('stripe', 't015-k-3', 'charge.succeeded', '{}') as c $$,
  $$ values ('claimed') $$,
  'an expired lease is claimed again'
);
select results_eq(
  $$ select e.attempts, e.lease_expires_at from private.webhook_events as e where e.event_key = 't015-k-3' $$,
  $$ values (2, now() + interval '60 seconds') $$,
  'with a fresh lease and the attempt counted'
);
select results_eq(
  $$ select c.outcome from public.claim_webhook_event('stripe', 't015-k-3', 'charge.succeeded', '{}') as c $$,
  $$ values ('in_progress') $$,
  'and is in progress again for everyone else'
);

-- The lease length comes from settings.
update private.settings set webhook_lease_seconds = 300;
select lives_ok(
  $$ select public.claim_webhook_event('stripe', 't015-k-4', 'charge.succeeded', null) $$,
  'a claim without a payload'
);
select results_eq(
  $$ select e.lease_expires_at, e.payload from private.webhook_events as e where e.event_key = 't015-k-4' $$,
  $$ values (now() + interval '300 seconds', '{}'::jsonb) $$,
  'the lease follows settings.webhook_lease_seconds; a null payload is stored as {}'
);
select results_eq(
  $$ select char_length(c.last_error) from public.complete_webhook_event(
       (select e.id from private.webhook_events as e where e.event_key = 't015-k-4'),
       'failed', repeat('e', 5000)
     ) as c $$,
  $$ values (2000) $$,
  'a long error is cut to 2000 characters'
);

-- Invalid calls.
select throws_ok(
  $$ select * from public.claim_webhook_event(null, 't015-k-x', 'x', '{}') $$, '22023', 'invalid_argument',
  'claim without provider: 22023'
);
select throws_ok(
  $$ select * from public.claim_webhook_event('stripe', null, 'x', '{}') $$, '22023', 'invalid_argument',
  'claim without event key: 22023'
);
select throws_ok(
  $$ select * from public.claim_webhook_event('stripe', '  ', 'x', '{}') $$, '22023', 'invalid_argument',
  'claim with a blank event key: 22023'
);
select throws_ok(
  $$ select * from public.claim_webhook_event('stripe', 't015-k-x', null, '{}') $$,
  '22023', 'invalid_argument', 'claim without event type: 22023'
);
select throws_ok(
  $$ select * from public.claim_webhook_event('paypal', 't015-k-x', 'x', '{}') $$,
  '22023', 'invalid_argument',
  'an unknown provider is refused by the ledger'
);
select throws_ok(
  $$ select public.complete_webhook_event(
       (select e.id from private.webhook_events as e where e.event_key = 't015-k-3'), 'processing'
     ) $$,
  '22023', 'invalid_argument', 'complete with a status other than processed/ignored/failed: 22023'
);
select throws_ok(
  $$ select public.complete_webhook_event(
       (select e.id from private.webhook_events as e where e.event_key = 't015-k-3'), null
     ) $$,
  '22023', 'invalid_argument', 'complete without a status: 22023'
);
select throws_ok(
  $$ select public.complete_webhook_event(gen_random_uuid(), 'processed') $$,
  'PT404', 'webhook_event_not_found',
  'complete an unknown event: 404'
);
select throws_ok(
  $$ select public.complete_webhook_event(
       (select e.id from private.webhook_events as e where e.event_key = 't015-k-4'), 'processed'
     ) $$,
  'PT409', 'not_in_progress',
  'a closed event (failed) is not completed again: 409, its outcome stays'
);
select results_eq(
  $$ select e.status from private.webhook_events as e where e.event_key = 't015-k-4' $$,
  $$ values ('failed') $$,
  'and it is still failed'
);

-- apply_payment_event: paid ----------------------------------------------------------------------------
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

-- The same event again, another paid event for the order, and late events: nothing moves.
select results_eq(
  $$ select a.event_id, a.outcome, a.payment_status
     from public.apply_payment_event(
       'stripe', 't015-evt-a1', 'checkout.completed', 'T015-A1', 'paid', 900, 'USD'
     ) as a $$,
  $$ select e.id, 'duplicate', 'paid' from private.webhook_events as e where e.event_key = 't015-evt-a1' $$,
  'the same event key again: duplicate (the original event id)'
);
select results_eq(
  $$ select a.outcome, a.payment_status
     from public.apply_payment_event(
       'stripe', 't015-evt-a1-bis', 'payment.succeeded', 'T015-A1', 'paid', 900, 'USD'
     ) as a $$,
  $$ values ('ignored', 'paid') $$,
  'a second paid event (another key) for the same order: ignored'
);
select results_eq(
  $$ select a.outcome, a.payment_status
     from public.apply_payment_event(
       'stripe', 't015-evt-a1-late', 'payment.pending', 'T015-A1', 'pending'
     ) as a $$,
  $$ values ('ignored', 'paid') $$,
  'a late pending after paid: ignored'
);
select results_eq(
  $$ select a.outcome, a.payment_status
     from public.apply_payment_event(
       'stripe', 't015-evt-a1-fail', 'payment.failed', 'T015-A1', 'failed'
     ) as a $$,
  $$ values ('ignored', 'paid') $$,
  'a late failed after paid: ignored'
);
select results_eq(
  $$ select e.event_key, e.status, e.order_id, e.last_error from private.webhook_events as e
     where e.event_key in ('t015-evt-a1-bis', 't015-evt-a1-late') order by e.event_key $$,
  $$ values
       ('t015-evt-a1-bis', 'ignored', 'T015-A1', 'stale_or_repeated: payment is paid, event says paid'),
       ('t015-evt-a1-late', 'ignored', 'T015-A1',
       'stale_or_repeated: payment is paid, event says pending') $$,
  'ignored events are recorded with the reason'
);
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
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       'stripe', 't015-evt-b1-refund', 'charge.refunded', 'T015-B1', 'refunded'
     ) as a $$,
  $$ values ('ignored', 'pending') $$,
  'refunded before paid: ignored'
);

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
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       'stripe', 't015-evt-b5', 'checkout.completed', 'T015-B1', 'paid', 900, 'usd'
     ) as a $$,
  $$ values ('applied', 'paid') $$,
  'the right amount, currency in any case: applied'
);

-- failed / expired before paid, and a plan change.
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       'midtrans', 't015-evt-c1-deny', 'deny', 'T015-C1', 'failed'
     ) as a $$,
  $$ values ('applied', 'failed') $$,
  'failed while pending: applied'
);
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       'midtrans', 't015-evt-c1-pending', 'pending', 'T015-C1', 'pending'
     ) as a $$,
  $$ values ('ignored', 'failed') $$,
  'pending after failed: ignored'
);
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       'midtrans', 't015-evt-c1-settle', 'settlement', 'T015-C1', 'paid', 14900000, 'IDR'
     ) as a $$,
  $$ values ('applied', 'paid') $$,
  'paid after failed: applied (money that arrived is never dropped)'
);
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       'stripe', 't015-evt-c2-expire', 'checkout.expired', 'T015-C2', 'expired'
     ) as a $$,
  $$ values ('applied', 'expired') $$,
  'expired while pending: applied'
);
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

-- Unknown orders, a held claim, a payment whose user is gone, bad input.
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
select throws_ok(
  $$ select * from public.apply_payment_event(
       'stripe', 't015-evt-a1', 'charge.refunded', 'T015-A1', 'refunded'
     ) $$,
  'PT409', 'event_type_mismatch', 'a known key with another event type: 409'
);
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
