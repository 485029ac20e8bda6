-- What binds a provider's event to our payment. This SUPERSEDES public.apply_payment_event (last defined in
-- 20261122005000_webhook_apply_single_write, 9 arguments; dropped here and created with two more, both
-- defaulted, so every existing named-argument call keeps its meaning) and
-- private.operator_replay_webhook_event (same migration; it now replays the two new inputs too).
--
-- Why: an attack pass paid two orders with one Razorpay payment. Razorpay's payment events named our order
-- through `payment.notes.order_id`, which the buyer's browser sets in Razorpay Checkout: a payment for
-- buyer A's Razorpay order, captured with notes naming buyer B's order, paid B (payment.captured), while
-- order.paid paid A through the receipt; the refund then hit B. The reference that binds an event to a
-- payment must be one our server set when it created the checkout; a client-settable field may only be
-- checked against that binding.
--
-- How: two inputs besides order_id (our order id, as a field our server set names it: Midtrans order_id,
-- DOKU invoice number, Stripe client_reference_id / PaymentIntent metadata, Lemon Squeezy custom data of
-- our API checkout, Razorpay receipt):
--   provider_reference  the provider's own id of the object our server created (a Razorpay order, a
--                       Stripe Checkout Session), stored as payments.provider_payment_id by
--                       attach_checkout. When given it finds the payment; an order_id that names another
--                       payment, or a payment bound to another reference, makes the event `failed`.
--   client_order_id     our order id as a client-settable field names it (Razorpay payment notes). Never
--                       used to find a payment; one that disagrees with the binding makes the event
--                       `failed` (recorded, nothing applied), so an operator sees the attempt.
-- A payment found by order_id that has no provider reference yet (the checkout's answer was lost before
-- attach_checkout) is still bound by that order_id, which our server set.
-- A unique index makes a provider reference bind at most one payment.
--
-- Lock order is unchanged: the payment row, then the ledger key.

create unique index payments_provider_reference on public.payments (provider, provider_payment_id)
where provider_payment_id is not null;

drop function public.apply_payment_event(text, text, text, text, text, bigint, text, timestamptz, jsonb);

create function public.apply_payment_event(
  provider text,
  event_key text,
  event_type text,
  order_id text,
  status text,
  amount_minor bigint default null,
  currency text default null,
  occurred_at timestamptz default null,
  payload jsonb default '{}',
  provider_reference text default null,
  client_order_id text default null
)
returns table (event_id uuid, outcome text, payment_status text)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_variable
declare
  payment public.payments;
  happened timestamptz := least(coalesce(occurred_at, pg_catalog.now()), pg_catalog.now());
  verdict text;
  reason text;
  existing private.webhook_events;
