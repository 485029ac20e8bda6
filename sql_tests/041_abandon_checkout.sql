-- abandon_checkout(): a pending payment without a checkout (the provider lost its answer and refuses the
-- order id again) is closed as failed, so the next create_payment starts a new order. Service role only.
-- Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(11);

do $$
begin
  update private.settings set create_payment_limit = 10, create_payment_window_seconds = 600;
  perform tests.create_supabase_user('ab-alice');
end
$$;

select is(
  (
    select p.prosecdef from pg_catalog.pg_proc as p
    where p.oid = 'public.abandon_checkout(uuid, text)'::regprocedure
  ),
  false, 'abandon_checkout is security invoker'
);

-- Alice starts a checkout; the provider's answer is lost, so nothing is attached.
select tests.authenticate_as('ab-alice');
create temporary table lost on commit drop as select * from public.create_payment('PRO', 'midtrans', 'IDR');
grant select on lost to service_role;
select tests.clear_authentication();

select tests.authenticate_as_service_role();
select throws_ok(
  $$ select public.abandon_checkout((select l.id from lost as l), '  ') $$, '22023', 'invalid_argument',
  'a reason is required'
);
select results_eq(
  $$ select a.status, a.metadata ->> 'abandoned' from public.abandon_checkout(
       (select l.id from lost as l), 'provider_duplicate_order') as a $$,
  $$ values ('failed', 'provider_duplicate_order') $$,
  'the pending payment without a checkout is closed as failed, with the reason'
);
select throws_ok(
  $$ select public.abandon_checkout((select l.id from lost as l), 'again') $$, 'PT409',
  'payment_not_abandonable', 'a payment that is no longer pending is not abandoned (409)'
);
select throws_ok(
  $$ select public.abandon_checkout(gen_random_uuid(), 'x') $$, 'PT404', 'payment_not_found',
  'an unknown payment: 404'
);
select tests.clear_authentication();

-- The next checkout is a new order.
select tests.authenticate_as('ab-alice');
create temporary table retried on commit drop as
select *
from public.create_payment('PRO', 'midtrans', 'IDR');
grant select on retried to service_role;
select isnt(
  (select r.order_id from retried as r), (select l.order_id from lost as l),
  'create_payment starts a new order after the abandoned one'
);
select tests.clear_authentication();

-- A payment with a checkout can still be paid: it is never abandoned.
select tests.authenticate_as_service_role();
select lives_ok(
  $$ select public.attach_checkout((select r.id from retried as r), 'snap-token', 'https://pay.example/x') $$,
  'the new order gets its checkout'
);
select throws_ok(
  $$ select public.abandon_checkout((select r.id from retried as r), 'x') $$, 'PT409',
  'payment_not_abandonable', 'a payment with a checkout is not abandoned (409)'
);
select results_eq(
  $$ select p.status from public.payments as p where p.id = (select r.id from retried as r) $$,
  $$ values ('pending') $$, 'and it stays pending'
);

-- Money for the abandoned order that arrives after all is still taken (failed -> paid).
select results_eq(
  $$ select e.outcome, e.payment_status from public.apply_payment_event(
       'midtrans', 'ab-late-settlement', 'settlement', (select l.order_id from lost as l), 'paid',
       (select l.amount_minor from lost as l), 'IDR') as e $$,
  $$ values ('applied', 'paid') $$,
  'a late settlement of the abandoned order is applied'
);
select results_eq(
  $$ select a.action from private.audit_logs as a
     where a.entity = 'payments' and a.entity_id = (select l.id::text from lost as l) order by a.id $$,
  $$ values ('payments.insert'), ('payments.update'), ('payments.update') $$,
  'created, abandoned and paid: each change audited'
);
select tests.clear_authentication();

select * from finish();
rollback;
