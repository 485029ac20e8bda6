-- public.payments, create_payment() and attach_checkout(): the price comes from plan_prices, one open
-- checkout per user/plan/provider/currency, rate-limited per user. Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(60);

do $$
begin
  update private.settings
  set default_plan = 'FREE', default_currency = 'USD', payment_expiry = interval '24 hours',
    create_payment_limit = 10, create_payment_window_seconds = 600;
  perform tests.create_supabase_user('pay-alice');
  perform tests.create_supabase_user('pay-bob');
  perform tests.create_supabase_user('pay-carol');
  perform tests.create_supabase_user('pay-admin');
  update public.user_roles set role = 'admin' where user_id = (select tests.get_supabase_uid('pay-admin'));
end
$$;

-- Shape and access rules ------------------------------------------------------------------------------
select tests.rls_enabled('public', 'payments');
select policies_are('public', 'payments', array['payments_select_own'], 'payments has one policy: own rows');
select has_index(
  'public', 'payments', 'payments_user_id_idx', array['user_id', 'created_at'], 'the user FK is indexed'
);
select has_index(
  'public', 'payments', 'payments_one_open_checkout',
  array[
    'COALESCE((user_id)::text, lower((buyer_email)::text))', 'purpose', 'COALESCE(plan_code, product_code)',
    'provider', 'currency'
  ],
  'one open checkout per owner (user, else guest email), purpose, item, provider, currency (051: guests)'
);
select index_is_unique('public', 'payments', 'payments_one_open_checkout', 'that index is unique');
select col_is_unique('public', 'payments', array['order_id'], 'order ids are unique');

select isnt_definer('public', 'create_payment', array['text', 'text', 'text'], 'create_payment is invoker');

-- Constraints ------------------------------------------------------------------------------------------
select throws_ok(
  $$ insert into public.payments (user_id, plan_code, provider, amount_minor, currency, order_id, expires_at)
     values (tests.get_supabase_uid('pay-alice'), 'PRO', 'paypal', 900, 'USD', 'X-1', now()) $$,
  '23503', null, 'the provider is one of public.payment_providers (a foreign key)'
);
select throws_ok(
  $$ insert into public.payments (user_id, plan_code, provider, amount_minor, currency, order_id, expires_at)
     values (tests.get_supabase_uid('pay-alice'), 'PRO', 'stripe', 0, 'USD', 'X-2', now()) $$,
  '23514', null, 'an amount is positive'
);
select throws_ok(
  $$ insert into public.payments (user_id, plan_code, provider, amount_minor, currency, order_id, expires_at)
     values (tests.get_supabase_uid('pay-alice'), 'PRO', 'stripe', 900, 'USD', 'bad order id!', now()) $$,
  '23514', null, 'an order id is what every provider accepts'
);
select throws_ok(
  $$ insert into public.payments (user_id, plan_code, provider, status, amount_minor, currency, order_id,
       expires_at)
     values (tests.get_supabase_uid('pay-alice'), 'PRO', 'stripe', 'paid', 900, 'USD', 'X-3', now()) $$,
  '23514', null, 'a paid payment knows when it was paid'
);

-- anon -------------------------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select throws_ok(
  $$ select public.create_payment('PRO', 'stripe', 'USD') $$, '42501', null, 'anon cannot start a checkout'
);
select throws_ok($$ select 1 from public.payments $$, '42501', null, 'anon cannot read payments');

-- create_payment: the happy path -------------------------------------------------------------------------
select tests.authenticate_as('pay-alice');
create temporary table first_payment on commit drop as
select * from public.create_payment('PRO', 'stripe', 'USD');
grant select on first_payment to service_role;
select results_eq(
  $$ select f.user_id, f.plan_code, f.provider, f.status, f.amount_minor, f.currency, f.expires_at,
       f.paid_at, f.checkout_url, f.metadata
     from first_payment as f $$,
  $$ values (tests.get_supabase_uid('pay-alice'), 'PRO', 'stripe', 'pending', 900::bigint, 'USD',
       now() + interval '24 hours', null::timestamptz, null::text, '{}'::jsonb) $$,
  'create_payment makes a pending payment at the plan_prices price, expiring after settings.payment_expiry'
);
select matches(
  (select f.order_id from first_payment as f), '^TB-[0-9]{8}-[0-9A-F]{12}$',
  'the order id is TB-<date>-<12 hex>'
);
select results_eq(
  $$ select p.id from public.payments as p $$, $$ select f.id from first_payment as f $$,
  'the user sees the payment'
);
select results_eq(
  $$ select p.id, p.status from public.create_payment('PRO', 'stripe', 'USD') as p $$,
  $$ select f.id, 'pending' from first_payment as f $$,
  'calling again returns the same pending payment'
);
select results_eq(
  $$ select p.id from public.create_payment(' pro ', 'STRIPE', 'usd') as p $$,
  $$ select f.id from first_payment as f $$,
  'plan, provider and currency are normalized before matching'
);
select results_eq(
  $$ select p.id from public.create_payment('PRO', 'stripe') as p $$,
  $$ select f.id from first_payment as f $$,
  'the currency defaults to settings.default_currency (USD)'
);
select results_eq(
  $$ select p.provider, p.currency, p.amount_minor
     from public.create_payment('PRO', 'midtrans', 'IDR') as p $$,
  $$ values ('midtrans', 'IDR', 14900000::bigint) $$,
  'another provider and currency is another payment, priced in that currency'
);
select results_eq(
  $$ select p.amount_minor from public.create_payment('PRO_YEARLY', 'stripe', 'JPY') as p $$,
  $$ values (14000::bigint) $$,
  'zero-decimal JPY is priced in whole yen'
);
select results_eq(
  $$ select count(*) from public.payments $$, $$ values (3::bigint) $$,
  'three distinct checkouts, three payments'
);
select throws_ok(
  $$ update public.payments set amount_minor = 1 $$, '42501', null, 'a user cannot change a payment'
);
select throws_ok(
  $$ insert into public.payments (user_id, plan_code, provider, amount_minor, currency, order_id, expires_at)
     values (auth.uid(), 'PRO', 'stripe', 1, 'USD', 'CHEAP-1', now() + interval '1 day') $$,
  '42501', null, 'a user cannot insert a payment with their own price'
);
select throws_ok(
  $$ delete from public.payments $$, '42501', null, 'a user cannot delete a payment'
);

