-- Disputes out of order. This SUPERSEDES public.apply_payment_event (last defined in
-- 20261204006020_payment_refunds_disputes; same signature, grants and result columns) and adds
-- payments.dispute_closed_at.
--
-- Why: providers deliver at least once and in any order. A Stripe `charge.dispute.closed` (won) that arrives
-- before its `charge.dispute.created` was ignored as stale (a won dispute moved only a disputed payment), and
-- the late `created` then moved the paid payment to disputed: a dispute that had already closed was opened
-- again, and the plan stayed past due for good. (A lost one was never lost: dispute_lost applies from paid,
-- and nothing leaves charged_back.)
--
-- How: dispute_closed_at is when the payment's latest dispute closed (won or lost), set by the event that
-- closed it (its occurred_at, else when it arrived). In apply_payment_event, beside
-- private.payment_transition (unchanged):
--   dispute_won     of a paid or partially refunded payment whose dispute never closed before: applied; the
--                   payment keeps its status (the dispute it closes was never seen open), dispute_closed_at
--                   is set. Won again afterwards: stale, as before.
--   dispute_opened  that happened at or before dispute_closed_at: stale, the opening of that closed dispute.
--                   A dispute opened later (a new one) opens as before.
-- A closing event's fulfilment is unchanged: a won dispute of a payment that never was disputed changes
-- nothing for the plan.
--
-- Locks: ALTER TABLE takes payments' ACCESS EXCLUSIVE lock briefly (a nullable column, no rewrite).

alter table public.payments
add column dispute_closed_at timestamptz,
-- Only a payment that was paid can have had a dispute.
add constraint payments_dispute_closed_paid check (dispute_closed_at is null or paid_at is not null);

comment on column public.payments.dispute_closed_at is
'When the payment''s latest dispute closed (won or lost); a dispute opening at or before it is stale';

create or replace function public.apply_payment_event(
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
  previous_status text;
  happened timestamptz := least(coalesce(occurred_at, pg_catalog.now()), pg_catalog.now());
  action text := case when status = 'refunded' then 'refund' else status end;
  refunded_after bigint;
  next_status text;
  verdict text;
  reason text;
  existing private.webhook_events;
begin
  if status is null or status not in (
    'pending', 'paid', 'failed', 'expired', 'refund', 'refunded', 'dispute_opened', 'dispute_won', 'dispute_lost'
  ) then
    raise exception using errcode = '22023', message = 'invalid_argument',
      detail = 'status must be pending, paid, failed, expired, refund, refunded, dispute_opened, dispute_won '
        'or dispute_lost';
  end if;
  if provider is null or event_key is null or event_type is null or btrim(event_key) = '' then
    raise exception using errcode = '22023', message = 'invalid_argument',
      detail = 'provider, event_key and event_type are required';
  end if;
  if order_id is null and provider_reference is null then
    raise exception using errcode = '22023', message = 'invalid_argument',
      detail = 'order_id or provider_reference is required';
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
  -- An unknown provider is refused before anything is written (see 20261204001010).
  if payment.provider is distinct from provider then
    if not exists (select 1 from public.payment_providers as pp where pp.code = provider) then
      raise exception using errcode = '22023', message = 'invalid_argument',
        detail = format('unknown provider %L', provider);
    end if;
  end if;

  -- Decide, without writing anything yet. `refunded` (as sent before) refunds the whole amount.
  refunded_after := case
    when status = 'refunded' then payment.amount_minor
    when action = 'refund' then greatest(payment.refunded_minor, amount_minor)
    else payment.refunded_minor
  end;
  next_status := private.payment_transition(
    payment.status, action, payment.refunded_minor, refunded_after, payment.amount_minor
  );
  -- Disputes out of order (see the header): a dispute that closed before its opening arrived is recorded and
  -- leaves the payment as it is; the opening of a dispute that has closed since is stale.
  if action = 'dispute_won' and next_status is null and payment.dispute_closed_at is null
    and payment.status in ('paid', 'partially_refunded') then
    next_status := payment.status;
  elsif action = 'dispute_opened' and happened <= payment.dispute_closed_at then
    next_status := null;
  end if;
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
  elsif status = 'refund' and (amount_minor is null or amount_minor < 0 or amount_minor > payment.amount_minor
    or (currency is not null and upper(currency) <> payment.currency)) then
    verdict := 'failed';
    reason := format('refund_mismatch: %s %s refunded in all, of a payment of %s %s',
      coalesce(amount_minor::text, 'an unknown amount'), coalesce(currency, payment.currency),
      payment.amount_minor, payment.currency);
  elsif status = 'paid' and next_status is not null and payment.purpose <> 'plan' then
    -- Nothing may be granted silently: see the header. Replayable once the purpose's fulfilment exists.
    verdict := 'failed';
    reason := format('fulfilment_unavailable: %s payments have no fulfilment yet', payment.purpose);
  elsif next_status is not null then
    verdict := 'processed';
  else
    verdict := 'ignored';
    reason := format('stale_or_repeated: payment is %s, event says %s', payment.status,
      case when status = 'refund' then format('refund of %s in all', amount_minor) else status end);
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
  where e.event_type = excluded.event_type and private.webhook_event_claimable(e.status, e.lease_expires_at)
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

  -- The event is ours: apply it, then run the purpose's fulfilment.
  if verdict = 'processed' then
    previous_status := payment.status;
    update public.payments as p
    set status = next_status,
        paid_at = case when next_status = 'paid' and previous_status in ('pending', 'failed', 'expired')
          then happened else p.paid_at end,
        refunded_minor = refunded_after,
        refunded_at = case when refunded_after > p.refunded_minor then happened else p.refunded_at end,
        dispute_closed_at = case when action in ('dispute_won', 'dispute_lost')
          then greatest(p.dispute_closed_at, happened) else p.dispute_closed_at end
    where p.id = payment.id
    returning p.* into payment;
    if payment.purpose = 'plan' then
      perform private.fulfil_plan_payment(payment, previous_status, happened);
    end if;
  end if;
  outcome := case verdict when 'processed' then 'applied' else verdict end;
  payment_status := payment.status;
  return next;
end;
$$;

grant execute on function public.apply_payment_event(
  text, text, text, text, text, bigint, text, timestamptz, jsonb, text, text
) to service_role;
