-- What binds a provider's event to a payment (20261204000100): the provider reference our checkout stored
-- (payments.provider_payment_id) or our order id, never a client-settable field. The attack it answers:
-- one Razorpay payment whose Checkout notes named another buyer's order paid both orders.
-- Runs as `postgres`; everything is rolled back.
begin;
set local client_min_messages = warning;
select plan(25);

do $$
declare
  who record;
begin
  perform tests.create_supabase_user('bind-alice');
  perform tests.create_supabase_user('bind-bob');
  perform tests.create_supabase_user('bind-carol');
  perform tests.create_supabase_user('bind-dave');
  for who in
    select * from (values
      ('bind-alice', 'T027-A1', 'razorpay', 74900, 'INR', 'order_T027A'),
      ('bind-bob', 'T027-B1', 'razorpay', 74900, 'INR', 'order_T027B'),
      ('bind-carol', 'T027-C1', 'razorpay', 74900, 'INR', null),
      ('bind-dave', 'T027-D1', 'stripe', 900, 'USD', 'cs_T027D')
    ) as v (identifier, order_id, provider, amount_minor, currency, reference)
  loop
    insert into public.payments (
      user_id, plan_code, provider, amount_minor, currency, order_id, provider_payment_id, expires_at
    ) values (
      tests.get_supabase_uid(who.identifier), 'PRO', who.provider, who.amount_minor, who.currency,
      who.order_id, who.reference, now() + interval '1 day'
    );
  end loop;
end
$$;

-- A provider reference binds one payment ---------------------------------------------------------------
select has_index(
  'public', 'payments', 'payments_provider_reference', array['provider', 'provider_payment_id'],
  'payments are found by their provider reference'
);
select throws_ok(
  $$ insert into public.payments (plan_code, provider, amount_minor, currency, order_id, provider_payment_id,
       expires_at)
     values ('PRO', 'razorpay', 74900, 'INR', 'T027-X1', 'order_T027A', now() + interval '1 day') $$,
  '23505', null, 'a second payment cannot take a provider reference already bound'
);
select throws_ok(
  $$ select * from public.apply_payment_event('razorpay', 't027-none', 'payment.captured', null, 'paid',
       74900, 'INR') $$,
  '22023', 'invalid_argument', 'an event bound by neither an order id nor a provider reference is refused'
);

-- The attack: Alice's Razorpay order paid, with Checkout notes naming Bob's order --------------------------
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       provider => 'razorpay', event_key => 't027-captured', event_type => 'payment.captured',
       order_id => null, status => 'paid', amount_minor => 74900, currency => 'INR',
       provider_reference => 'order_T027A', client_order_id => 'T027-B1') as a $$,
  $$ values ('failed'::text, 'pending'::text) $$,
  'payment.captured whose notes name another order is recorded as failed and pays nothing'
);
select results_eq(
  $$ select e.order_id, e.status, e.last_error like 'order_mismatch: a client-set field names order T027-B1%'
     from private.webhook_events as e where e.provider = 'razorpay' and e.event_key = 't027-captured' $$,
  $$ values ('T027-A1'::text, 'failed'::text, true) $$,
  'the ledger names the order the reference binds, and why the event failed'
);
select results_eq(
  $$ select a.outcome from public.apply_payment_event(
       provider => 'razorpay', event_key => 't027-order-paid', event_type => 'order.paid',
       order_id => 'T027-A1', status => 'paid', amount_minor => 74900, currency => 'INR',
       provider_reference => 'order_T027A', client_order_id => 'T027-B1') as a $$,
  $$ values ('failed'::text) $$,
  'order.paid of the same payment, notes naming Bob, fails too: nothing pays two orders'
);
select results_eq(
  $$ select a.outcome from public.apply_payment_event(
       provider => 'razorpay', event_key => 't027-refund', event_type => 'refund.processed',
       order_id => null, status => 'refunded', amount_minor => 74900, currency => 'INR',
       provider_reference => 'order_T027A', client_order_id => 'T027-B1') as a $$,
  $$ values ('failed'::text) $$,
  'its refund never reaches Bob''s payment either'
);
select results_eq(
  $$ select p.order_id, p.status from public.payments as p where p.order_id in ('T027-A1', 'T027-B1')
     order by p.order_id $$,
  $$ values ('T027-A1'::text, 'pending'::text), ('T027-B1'::text, 'pending'::text) $$,
  'both payments are still pending'
);
select results_eq(
  $$ select s.plan_code from public.subscriptions as s
     where s.user_id in (tests.get_supabase_uid('bind-alice'), tests.get_supabase_uid('bind-bob')) $$,
  $$ values ('FREE'::text), ('FREE'::text) $$,
  'nobody got PRO from it'
);
select results_eq(
  $$ select a.outcome from public.apply_payment_event(
       provider => 'razorpay', event_key => 't027-names-bob', event_type => 'order.paid',
       order_id => 'T027-B1', status => 'paid', amount_minor => 74900, currency => 'INR',
       provider_reference => 'order_T027A') as a $$,
  $$ values ('failed'::text) $$,
  'an order id that names another payment than the reference binds fails the event'
);
select matches(
  (
    select e.last_error from private.webhook_events as e
    where e.event_key = 't027-names-bob'
  ),
  '^order_mismatch: razorpay reference order_T027A is bound to order T027-A1, the event names T027-B1$',
  'the mismatch names the reference, the bound order and the claimed one'
);

