-- Refunds in parts and disputes in apply_payment_event, and fulfilment by purpose. This SUPERSEDES
-- public.apply_payment_event (last defined in 20261204001010_payment_event_helpers; same 11-argument
-- signature, grants and result columns; every status it took before keeps its meaning) and
-- private.payment_transition(text, text) (20261204001010), which is dropped: the new transition needs the
-- amounts, so it is private.payment_transition(text, text, bigint, bigint, bigint).
--
-- Why: see 20261204006010_payment_refund_dispute_statuses. Events now carry normalized actions:
--   pending, paid, failed, expired                 as before;
--   refund            amount_minor is the provider's CUMULATIVE refunded amount (Stripe's amount_refunded,
--                     Lemon Squeezy's refunded_amount, Razorpay's payment amount_refunded, Midtrans'
--                     refund_amount); stored as greatest(refunded_minor, reported), so a redelivered or
--                     older report changes nothing and a second partial refund is applied;
--   refunded          (as sent before) a full refund: a refund of the whole amount;
--   dispute_opened, dispute_won, dispute_lost      a buyer's dispute with their bank.
--
-- The transitions (private.payment_transition; anything else is stale or repeated: recorded as ignored):
--   pending | failed | expired  --paid-->            paid (money that arrived after all is never dropped)
--   pending  --failed--> failed;   pending --expired--> expired
--   paid | partially_refunded   --refund-->          partially_refunded, or refunded once all of it is
--   disputed                    --refund-->          disputed, or refunded once all of it is
--   paid | partially_refunded   --dispute_opened-->  disputed
--   disputed                    --dispute_won-->     paid, or partially_refunded when a part was refunded
--   paid | partially_refunded | disputed  --dispute_lost-->  charged_back (a Midtrans chargeback arrives
--                                                    with no dispute opened first)
-- A refund is applied only when the cumulative amount grew; one above the amount, of another currency or
-- without an amount is recorded failed (refund_mismatch). A refund during a dispute keeps the payment
-- disputed unless it refunds everything, so a refund and a dispute lead to the same end state in either
-- order.
--
-- Fulfilment, by purpose, in the same transaction (the caller holds the payment's row lock):
--   plan          private.fulfil_plan_payment: paid starts or extends the plan (as before); refunded and
--                 charged_back revert the plan the payment funded (as a refund did before); disputed moves
--                 that subscription to past_due; a won dispute restores it. BEHAVIOUR CHANGE, on purpose: a
--                 partial refund keeps the plan (partial_refund used to be a full refund that took it away).
--   order, wallet_topup   have no fulfilment yet (the store's and the wallet's slices add it). A paid event
--                 for them is RECORDED FAILED (fulfilment_unavailable), not raised: the provider gets its
--                 200 and stops retrying, nothing is granted, and the failed event can be replayed
--                 (operator_replay_webhook_event) once the fulfilment exists.
--
-- Lock order is unchanged: the payment row, then the ledger key, then the subscription row (fulfilment).

drop function private.payment_transition(text, text);

-- The payment state machine's transitions ------------------------------------------------------------------
-- refunded_before/refunded_after: the payment's refunded_minor, and what it becomes with this event (the same
-- for anything but a refund). Null: stale or repeated.
create function private.payment_transition(
  payment_status text, event_status text, refunded_before bigint, refunded_after bigint, amount_minor bigint
)
returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  case event_status
    when 'paid' then
      if payment_status in ('pending', 'failed', 'expired') then
        return 'paid';
      end if;
    when 'failed', 'expired' then
      if payment_status = 'pending' then
        return event_status;
      end if;
    when 'refund' then
      if payment_status in ('paid', 'partially_refunded', 'disputed') and refunded_after > refunded_before then
        if refunded_after = amount_minor then
          return 'refunded';
        end if;
        return case when payment_status = 'disputed' then 'disputed' else 'partially_refunded' end;
      end if;
    when 'dispute_opened' then
      if payment_status in ('paid', 'partially_refunded') then
        return 'disputed';
      end if;
    when 'dispute_won' then
      if payment_status = 'disputed' then
        return case when refunded_before > 0 then 'partially_refunded' else 'paid' end;
      end if;
    when 'dispute_lost' then
      if payment_status in ('paid', 'partially_refunded', 'disputed') then
        return 'charged_back';
      end if;
    else
      null;
  end case;
  return null;
end;
$$;

grant execute on function private.payment_transition(text, text, bigint, bigint, bigint) to service_role;

-- A plan payment's fulfilment -----------------------------------------------------------------------------
-- What a transition of a plan payment does to its user's subscription. `payment` is the row after the
-- transition, `previous_status` its status before.
create function private.fulfil_plan_payment(
  payment public.payments, previous_status text, happened timestamptz
)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  if payment.status = 'paid' and previous_status in ('pending', 'failed', 'expired') then
    if payment.user_id is not null then
      perform private.activate_paid_plan(payment, happened);
    end if;
  elsif payment.status in ('refunded', 'charged_back') then
    -- All the money went back: the plan it funded ends now, as a refund always did.
    perform private.revert_refunded_plan(payment, happened);
  elsif payment.status = 'disputed' then
    -- Held until the dispute closes: past due, which the billing cycle does not lapse while the payment that
    -- funds the period is disputed (20261204006040_billing_cycle_disputes).
    update public.subscriptions as s
    set status = 'past_due', past_due_since = happened
    where s.user_id = payment.user_id and s.funded_by_payment_id = payment.id and s.status = 'active';
  elsif previous_status = 'disputed' then
    -- A won dispute: active again while the period lasts; past due from its end, as the billing cycle would
    -- have made it, when it ended meanwhile.
    update public.subscriptions as s
    set status = case when s.current_period_end is null or s.current_period_end > happened
          then 'active' else 'past_due' end,
        past_due_since = case when s.current_period_end is null or s.current_period_end > happened
          then null else s.current_period_end end
    where s.user_id = payment.user_id and s.funded_by_payment_id = payment.id and s.status = 'past_due';
  end if;
  -- partially_refunded from paid or partially_refunded: the plan stays (the behaviour change above).
end;
$$;

grant execute on function private.fulfil_plan_payment(public.payments, text, timestamptz) to service_role;

-- apply_payment_event -------------------------------------------------------------------------------------
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
        refunded_at = case when refunded_after > p.refunded_minor then happened else p.refunded_at end
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
