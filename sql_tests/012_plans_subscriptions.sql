-- public.plans, public.plan_prices, public.subscriptions and set_cancel_at_period_end(): the catalog anyone
-- reads, and one subscription per user that only its owner reads. Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(56);

do $$
begin
  update private.settings set default_plan = 'FREE';
  perform tests.create_supabase_user('subs-alice');
  perform tests.create_supabase_user('subs-bob');
  perform tests.create_supabase_user('subs-admin');
  update public.user_roles set role = 'admin' where user_id = (select tests.get_supabase_uid('subs-admin'));
  -- Bob pays for PRO (set up directly; the payment path is tested in 015).
  update public.subscriptions
  set plan_code = 'PRO', current_period_start = now(), current_period_end = now() + interval '1 month'
  where user_id = (select tests.get_supabase_uid('subs-bob'));
end
$$;

-- Shape and access rules ------------------------------------------------------------------------------
select tests.rls_enabled('public', 'plans');
select tests.rls_enabled('public', 'plan_prices');
select tests.rls_enabled('public', 'subscriptions');

select policies_are(
  'public', 'subscriptions', array['subscriptions_select_own'], 'subscriptions has one policy: own rows'
);
select has_index(
  'public', 'subscriptions', 'subscriptions_plan_code_idx', array['plan_code'], 'the plan FK is indexed'
);
select has_index(
  'public', 'plan_prices', 'plan_prices_currency_idx', array['currency'], 'the currency FK is indexed'
);

-- The catalog the migration creates -----------------------------------------------------------------------
select results_eq(
  $$ select p.code, p.billing_interval, p.active from public.plans as p
     where p.code in ('FREE', 'PRO', 'PRO_YEARLY') order by p.sort_order $$,
  $$ values ('FREE', 'month', true), ('PRO', 'month', true), ('PRO_YEARLY', 'year', true) $$,
  'the migration creates FREE first, then PRO and PRO_YEARLY'
);
select is_empty(
  $$ select 1 from public.plan_prices where plan_code = 'FREE' $$, 'FREE has no price'
);
select results_eq(
  $$ select pp.currency, pp.amount_minor from public.plan_prices as pp
     where pp.plan_code = 'PRO' order by pp.currency $$,
  $$ values ('EUR', 900::bigint), ('IDR', 14900000::bigint), ('INR', 74900::bigint), ('JPY', 1400::bigint),
       ('USD', 900::bigint) $$,
  'PRO has a price per currency in minor units (JPY has no decimals)'
);
select throws_ok(
  $$ insert into public.plans (code, name, ai_monthly_token_cap, ai_requests_per_window)
     values ('pro plan', 'x', 0, 0) $$,
  '23514', null, 'plan codes are upper-case identifiers'
);
select throws_ok(
  $$ insert into public.plans (code, name, billing_interval, ai_monthly_token_cap, ai_requests_per_window)
     values ('WEEKLY', 'x', 'week', 0, 0) $$,
  '23514', null, 'a billing interval is month or year'
);
select throws_ok(
  $$ insert into public.plans (code, name, ai_monthly_token_cap, ai_requests_per_window)
     values ('NEG', 'x', -1, 0) $$,
  '23514', null, 'AI limits are non-negative'
);
select throws_ok(
  $$ insert into public.plan_prices (plan_code, currency, amount_minor) values ('FREE', 'USD', 0) $$,
  '23514', null, 'a price is positive'
);
select throws_ok(
  $$ insert into public.plan_prices (plan_code, currency, amount_minor) values ('PRO', 'ZZZ', 100) $$,
  '23503', null, 'a price is in a known currency'
);

-- Subscription invariants ---------------------------------------------------------------------------------
select throws_ok(
  $$ update public.subscriptions set status = 'paused'
     where user_id = tests.get_supabase_uid('subs-bob') $$,
  '23514', null, 'a subscription status is active, past_due, canceled or expired'
);
select throws_ok(
  $$ update public.subscriptions set current_period_end = current_period_start
     where user_id = tests.get_supabase_uid('subs-bob') $$,
  '23514', null, 'a period ends after it starts'
);
select throws_ok(
  $$ update public.subscriptions set status = 'past_due'
     where user_id = tests.get_supabase_uid('subs-bob') $$,
  '23514', null, 'past_due needs past_due_since'
);
select throws_ok(
  $$ update public.subscriptions set past_due_since = now()
     where user_id = tests.get_supabase_uid('subs-bob') $$,
  '23514', null, 'past_due_since only while past due'
);
select throws_ok(
  $$ insert into public.subscriptions (user_id, plan_code)
     values (tests.get_supabase_uid('subs-bob'), 'FREE') $$,
  '23505', null, 'one subscription per user'
);