-- The honest path: bound by the reference, notes agreeing or absent -----------------------------------------
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       provider => 'razorpay', event_key => 't027-honest', event_type => 'payment.captured',
       order_id => null, status => 'paid', amount_minor => 74900, currency => 'INR',
       provider_reference => 'order_T027A', client_order_id => 'T027-A1') as a $$,
  $$ values ('applied'::text, 'paid'::text) $$,
  'payment.captured bound by the Razorpay order pays that order'
);
select is(
  (
    select e.order_id from private.webhook_events as e
    where e.event_key = 't027-honest'
  ),
  'T027-A1', 'an event bound by reference alone is recorded under the order it binds'
);
select is(
  (
    select s.plan_code from public.subscriptions as s
    where s.user_id = tests.get_supabase_uid('bind-alice')
  ),
  'PRO', 'and Alice has PRO'
);
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       provider => 'razorpay', event_key => 't027-honest-order-paid', event_type => 'order.paid',
       order_id => 'T027-A1', status => 'paid', amount_minor => 74900, currency => 'INR',
       provider_reference => 'order_T027A') as a $$,
  $$ values ('ignored'::text, 'paid'::text) $$,
  'the matching order.paid is the same payment: ignored'
);
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       provider => 'razorpay', event_key => 't027-honest-refund', event_type => 'refund.processed',
       order_id => null, status => 'refunded', amount_minor => 74900, currency => 'INR',
       provider_reference => 'order_T027A') as a $$,
  $$ values ('applied'::text, 'refunded'::text) $$,
  'its refund, bound by the same reference, refunds that payment'
);
select is(
  (
    select s.plan_code from public.subscriptions as s
    where s.user_id = tests.get_supabase_uid('bind-alice')
  ),
  'FREE', 'and takes PRO away from the one who paid'
);

-- A reference the payment is not bound to; a reference nobody has ------------------------------------------
select results_eq(
  $$ select a.outcome from public.apply_payment_event(
       provider => 'stripe', event_key => 't027-other-session', event_type => 'checkout.session.completed',
       order_id => 'T027-D1', status => 'paid', amount_minor => 900, currency => 'USD',
       provider_reference => 'cs_someone_else') as a $$,
  $$ values ('failed'::text) $$,
  'an order id whose payment is bound to another session fails the event'
);
select matches(
  (
    select e.last_error from private.webhook_events as e
    where e.event_key = 't027-other-session'
  ),
  '^reference_mismatch: order T027-D1 is bound to stripe reference cs_T027D, the event names cs_someone_',
  'reference_mismatch names both references'
);
select results_eq(
  $$ select a.outcome from public.apply_payment_event(
       provider => 'razorpay', event_key => 't027-unknown-ref', event_type => 'payment.captured',
       order_id => null, status => 'paid', amount_minor => 74900, currency => 'INR',
       provider_reference => 'order_nobody', client_order_id => 'T027-B1') as a $$,
  $$ values ('ignored'::text) $$,
  'a reference that binds no payment is ignored, whatever the notes name'
);
select is(
  (
    select p.status from public.payments as p
    where p.order_id = 'T027-B1'
  ), 'pending',
  'Bob''s payment is still pending'
);

-- A checkout whose answer was lost before attach_checkout: still bound by the order id our server set -------
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       provider => 'razorpay', event_key => 't027-lost-attach', event_type => 'order.paid',
       order_id => 'T027-C1', status => 'paid', amount_minor => 74900, currency => 'INR',
       provider_reference => 'order_T027C') as a $$,
  $$ values ('applied'::text, 'paid'::text) $$,
  'a payment without a stored reference is bound by the receipt our server set'
);

-- Replays carry the binding ------------------------------------------------------------------------------
select is(
  (
    select e.normalized from private.webhook_events as e
    where e.event_key = 't027-captured'
  ),
  jsonb_build_object(
    'order_id', null, 'status', 'paid', 'amount_minor', 74900, 'currency', 'INR', 'occurred_at', null,
    'provider_reference', 'order_T027A', 'client_order_id', 'T027-B1'
  ),
  'the stored input includes the reference and the client''s claim'
);
select tests.authenticate_as_service_role();
select results_eq(
  $$ select r.outcome from public.operator_replay_webhook_event(
       (select e.id from private.webhook_events as e where e.event_key = 't027-names-bob')) as r $$,
  $$ values ('failed'::text) $$,
  'a replay binds the event exactly as its delivery did'
);
select tests.clear_authentication();
select is(
  (
    select p.status from public.payments as p
    where p.order_id = 'T027-B1'
  ), 'pending',
  'and Bob''s payment is still pending after the replay'
);

select * from finish();
rollback;
