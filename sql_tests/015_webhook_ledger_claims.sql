-- private.webhook_events, claim_webhook_event() and complete_webhook_event(): the idempotent ledger of
-- provider deliveries (a claim per delivery under a unique provider + event key, with a lease), and who may
-- reach it. What apply_payment_event does with an event is in 030 (state machine), 031 (the plan it pays for)
-- and 032 (redeliveries). Runs as `postgres`; everything is rolled back.
begin;
set local client_min_messages = warning;
select plan(44);

-- A user, an admin and a checkout (inserted directly: create_payment is tested in 014).
do $$
begin
  update private.settings set default_plan = 'FREE', webhook_lease_seconds = 60;
  perform tests.create_supabase_user('wh-alice');
  perform tests.create_supabase_user('wh-admin');
  update public.user_roles set role = 'admin' where user_id = (select tests.get_supabase_uid('wh-admin'));
  insert into public.payments (user_id, plan_code, provider, amount_minor, currency, order_id, expires_at)
  values (tests.get_supabase_uid('wh-alice'), 'PRO', 'stripe', 900, 'USD', 'T015-A1', now() + interval '1 day');
end
$$;

-- Shape and access rules ------------------------------------------------------------------------------------
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

-- claim_webhook_event / complete_webhook_event --------------------------------------------------------------
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

select * from finish();
rollback;