begin
  if status is null or status not in ('pending', 'paid', 'failed', 'expired', 'refunded') then
    raise exception using errcode = '22023', message = 'invalid_argument',
      detail = 'status must be pending, paid, failed, expired or refunded';
  end if;
  if provider is null or event_key is null or event_type is null or btrim(event_key) = '' then
    raise exception using errcode = '22023', message = 'invalid_argument',
      detail = 'provider, event_key and event_type are required';
  end if;
  if order_id is null and provider_reference is null then
    raise exception using errcode = '22023', message = 'invalid_argument',
      detail = 'order_id or provider_reference is required';
  end if;
  if provider not in ('midtrans', 'doku', 'stripe', 'lemonsqueezy', 'razorpay') then
    raise exception using errcode = '22023', message = 'invalid_argument',
      detail = format('unknown provider %L', provider);
  end if;

  -- Find the payment through what our server set: the provider's reference first, else our order id.
  if provider_reference is not null then
    select p.* into payment from public.payments as p
    where p.provider = apply_payment_event.provider and p.provider_payment_id = provider_reference
    for update;
  end if;
  if payment.id is null and order_id is not null then
    select p.* into payment from public.payments as p where p.order_id = apply_payment_event.order_id
    for update;
  end if;

  -- Decide, without writing anything yet.
  if payment.id is null then
    verdict := 'ignored';
    reason := 'unknown_order';
  elsif payment.provider <> apply_payment_event.provider then
    verdict := 'failed';
    reason := format('provider_mismatch: order belongs to %s', payment.provider);
  elsif order_id is not null and order_id <> payment.order_id then
    verdict := 'failed';
    reason := format('order_mismatch: %s reference %s is bound to order %s, the event names %s',
      payment.provider, provider_reference, payment.order_id, order_id);
  elsif provider_reference is not null and payment.provider_payment_id <> provider_reference then
    verdict := 'failed';
    reason := format('reference_mismatch: order %s is bound to %s reference %s, the event names %s',
      payment.order_id, payment.provider, payment.provider_payment_id, provider_reference);
  elsif client_order_id is not null and client_order_id <> payment.order_id then
    verdict := 'failed';
    reason := format('order_mismatch: a client-set field names order %s, the event is bound to order %s',
      client_order_id, payment.order_id);
  elsif status = 'paid' and (amount_minor is distinct from payment.amount_minor
    or upper(currency) is distinct from payment.currency) then
    verdict := 'failed';
    reason := format('amount_mismatch: expected %s %s, got %s %s',
      payment.amount_minor, payment.currency, amount_minor, currency);
  elsif (status = 'paid' and payment.status in ('pending', 'failed', 'expired'))
    or (status in ('failed', 'expired') and payment.status = 'pending')
    or (status = 'refunded' and payment.status = 'paid') then
    verdict := 'processed';
  else
    verdict := 'ignored';
    reason := format('stale_or_repeated: payment is %s, event says %s', payment.status, status);
  end if;

  -- Record the event, or find that it is already recorded.
  insert into private.webhook_events as e (
    provider, event_key, event_type, order_id, payload, status, attempts, last_error, processed_at, normalized
  ) values (
    provider, event_key, event_type, coalesce(payment.order_id, order_id), coalesce(payload, '{}'::jsonb),
    verdict, 1, reason, pg_catalog.now(),
    pg_catalog.jsonb_build_object(
      'order_id', order_id, 'status', status, 'amount_minor', amount_minor, 'currency', currency,
      'occurred_at', occurred_at
    ) || pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
      'provider_reference', provider_reference, 'client_order_id', client_order_id
    ))
  )
  -- By constraint name: under use_variable the column names would resolve to the parameters.
  on conflict on constraint webhook_events_provider_event_key do update
  set status = excluded.status,
      attempts = e.attempts + 1,
      order_id = excluded.order_id,
      payload = excluded.payload,
      last_error = excluded.last_error,
      lease_expires_at = null,
      processed_at = excluded.processed_at,
      normalized = excluded.normalized
  where e.event_type = excluded.event_type
    and (e.status = 'failed' or (e.status in ('received', 'processing') and e.lease_expires_at < pg_catalog.now()))
  returning e.id into event_id;

  if event_id is null then
    select e.* into existing
    from private.webhook_events as e
    where e.provider = apply_payment_event.provider and e.event_key = apply_payment_event.event_key;
    if existing.event_type <> apply_payment_event.event_type then
      raise exception using errcode = 'PT409', message = 'event_type_mismatch',
        detail = format('Event %s of %s was recorded as %s, not %s.', existing.event_key, existing.provider,
          existing.event_type, apply_payment_event.event_type);
    end if;
    event_id := existing.id;
    outcome := case when existing.status = 'processing' then 'in_progress' else 'duplicate' end;
    payment_status := payment.status;
    return next;
    return;
  end if;

  -- The event is ours: apply it.
  if verdict = 'processed' and status = 'paid' then
    update public.payments as p set status = 'paid', paid_at = happened where p.id = payment.id
    returning p.* into payment;
    if payment.user_id is not null then
      perform private.activate_paid_plan(payment, happened);
    end if;
  elsif verdict = 'processed' and status = 'refunded' then
    update public.payments as p set status = 'refunded', refunded_at = happened where p.id = payment.id
    returning p.* into payment;
    perform private.revert_refunded_plan(payment, happened);
  elsif verdict = 'processed' then
    update public.payments as p set status = apply_payment_event.status where p.id = payment.id
    returning p.* into payment;
  end if;
  outcome := case verdict when 'processed' then 'applied' else verdict end;
  payment_status := payment.status;
  return next;
end;
$$;

revoke execute on function public.apply_payment_event(
  text, text, text, text, text, bigint, text, timestamptz, jsonb, text, text
) from public;
grant execute on function public.apply_payment_event(
  text, text, text, text, text, bigint, text, timestamptz, jsonb, text, text
) to service_role;

create or replace function private.operator_replay_webhook_event(id uuid)
returns table (event_id uuid, outcome text, payment_status text, previous_status text)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  event private.webhook_events;
  applied record;
begin
  perform private.require_admin();
  -- No row lock (20261122005000): apply_payment_event's upsert lets one concurrent replay through.
  select e.* into event from private.webhook_events as e where e.id = operator_replay_webhook_event.id;
  if not found then
    raise exception using errcode = 'PT404', message = 'webhook_event_not_found',
      detail = format('No webhook event %s.', operator_replay_webhook_event.id);
  end if;
  if event.status <> 'failed' then
    raise exception using errcode = 'PT409', message = 'not_replayable',
      detail = format('Event %s is %s; only failed events are replayed.', event.id, event.status);
  end if;
  if event.normalized is null then
    raise exception using errcode = 'PT409', message = 'not_replayable',
      detail = format('Event %s has no stored normalized input (recorded before 20261122004000).', event.id);
  end if;

  select a.event_id, a.outcome, a.payment_status into applied
  from public.apply_payment_event(
    event.provider,
    event.event_key,
    event.event_type,
    event.normalized ->> 'order_id',
    event.normalized ->> 'status',
    (event.normalized ->> 'amount_minor')::bigint,
    event.normalized ->> 'currency',
    (event.normalized ->> 'occurred_at')::timestamptz,
    event.payload,
    event.normalized ->> 'provider_reference',
    event.normalized ->> 'client_order_id'
  ) as a;

  perform private.write_audit('admin.replay_webhook_event', 'webhook_events', event.id::text,
    pg_catalog.jsonb_build_object('status', event.status, 'last_error', event.last_error),
    pg_catalog.jsonb_build_object('outcome', applied.outcome, 'payment_status', applied.payment_status));
  return query
  select applied.event_id::uuid, applied.outcome::text, applied.payment_status::text, event.status;
end;
$$;