-- Errors -----------------------------------------------------------------------------------------------
select throws_ok(
  $$ select public.create_payment('GOLD', 'stripe', 'USD') $$, 'PT400', 'unknown_plan', 'an unknown plan: 400'
);
select throws_ok(
  $$ select public.create_payment(null, 'stripe', 'USD') $$, 'PT400', 'unknown_plan', 'no plan: 400'
);
select throws_ok(
  $$ select public.create_payment('PRO', 'paypal', 'USD') $$, 'PT400', 'unknown_provider',
  'an unknown provider: 400'
);
select throws_ok(
  $$ select public.create_payment('PRO', null, 'USD') $$, 'PT400', 'unknown_provider', 'no provider: 400'
);
select throws_ok(
  $$ select public.create_payment('PRO', 'stripe', 'GBP') $$, 'PT400', 'currency_not_available',
  'a currency the plan has no price in: 400'
);
select throws_ok(
  $$ select public.create_payment('PRO', 'stripe', 'XYZ') $$, 'PT400', 'currency_not_available',
  'an unknown currency: 400'
);
select throws_ok(
  $$ select public.create_payment('FREE', 'stripe', 'USD') $$, 'PT400', 'currency_not_available',
  'the FREE plan has no price, so it cannot be bought: 400'
);
select tests.clear_authentication();
update public.plans set active = false
where code = 'PRO_YEARLY';
select tests.authenticate_as('pay-alice');
select throws_ok(
  $$ select public.create_payment('PRO_YEARLY', 'stripe', 'USD') $$, 'PT400', 'plan_inactive',
  'an inactive plan: 400'
);
select tests.clear_authentication();
update public.plans set active = true
where code = 'PRO_YEARLY';
do $$ begin perform set_config('role', 'authenticated', true); end $$;
select throws_ok(
  $$ select public.create_payment('PRO', 'stripe', 'USD') $$, 'PT401', 'not_authenticated',
  'without a user id: 401'
);

-- Another user -----------------------------------------------------------------------------------------
select tests.authenticate_as('pay-bob');
select is_empty($$ select 1 from public.payments $$, 'bob sees none of alice''s payments');
create temporary table bob_payment on commit drop as
select * from public.create_payment('PRO', 'stripe', 'USD');
grant select on bob_payment to service_role;
select results_eq(
  $$ select b.user_id, b.id <> (select f.id from first_payment as f) from bob_payment as b $$,
  $$ values (tests.get_supabase_uid('pay-bob'), true) $$,
  'the same plan/provider/currency for bob is bob''s own payment'
);
select results_eq(
  $$ select p.id from public.payments as p $$, $$ select b.id from bob_payment as b $$,
  'bob sees only his payment'
);