create temporary table catalog_size on commit drop as
select count(*) as plans from public.plans;
grant select on catalog_size to anon, authenticated;

-- anon ---------------------------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select results_eq(
  $$ select count(*) from public.plans $$, $$ select p.plans from catalog_size as p $$,
  'anon reads the whole plan catalog'
);
select ok((select count(*) from public.plan_prices) >= 10, 'anon reads the prices');
select throws_ok(
  $$ insert into public.plans (code, name, ai_monthly_token_cap, ai_requests_per_window)
     values ('HACK', 'x', 0, 0) $$,
  '42501', null, 'anon cannot add a plan'
);
select throws_ok(
  $$ update public.plan_prices set amount_minor = 1 $$, '42501', null, 'anon cannot change a price'
);
select throws_ok(
  $$ select 1 from public.subscriptions $$, '42501', null, 'anon cannot read subscriptions'
);
select throws_ok(
  $$ select public.set_cancel_at_period_end(true) $$, '42501', null,
  'anon cannot call set_cancel_at_period_end()'
);

-- A signed-in user ----------------------------------------------------------------------------------------
select tests.authenticate_as('subs-alice');
select results_eq(
  $$ select count(*) from public.plans $$, $$ select p.plans from catalog_size as p $$,
  'a user reads the whole plan catalog'
);
select results_eq(
  $$ select s.user_id, s.plan_code, s.status, s.current_period_end, s.cancel_at_period_end
     from public.subscriptions as s $$,
  $$ values (tests.get_supabase_uid('subs-alice'), 'FREE', 'active', null::timestamptz, false) $$,
  'a user sees exactly their own subscription: FREE, active, no period end'
);
select is_empty(
  $$ select 1 from public.subscriptions where user_id = tests.get_supabase_uid('subs-bob') $$,
  'a user cannot see another user''s subscription'
);
select throws_ok(
  $$ update public.subscriptions set plan_code = 'PRO' $$, '42501', null,
  'a user cannot change their plan directly'
);
select throws_ok(
  $$ update public.subscriptions set cancel_at_period_end = true $$, '42501', null,
  'a user cannot change cancel_at_period_end directly either'
);
select throws_ok(
  $$ insert into public.subscriptions (user_id, plan_code) values (gen_random_uuid(), 'PRO') $$,
  '42501', null, 'a user cannot insert a subscription'
);
select throws_ok(
  $$ delete from public.subscriptions $$, '42501', null, 'a user cannot delete a subscription'
);
select throws_ok(
  $$ update public.plans set active = false $$, '42501', null, 'a user cannot change the catalog'
);
select throws_ok(
  $$ select public.set_cancel_at_period_end(true) $$, 'PT409', 'no_renewing_subscription',
  'the free plan has no period to cancel at: 409'
);
select throws_ok(
  $$ select public.set_cancel_at_period_end(null) $$, 'PT400', 'invalid_argument', 'cancel must be given: 400'
);

-- The paying user cancels at period end, and changes their mind.
select tests.authenticate_as('subs-bob');
select results_eq(
  $$ select s.user_id, s.plan_code, s.cancel_at_period_end, s.canceled_at
     from public.set_cancel_at_period_end(true) as s $$,
  $$ values (tests.get_supabase_uid('subs-bob'), 'PRO', true, now()) $$,
  'set_cancel_at_period_end(true) returns the subscription, canceled now'
);
select results_eq(
  $$ select s.cancel_at_period_end, s.canceled_at, s.plan_code, s.status, s.current_period_end
     from public.subscriptions as s $$,
  $$ values (true, now(), 'PRO', 'active', now() + interval '1 month') $$,
  'the flag is stored; plan, status and period are unchanged'
);
select results_eq(
  $$ select s.cancel_at_period_end, s.canceled_at from public.set_cancel_at_period_end(false) as s $$,
  $$ values (false, null::timestamptz) $$,
  'set_cancel_at_period_end(false) undoes it and clears canceled_at'
);

