-- public.currencies and private.settings: the catalog of ISO 4217 exponents every amount relies on, and
-- the one-row operator settings SQL reads. Runs as `postgres`; everything is rolled back.
begin;
set local client_min_messages = warning;
select plan(36);

-- Shape and access rules ------------------------------------------------------------------------------
select has_table('public', 'currencies', 'public.currencies exists');
select has_table('private', 'settings', 'private.settings exists');
select tests.rls_enabled('public', 'currencies');
select tests.rls_enabled('private', 'settings');


-- Currencies: the exponents that matter -----------------------------------------------------------------
select results_eq(
  $$ select c.code, c.exponent from public.currencies as c
     where c.code in ('JPY', 'KRW', 'USD', 'IDR', 'KWD', 'BHD') order by c.code $$,
  $$ values ('BHD', 3::smallint), ('IDR', 2::smallint), ('JPY', 0::smallint), ('KRW', 0::smallint),
       ('KWD', 3::smallint), ('USD', 2::smallint) $$,
  'zero-decimal JPY/KRW, two-decimal USD/IDR, three-decimal KWD/BHD'
);
select throws_ok(
  $$ insert into public.currencies (code, exponent, name) values ('usd', 2, 'lower case') $$,
  '23514', null, 'a currency code is three upper-case letters'
);
select throws_ok(
  $$ insert into public.currencies (code, exponent, name) values ('XXA', 5, 'too precise') $$,
  '23514', null, 'an exponent is between 0 and 4'
);

-- The defaults, from a fresh row (the live row may carry an operator's changes; all of this is rolled back).
select is((select count(*) from private.settings), 1::bigint, 'settings has exactly one row');
delete from private.settings;
insert into private.settings default values;
select results_eq(
  $$ select s.grace_days, s.default_plan, s.default_currency, s.payment_expiry, s.create_payment_limit,
       s.create_payment_window_seconds, s.webhook_lease_seconds, s.admin_bootstrap_emails::text[]
     from private.settings as s $$,
  $$ values (7, 'FREE', 'USD', interval '24 hours', 10, 600, 60, '{}'::text[]) $$,
  'a settings row holds the documented defaults'
);

-- anon and authenticated read currencies and change nothing ---------------------------------------------
do $$
begin
  perform tests.create_supabase_user('cur-alice');
  perform tests.create_supabase_user('cur-admin');
  update public.user_roles set role = 'admin' where user_id = (select tests.get_supabase_uid('cur-admin'));
end
$$;

select tests.authenticate_as_anon();
select ok((select count(*) from public.currencies) >= 21, 'anon reads every currency');
select throws_ok(
  $$ insert into public.currencies (code, exponent, name) values ('XXB', 2, 'x') $$,
  '42501', null, 'anon cannot add a currency'
);
select throws_ok(
  $$ select s.default_currency from private.settings as s $$, '42501', null, 'anon cannot read settings'
);
select throws_ok(
  $$ select private.current_settings() $$, '42501', null, 'anon cannot call private.current_settings()'
);

select tests.authenticate_as('cur-alice');
select ok((select count(*) from public.currencies) >= 21, 'a signed-in user reads every currency');
select throws_ok(
  $$ update public.currencies set exponent = 3 where code = 'USD' $$,
  '42501', null, 'a signed-in user cannot change a currency'
);
select throws_ok(
  $$ delete from public.currencies where code = 'USD' $$,
  '42501', null, 'a signed-in user cannot delete a currency'
);
select throws_ok(
  $$ select s.admin_bootstrap_emails from private.settings as s $$,
  '42501', null, 'a signed-in user cannot read settings (they hold the admin bootstrap list)'
);
select throws_ok(
  $$ select (private.current_settings()).admin_bootstrap_emails $$,
  '42501', null, 'nor through private.current_settings(): no invoker function a user calls needs it'
);
select throws_ok(
  $$ update private.settings set grace_days = 1 $$,
  '42501', null, 'a signed-in user cannot change settings'
);

-- An admin is a signed-in user here: admin powers live in the admin RPCs, not in table grants.
select tests.authenticate_as('cur-admin');
select throws_ok(
  $$ insert into public.currencies (code, exponent, name) values ('XXD', 2, 'x') $$,
  '42501', null, 'an admin cannot add a currency directly'
);
select throws_ok(
  $$ select s.grace_days from private.settings as s $$, '42501', null,
  'an admin cannot read settings directly'
);
select throws_ok(
  $$ select private.current_settings() $$, '42501', null, 'an admin cannot call private.current_settings()'
);

-- service_role ------------------------------------------------------------------------------------------
select tests.authenticate_as_service_role();
select lives_ok(
  $$ insert into public.currencies (code, exponent, name) values ('XXC', 2, 'test currency') $$,
  'service_role can add a currency'
);
select results_eq(
  $$ select count(*), bool_and(s.id) from private.settings as s $$, $$ values (1::bigint, true) $$,
  'service_role reads the one settings row'
);
select is(
  (private.current_settings()).default_plan, 'FREE', 'private.current_settings() returns the row'
);
select lives_ok(
  $$ update private.settings set grace_days = 3 $$, 'service_role can change a setting'
);
select results_eq(
  $$ select s.grace_days, s.updated_at from private.settings as s $$,
  $$ values (3, now()) $$,
  'the change is stored and updated_at is touched'
);
select throws_ok(
  $$ insert into private.settings (id) values (true) $$,
  '42501', null, 'service_role cannot insert a second settings row'
);
select throws_ok(
  $$ delete from private.settings $$,
  '42501', null, 'service_role cannot delete the settings row'
);
select throws_ok(
  $$ update private.settings set grace_days = 400 $$, '23514', null, 'grace_days is at most 365'
);
select throws_ok(
  $$ update private.settings set payment_expiry = interval '1 minute' $$,
  '23514', null, 'a checkout lives at least 5 minutes'
);
select throws_ok(
  $$ update private.settings set create_payment_limit = 0 $$, '23514', null, 'limits are positive'
);
select throws_ok(
  $$ update private.settings set default_currency = 'ZZZ' $$,
  '23503', null, 'the default currency must be a known currency'
);

-- The singleton, even for the migration role ------------------------------------------------------------
select tests.clear_authentication();
select throws_ok(
  $$ insert into private.settings (id) values (false) $$, '23514', null, 'the only possible id is true'
);
select throws_ok(
  $$ insert into private.settings (id) values (true) $$, '23505', null, 'a second row cannot exist'
);

-- Function access ---------------------------------------------------------------------------------------
select is_definer(
  'private', 'current_settings', array[]::text[],
  'current_settings() is security definer (API roles cannot read private.settings themselves)'
);

select * from finish();
rollback;