-- An admin sees only their own payments through the table (admin_list_payments is the admin's view).
select tests.authenticate_as('pay-admin');
select is_empty($$ select 1 from public.payments $$, 'an admin sees no one else''s payments in the table');
select throws_ok(
  $$ update public.payments set status = 'paid' $$, '42501', null, 'an admin cannot change a payment directly'
);

-- Expiry: an expired pending payment is closed and a new one made --------------------------------------
select tests.clear_authentication();
update public.payments set expires_at = now() - interval '1 second'
where id = (select f.id from first_payment as f);
select tests.authenticate_as('pay-alice');
select results_eq(
  $$ select p.id <> (select f.id from first_payment as f), p.status, p.expires_at
     from public.create_payment('PRO', 'stripe', 'USD') as p $$,
  $$ values (true, 'pending', now() + interval '24 hours') $$,
  'once the open payment has expired, a new one is made'
);
select results_eq(
  $$ select p.status from public.payments as p where p.id = (select f.id from first_payment as f) $$,
  $$ values ('expired') $$,
  'the old one is marked expired'
);
select results_eq(
  $$ select count(*) from public.payments
     where status = 'pending' and plan_code = 'PRO' and provider = 'stripe' $$,
  $$ values (1::bigint) $$,
  'still exactly one open checkout for that plan/provider/currency'
);

-- Rate limit: settings.create_payment_limit new payments per window ----------------------------------------
select tests.clear_authentication();
update private.settings set create_payment_limit = 3, create_payment_window_seconds = 600;
select tests.authenticate_as('pay-carol');
select lives_ok(
  $$ select public.create_payment('PRO', 'stripe', 'USD') $$, 'the first new checkout fits in the limit'
);
select lives_ok(
  $$ select public.create_payment('PRO', 'doku', 'IDR') $$, 'the second new checkout fits in the limit'
);
select lives_ok(
  $$ select public.create_payment('PRO', 'razorpay', 'INR') $$, 'the third new checkout fits in the limit'
);
select lives_ok(
  $$ select public.create_payment('PRO', 'stripe', 'USD') $$,
  'returning an open checkout again spends no budget'
);
select throws_ok(
  $$ select public.create_payment('PRO', 'lemonsqueezy', 'USD') $$, 'PT429', 'rate_limited',
  'the fourth new checkout in the window: 429 rate_limited'
);
select results_eq(
  $$ select count(*) from public.payments $$, $$ values (3::bigint) $$,
  'the refused call created nothing'
);
select tests.clear_authentication();
select results_eq(
  $$ select b.hits, b.reset_at - b.window_start from private.rate_limit_buckets as b
     where b.namespace = 'create_payment'
       and b.subject_hash = sha256(convert_to(tests.get_supabase_uid('pay-carol')::text, 'UTF8')) $$,
  $$ values (3, interval '600 seconds') $$,
  'the limit is kept per user in the create_payment bucket, hashed'
);
select tests.authenticate_as('pay-bob');
select lives_ok(
  $$ select public.create_payment('PRO', 'doku', 'IDR') $$, 'another user has their own budget'
);
select tests.clear_authentication();
delete from private.rate_limit_buckets
where namespace = 'create_payment';
select tests.authenticate_as('pay-carol');
select lives_ok(
  $$ select public.create_payment('PRO', 'lemonsqueezy', 'USD') $$, 'a fresh window admits again'
);

-- attach_checkout -----------------------------------------------------------------------------------------
select tests.authenticate_as('pay-bob');
select throws_ok(
  $$ select public.attach_checkout((select b.id from bob_payment as b), 'tok') $$, '42501', null,
  'a user cannot attach a checkout'
);
select tests.authenticate_as_service_role();
select results_eq(
  $$ select p.checkout_token, p.checkout_url, p.provider_payment_id, p.expires_at, p.status
     from public.attach_checkout(
       (select b.id from bob_payment as b), 'tok_1', 'https://pay.example/c/1', 'pi_1',
       now() + interval '1 hour'
     ) as p $$,
  $$ values ('tok_1', 'https://pay.example/c/1', 'pi_1', now() + interval '1 hour', 'pending') $$,
  'attach_checkout stores token, url, provider id and an earlier provider expiry'
);
select results_eq(
  $$ select p.checkout_token, p.checkout_url, p.provider_payment_id, p.expires_at
     from public.attach_checkout(
       (select b.id from bob_payment as b), null, null, null, now() + interval '9 days'
     ) as p $$,
  $$ values ('tok_1', 'https://pay.example/c/1', 'pi_1', now() + interval '1 hour') $$,
  'nulls keep what is stored, and a later expiry never extends a checkout'
);
select results_eq(
  $$ select p.checkout_token
     from public.attach_checkout((select b.id from bob_payment as b), 'tok_2') as p $$,
  $$ values ('tok_2') $$,
  'attaching again is harmless (the newest token wins)'
);
select throws_ok(
  $$ select public.attach_checkout(gen_random_uuid(), 'tok') $$, 'PT404', 'payment_not_found',
  'an unknown payment: 404'
);
select throws_ok(
  $$ select public.attach_checkout((select f.id from first_payment as f), 'tok') $$, 'PT409',
  'payment_not_pending', 'a payment that is no longer pending: 409'
);
select results_eq(
  $$ select count(*) from public.payments
     where user_id in (tests.get_supabase_uid('pay-alice'), tests.get_supabase_uid('pay-bob')) $$,
  $$ values (6::bigint) $$,
  'service_role reads every payment'
);

-- The owner sees what the service attached.
select tests.authenticate_as('pay-bob');
select results_eq(
  $$ select p.checkout_url from public.payments as p where p.id = (select b.id from bob_payment as b) $$,
  $$ values ('https://pay.example/c/1') $$,
  'the owner reads the checkout url'
);

-- The price is the catalog's at the time of the call, never the client's.
select tests.clear_authentication();
update public.plan_prices set amount_minor = 1200
where plan_code = 'PRO' and currency = 'EUR';
select tests.authenticate_as('pay-bob');
select results_eq(
  $$ select p.amount_minor from public.create_payment('PRO', 'stripe', 'EUR') as p $$,
  $$ values (1200::bigint) $$,
  'a new payment uses the current catalog price'
);

select * from finish();
rollback;