select tests.clear_authentication();
update public.subscriptions
set status = 'past_due', past_due_since = now()
where user_id = tests.get_supabase_uid('subs-bob');
select tests.authenticate_as('subs-bob');
select results_eq(
  $$ select s.cancel_at_period_end, s.status from public.set_cancel_at_period_end(true) as s $$,
  $$ values (true, 'past_due') $$,
  'a past-due subscription may be set to cancel too'
);

select tests.clear_authentication();
update public.subscriptions
set status = 'canceled', past_due_since = null, cancel_at_period_end = false
where user_id = tests.get_supabase_uid('subs-bob');
select tests.authenticate_as('subs-bob');
select throws_ok(
  $$ select public.set_cancel_at_period_end(true) $$, 'PT409', 'no_renewing_subscription',
  'a canceled subscription cannot be set to cancel: 409'
);

select tests.authenticate_as('subs-alice');
select results_eq(
  $$ select count(*) from public.subscriptions $$, $$ values (1::bigint) $$,
  'alice''s calls never touched bob''s row, and bob''s never reached hers'
);

-- authenticated without a user id (a token with no sub): 401.
select tests.clear_authentication();
do $$ begin perform set_config('role', 'authenticated', true); end $$;
select throws_ok(
  $$ select public.set_cancel_at_period_end(true) $$, 'PT401', 'not_authenticated',
  'without a user id: 401'
);

-- An admin reads the catalog and their own subscription like anyone; admin RPCs do the rest.
select tests.authenticate_as('subs-admin');
select results_eq(
  $$ select s.user_id from public.subscriptions as s $$,
  $$ values (tests.get_supabase_uid('subs-admin')) $$,
  'an admin sees only their own subscription through the table'
);
select throws_ok(
  $$ update public.subscriptions set plan_code = 'PRO'
     where user_id = tests.get_supabase_uid('subs-alice') $$,
  '42501', null, 'an admin cannot change a subscription directly'
);
select throws_ok(
  $$ update public.plan_prices set amount_minor = 1 where plan_code = 'PRO' $$, '42501', null,
  'an admin cannot change prices directly (admin_upsert_plan does)'
);

-- service_role --------------------------------------------------------------------------------------------
select tests.authenticate_as_service_role();
select results_eq(
  $$ select count(*) from public.subscriptions
     where user_id in (tests.get_supabase_uid('subs-alice'), tests.get_supabase_uid('subs-bob')) $$,
  $$ values (2::bigint) $$,
  'service_role reads every subscription'
);
select lives_ok(
  $$ update public.subscriptions set plan_code = 'PRO_YEARLY', current_period_end = now() + interval '1 year'
     where user_id = tests.get_supabase_uid('subs-alice') $$,
  'service_role can change a subscription'
);
select lives_ok(
  $$ insert into public.plan_prices (plan_code, currency, amount_minor) values ('PRO', 'GBP', 800) $$,
  'service_role can add a price'
);
select throws_ok(
  $$ select public.set_cancel_at_period_end(true) $$, '42501', null,
  'set_cancel_at_period_end() is for users only, not the service role'
);
select results_eq(
  $$ select s.updated_at from public.subscriptions as s
     where s.user_id = tests.get_supabase_uid('subs-alice') $$,
  $$ values (now()) $$,
  'updated_at is touched on every change'
);

-- Deleting a plan that subscriptions use is refused; renaming its code cascades.
select tests.clear_authentication();
select throws_ok(
  $$ delete from public.plans where code = 'PRO_YEARLY' $$, '23503', null,
  'a plan in use cannot be deleted'
);
select lives_ok(
  $$ update public.plans set code = 'PRO_ANNUAL' where code = 'PRO_YEARLY' $$, 'a plan code can be renamed'
);
select results_eq(
  $$ select
       (select s.plan_code from public.subscriptions as s
         where s.user_id = tests.get_supabase_uid('subs-alice')),
       (select count(*) from public.plan_prices as pp where pp.plan_code = 'PRO_ANNUAL') $$,
  $$ values ('PRO_ANNUAL', 5::bigint) $$,
  'the rename cascades to subscriptions and prices'
);

-- Function access ---------------------------------------------------------------------------------------
select isnt_definer(
  'public', 'set_cancel_at_period_end', array['boolean'], 'the public RPC is security invoker'
);
select is_definer(
  'private', 'set_cancel_at_period_end', array['boolean'], 'its private half is security definer'
);
select volatility_is(
  'public', 'set_cancel_at_period_end', array['boolean'], 'volatile', 'set_cancel_at_period_end is volatile'
);

select * from finish();
rollback;
