-- public.payment_providers: the one list of payment providers. Payments and ledger rows reference it,
-- create_payment offers the providers marked for checkout, and the webhook ledger records any provider in
-- it; a new provider is a row. Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(27);

do $$ begin perform tests.create_supabase_user('pp-alice'); end $$;

-- The detail of the error a statement raises (null when it raises none).
create function pg_temp.error_detail(statement text)
returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
  detail text;
begin
  execute statement;
  return null;
exception when others then
  get stacked diagnostics detail = pg_exception_detail;
  return detail;
end
$$;
grant execute on function pg_temp.error_detail(text) to authenticated;

-- The catalog -----------------------------------------------------------------------------------------------
select tests.rls_enabled('public', 'payment_providers');
select results_eq(
  $$ select p.code, p.name, p.checkout from public.payment_providers as p order by p.code $$,
  $$ values
       ('doku', 'DOKU Checkout', true), ('lemonsqueezy', 'Lemon Squeezy', true),
       ('midtrans', 'Midtrans Snap', true), ('razorpay', 'Razorpay Orders', true),
       ('stripe', 'Stripe Checkout', true) $$,
  'the five providers, each offered for checkout'
);
select policies_are(
  'public', 'payment_providers',
  array['payment_providers_select_anon', 'payment_providers_select_authenticated'],
  'one read policy each for anon and authenticated'
);
select col_default_is(
  'public', 'payment_providers', 'checkout', 'true', 'a new provider is offered by default'
);
select throws_ok(
  $$ insert into public.payment_providers (code, name) values ('PayPal', 'PayPal') $$, '23514', null,
  'codes are lower-case'
);
select throws_ok(
  $$ insert into public.payment_providers (code, name) values ('paypal', '') $$, '23514', null,
  'a provider has a name'
);

-- Who reads it -------------------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select results_eq(
  $$ select count(*) from public.payment_providers $$, $$ values (5::bigint) $$, 'anon reads the catalog'
);
select throws_ok(
  $$ insert into public.payment_providers (code, name) values ('anonpay', 'x') $$, '42501', null,
  'anon cannot add a provider'
);
select tests.authenticate_as('pp-alice');
select results_eq(
  $$ select count(*) from public.payment_providers where checkout $$, $$ values (5::bigint) $$,
  'a user reads the catalog'
);
select throws_ok(
  $$ update public.payment_providers set checkout = false $$, '42501', null, 'a user cannot change it'
);
select tests.clear_authentication();

-- Foreign keys instead of lists --------------------------------------------------------------------------
select fk_ok('public', 'payments', 'provider', 'public', 'payment_providers', 'code', 'payments.provider');
select fk_ok(
  'private', 'webhook_events', 'provider', 'public', 'payment_providers', 'code', 'webhook_events.provider'
);
select has_index(
  'public', 'payments', 'payments_provider_idx', array['provider'], 'the payments FK is indexed'
);
select throws_ok(
  $$ insert into private.webhook_events (provider, event_key, event_type) values ('paypal', 't029-k', 'x') $$,
  '23503', null, 'the ledger records only known providers'
);

-- A sixth provider, and one that is never offered for checkout --------------------------------------------
insert into public.payment_providers (code, name, checkout) values
('t029_sixth', 'A sixth provider', true),
('t029_internal', 'Recorded, never offered', false);
select tests.authenticate_as('pp-alice');
select results_eq(
  $$ select p.provider, p.status, p.amount_minor
     from public.create_payment('PRO', ' T029_Sixth ', 'USD') as p $$,
  $$ values ('t029_sixth', 'pending', 900::bigint) $$,
  'a new row is all a sixth provider needs: create_payment offers it (code normalized as before)'
);
select throws_ok(
  $$ select public.create_payment('PRO', 't029_internal', 'USD') $$, 'PT400', 'unknown_provider',
  'a provider not offered for checkout: 400 unknown_provider'
);
select is(
  pg_temp.error_detail($$ select public.create_payment('PRO', 't029_internal', 'USD') $$),
  'No payment provider ''t029_internal''.', 'with the same detail as a provider that does not exist'
);
select throws_ok(
  $$ select public.create_payment('PRO', 'paypal', 'USD') $$, 'PT400', 'unknown_provider',
  'a provider not in the table: 400 unknown_provider'
);
select tests.clear_authentication();
select throws_ok(
  $$ delete from public.payment_providers where code = 't029_sixth' $$, '23503', null,
  'a provider that a payment names cannot be removed'
);
select tests.authenticate_as_service_role();
select results_eq(
  $$ select c.outcome from public.claim_webhook_event('t029_internal', 't029-k1', 'x', '{}') as c $$,
  $$ values ('claimed') $$,
  'the ledger records a provider that is not offered for checkout'
);
select results_eq(
  $$ select a.outcome, a.payment_status
     from public.apply_payment_event('t029_internal', 't029-k2', 'x', 'T029-NONE', 'paid', 0, 'USD') as a $$,
  $$ values ('ignored', null::text) $$,
  'and so does apply_payment_event (an unknown order: ignored)'
);
select results_eq(
  $$ select a.outcome from public.apply_payment_event(
       't029_sixth', 't029-k3', 'x',
       (select p.order_id from public.payments as p where p.provider = 't029_sixth'), 'paid', 900, 'USD'
     ) as a $$,
  $$ values ('applied') $$,
  'an event of the sixth provider pays its payment'
);
select throws_ok(
  $$ select * from public.claim_webhook_event('paypal', 't029-k4', 'x', '{}') $$, '22023',
  'invalid_argument', 'claim_webhook_event refuses a provider not in the table: 22023'
);
select throws_ok(
  $$ select * from public.apply_payment_event('paypal', 't029-k5', 'x', 'T029-X', 'paid', 900, 'USD') $$,
  '22023', 'invalid_argument', 'so does apply_payment_event'
);
select throws_ok(
  $$ select * from public.apply_payment_event(
       'paypal', 't029-k6', 'x', (select p.order_id from public.payments as p where p.provider = 't029_sixth'),
       'paid', 900, 'USD'
     ) $$,
  '22023', 'invalid_argument', 'also for an order id that names a payment (of another provider)'
);
select tests.clear_authentication();
select is_empty(
  $$ select 1 from private.webhook_events as e where e.event_key in ('t029-k4', 't029-k5', 't029-k6') $$,
  'a refused provider leaves nothing in the ledger'
);
select results_eq(
  $$ select e.provider, e.status from private.webhook_events as e where e.event_key like 't029-k_'
     order by e.event_key $$,
  $$ values ('t029_internal', 'processing'), ('t029_internal', 'ignored'), ('t029_sixth', 'processed') $$,
  'what was recorded, under its provider'
);

select * from finish();
rollback;
