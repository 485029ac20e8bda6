-- Payments with a purpose (20261204006000): the purposes catalog and who may read it, the plan-code check,
-- the guest-aware one-open-checkout index, the refund invariants (20261204006010), a paid order or top-up
-- that nothing fulfils yet (20261204006020), and the reports' new statuses (20261204006030). Runs as
-- `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(26);

-- The catalog ----------------------------------------------------------------------------------------------
select results_eq(
  $$ select code from public.payment_purposes order by code $$,
  $$ values ('order'), ('plan'), ('wallet_topup') $$,
  'three purposes: plan, order, wallet_topup'
);
select col_default_is(
  'public', 'payments', 'purpose', 'plan'::text, 'a payment is a plan payment by default'
);
select fk_ok(
  'public', 'payments', 'purpose', 'public', 'payment_purposes', 'code', 'purpose names a purpose'
);
select has_index('public', 'payments', 'payments_purpose_idx', array['purpose'], 'the purpose FK is indexed');
select tests.rls_enabled('public', 'payment_purposes');
select tests.authenticate_as_anon();
select throws_ok(
  $$ select count(*) from public.payment_purposes $$, '42501', null,
  'anon cannot read them (not part of the anon surface)'
);
select throws_ok(
  $$ insert into public.payment_purposes (code, name) values ('gift', 'Gift') $$, '42501', null,
  'anon cannot add one'
);
select tests.clear_authentication();
select tests.create_supabase_user('pp-ada');
select tests.authenticate_as('pp-ada');
select results_eq(
  $$ select count(*) from public.payment_purposes $$, $$ values (3::bigint) $$,
  'a signed-in user reads them'
);
select throws_ok(
  $$ update public.payment_purposes set name = 'x' $$, '42501', null, 'a signed-in user cannot change them'
);
select tests.clear_authentication();

-- The plan code is set exactly for plan payments ------------------------------------------------------------
select throws_ok(
  $$ insert into public.payments (purpose, plan_code, provider, amount_minor, currency, order_id, expires_at)
     values ('plan', null, 'stripe', 900, 'USD', 'PP-1', now() + interval '1 day') $$,
  '23514', null, 'a plan payment without a plan: refused'
);
select throws_ok(
  $$ insert into public.payments (
       purpose, plan_code, product_code, provider, amount_minor, currency, order_id,
       expires_at, buyer_email)
     values ('order', 'PRO', 'EBOOK', 'stripe', 900, 'USD', 'PP-2', now() + interval '1 day', 'g@example.com') $$,
  '23514', null, 'an order payment naming a plan: refused'
);
select throws_ok(
  $$ insert into public.payments (purpose, plan_code, provider, amount_minor, currency, order_id, expires_at)
     values ('gift', null, 'stripe', 900, 'USD', 'PP-3', now() + interval '1 day') $$,
  '23503', null, 'an unknown purpose: refused by the foreign key'
);

-- One open checkout per owner and item, guests included ---------------------------------------------------
insert into public.payments (
  purpose, product_code, buyer_email, provider, amount_minor, currency, order_id,
  expires_at
)
values ('order', 'EBOOK', 'Guest@Example.com', 'stripe', 900, 'USD', 'PP-G1', now() + interval '1 day');
select throws_ok(
  $$ insert into public.payments (
       purpose, product_code, buyer_email, provider, amount_minor, currency, order_id,
       expires_at)
     values ('order', 'EBOOK', 'guest@example.COM', 'stripe', 900, 'USD', 'PP-G2', now() + interval '1 day') $$,
  '23505', null, 'a second open checkout of the same guest (any letter case) for the same product: refused'
);
select lives_ok(
  $$ insert into public.payments (
       purpose, product_code, buyer_email, provider, amount_minor, currency, order_id,
       expires_at)
     values ('order', 'EBOOK', 'other@example.com', 'stripe', 900, 'USD', 'PP-G3', now() + interval '1 day'),
            ('order', 'TEMPLATE', 'guest@example.com', 'stripe', 900, 'USD', 'PP-G4', now() + interval '1 day'),
            ('order', 'EBOOK', 'guest@example.com', 'razorpay', 900, 'USD', 'PP-G5', now() + interval '1 day'),
            ('order', 'EBOOK', 'guest@example.com', 'stripe', 900, 'EUR', 'PP-G6', now() + interval '1 day') $$,
  'another guest, product, provider or currency: allowed'
);
select lives_ok(
  $$ insert into public.payments (
       user_id, purpose, product_code, buyer_email, provider, amount_minor, currency,
       order_id, expires_at)
     values (tests.get_supabase_uid('pp-ada'), 'order', 'EBOOK', 'guest@example.com', 'stripe', 900, 'USD', 'PP-G7',
       now() + interval '1 day') $$,
  'a signed-in buyer is keyed by the user, not the email'
);
update public.payments set status = 'expired'
where order_id = 'PP-G1';
select lives_ok(
  $$ insert into public.payments (
       purpose, product_code, buyer_email, provider, amount_minor, currency, order_id,
       expires_at)
     values ('order', 'EBOOK', 'guest@example.com', 'stripe', 900, 'USD', 'PP-G8', now() + interval '1 day') $$,
  'once the first is no longer pending, a new checkout opens'
);

-- Refund invariants ----------------------------------------------------------------------------------------
select throws_ok(
  $$ update public.payments set status = 'paid', paid_at = now(), refunded_minor = 901, refunded_at = now()
     where order_id = 'PP-G8' $$,
  '23514', null, 'more refunded than paid: refused'
);
select throws_ok(
  $$ update public.payments
     set status = 'refunded', paid_at = now(), refunded_minor = 300, refunded_at = now()
     where order_id = 'PP-G8' $$,
  '23514', null, 'refunded with a part refunded: refused'
);
select throws_ok(
  $$ update public.payments set status = 'partially_refunded', paid_at = now(), refunded_minor = 900,
       refunded_at = now() where order_id = 'PP-G8' $$,
  '23514', null, 'partially refunded with all of it refunded: refused'
);
select throws_ok(
  $$ update public.payments set status = 'paid', paid_at = now(), refunded_minor = 300
     where order_id = 'PP-G8' $$,
  '23514', null, 'a refund without refunded_at: refused'
);
select throws_ok(
  $$ update public.payments set refunded_minor = 300, refunded_at = now() where order_id = 'PP-G8' $$,
  '23514', null, 'a pending payment with something refunded: refused'
);
select throws_ok(
  $$ update public.payments set status = 'disputed' where order_id = 'PP-G8' $$,
  '23514', null, 'a disputed payment that was never paid: refused'
);

-- A paid order or top-up grants nothing until its fulfilment exists --------------------------------------
select tests.authenticate_as_service_role();
select results_eq(
  $$ select a.outcome, a.payment_status from public.apply_payment_event(
       'stripe', 'pp-evt-g8', 'checkout.session.completed', 'PP-G8', 'paid', 900, 'USD') as a $$,
  $$ values ('failed', 'pending') $$,
  'a paid order payment: recorded failed, the payment stays pending'
);
select is(
  (
    select e.last_error from private.webhook_events as e
    where e.event_key = 'pp-evt-g8'
  ),
  'fulfilment_unavailable: order payments have no fulfilment yet',
  'the ledger says why (replayable once fulfilment exists)'
);
select tests.clear_authentication();

-- Reports --------------------------------------------------------------------------------------------------
select tests.authenticate_as_service_role();
create temporary table metrics_before on commit drop as select * from public.admin_payment_metrics();
select tests.clear_authentication();
insert into public.payments (
  user_id, plan_code, provider, status, amount_minor, currency, order_id, expires_at,
  paid_at, refunded_minor, refunded_at
)
values
(
  tests.get_supabase_uid('pp-ada'),
  'PRO',
  'stripe',
  'partially_refunded',
  7000,
  'KWD',
  'PP-R1',
  now(),
  now(),
  2500,
  now()
),
(tests.get_supabase_uid('pp-ada'), 'PRO', 'stripe', 'disputed', 7000, 'KWD', 'PP-R2', now(), now(), 0, null),
(
  tests.get_supabase_uid('pp-ada'), 'PRO', 'stripe', 'charged_back', 7000, 'KWD', 'PP-R3', now(), now(), 1000,
  now()
);
grant select on metrics_before to service_role;
select tests.authenticate_as_service_role();
select results_eq(
  $$ select m.partially_refunded - b.partially_refunded, m.disputed - b.disputed,
       m.charged_back - b.charged_back,
       coalesce((m.revenue_minor_by_currency ->> 'KWD')::bigint, 0)
       - coalesce((b.revenue_minor_by_currency ->> 'KWD')::bigint, 0)
     from public.admin_payment_metrics() as m, metrics_before as b $$,
  $$ values (1::bigint, 1::bigint, 1::bigint, 4500::bigint) $$,
  'metrics count the new statuses; revenue is what was kept (7000 - 2500 of the partly refunded one)'
);
select results_eq(
  $$ select sum(r.amount_minor)::bigint from public.admin_revenue_by_day(1) as r
     where r.currency = 'KWD' and r.day = (now() at time zone 'UTC')::date $$,
  $$ values (4500::bigint) $$,
  'revenue by day counts the same'
);
select tests.clear_authentication();

select * from finish();
rollback;
