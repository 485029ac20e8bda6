-- The webhook ledger and the payment state machine.
--
-- Providers deliver at least once and out of order. Every delivery is claimed in
-- private.webhook_events under a unique (provider, event_key); only the claimer processes it.
-- apply_payment_event() does claim + payment transition + subscription change + audit + mark processed in
-- ONE transaction, so an event is either fully applied exactly once or not at all (and then retried).
--
-- Payment transitions (anything else is recorded as ignored and changes nothing):
--   pending          -> paid | failed | expired
--   failed, expired  -> paid      (the money arrived after all: it is never dropped)
--   paid             -> refunded
-- A paid event whose amount or currency differs from the payment is recorded as failed.

create table private.webhook_events (
  id uuid primary key default gen_random_uuid(),
  provider text not null,
  event_key text not null,
  event_type text not null,
  order_id text,
  payload jsonb not null default '{}',
  status text not null default 'received',
  attempts integer not null default 0,
  last_error text,
  lease_expires_at timestamptz,
  received_at timestamptz not null default now(),
  processed_at timestamptz,
  updated_at timestamptz not null default now(),
  constraint webhook_events_provider_known check (
    provider in ('midtrans', 'doku', 'stripe', 'lemonsqueezy', 'razorpay')
  ),
  constraint webhook_events_status_known check (
    status in ('received', 'processing', 'processed', 'failed', 'ignored')
  ),
  -- The ledger's key: one row per provider event, however often it is delivered.
  constraint webhook_events_provider_event_key unique (provider, event_key),
  constraint webhook_events_key_length check (char_length(event_key) between 1 and 255),
  constraint webhook_events_type_length check (char_length(event_type) between 1 and 255),
  -- A claim in progress always has a lease; a closed one never does.
  constraint webhook_events_lease check ((status = 'processing') = (lease_expires_at is not null))
);

comment on table private.webhook_events is 'Idempotent ledger of provider webhook deliveries';

create index webhook_events_order_id_idx on private.webhook_events (order_id);
create index webhook_events_status_idx on private.webhook_events (status, received_at desc);
create index webhook_events_received_at_idx on private.webhook_events (received_at desc);

create trigger webhook_events_touch_updated_at
before update on private.webhook_events
for each row execute function private.touch_updated_at();

alter table private.webhook_events enable row level security;
grant select, insert, update, delete on private.webhook_events to service_role;

-- Claim a delivery. One statement decides: a new key, a failed event or an expired lease is claimed;
-- anything else reports what it found. A concurrent duplicate waits on the key's row lock and then sees
-- the committed outcome.
create function public.claim_webhook_event(provider text, event_key text, event_type text, payload jsonb)
returns table (event_id uuid, outcome text)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  lease interval := pg_catalog.make_interval(secs => (private.current_settings()).webhook_lease_seconds);
  existing private.webhook_events;
begin
  if provider is null or event_key is null or event_type is null or btrim(event_key) = '' then
    raise exception using errcode = '22023', message = 'invalid_argument',
      detail = 'provider, event_key and event_type are required';
  end if;
  if provider not in ('midtrans', 'doku', 'stripe', 'lemonsqueezy', 'razorpay') then
    raise exception using errcode = '22023', message = 'invalid_argument',
      detail = format('unknown provider %L', provider);
  end if;
  insert into private.webhook_events as e (
    provider, event_key, event_type, payload, status, attempts, lease_expires_at
  ) values (
    claim_webhook_event.provider, claim_webhook_event.event_key, claim_webhook_event.event_type,
    coalesce(claim_webhook_event.payload, '{}'::jsonb), 'processing', 1, pg_catalog.now() + lease
  )
  on conflict (provider, event_key) do update
  set status = 'processing',
      attempts = e.attempts + 1,
      lease_expires_at = pg_catalog.now() + lease,
      payload = excluded.payload,
      last_error = null
  where e.event_type = excluded.event_type
    and (e.status = 'failed' or (e.status in ('received', 'processing') and e.lease_expires_at < pg_catalog.now()))
  returning e.id into event_id;
  if event_id is not null then
    outcome := 'claimed';
    return next;
    return;
  end if;

  select e.* into existing
  from private.webhook_events as e
  where e.provider = claim_webhook_event.provider and e.event_key = claim_webhook_event.event_key;
  if existing.event_type <> claim_webhook_event.event_type then
    raise exception using errcode = 'PT409', message = 'event_type_mismatch',
      detail = format('Event %s of %s was recorded as %s, not %s.', existing.event_key, existing.provider,
        existing.event_type, claim_webhook_event.event_type);
  end if;
  event_id := existing.id;
  outcome := case when existing.status = 'processing' then 'in_progress' else 'duplicate' end;
  return next;
end;
$$;

grant execute on function public.claim_webhook_event(text, text, text, jsonb) to service_role;

-- Close a claim: processed, ignored or failed (failed events may be claimed again).
create function public.complete_webhook_event(event_id uuid, status text, error text default null)
returns private.webhook_events
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  result private.webhook_events;
begin
  if status is null or status not in ('processed', 'ignored', 'failed') then
    raise exception using errcode = '22023', message = 'invalid_argument',
      detail = 'status must be processed, ignored or failed';
  end if;
  update private.webhook_events as e
  set status = complete_webhook_event.status,
      last_error = left(complete_webhook_event.error, 2000),
      lease_expires_at = null,
      processed_at = pg_catalog.now()
  where e.id = complete_webhook_event.event_id
  returning e.* into result;
  if not found then
    raise exception using errcode = 'PT404', message = 'webhook_event_not_found',
      detail = format('No webhook event %s.', event_id);
  end if;
  return result;
end;
$$;

grant execute on function public.complete_webhook_event(uuid, text, text) to service_role;

-- A paid payment starts or extends its plan, exactly once (the caller holds the payment's row lock).
create function private.activate_paid_plan(payment public.payments, paid_at timestamptz)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
  sub public.subscriptions;
  plan_interval interval;
  starts timestamptz;
begin
  select pg_catalog.make_interval(
    months => case when p.billing_interval = 'month' then 1 else 0 end,
    years => case when p.billing_interval = 'year' then 1 else 0 end
  ) into strict plan_interval
  from public.plans as p where p.code = payment.plan_code;

  select s.* into sub from public.subscriptions as s where s.user_id = payment.user_id for update;
  if not found then
    insert into public.subscriptions (user_id, plan_code, status, current_period_start, current_period_end,
      funded_by_payment_id)
    values (payment.user_id, payment.plan_code, 'active', paid_at, paid_at + plan_interval, payment.id);
    return;
  end if;

  if sub.plan_code = payment.plan_code and sub.current_period_end is not null
    and sub.status in ('active', 'past_due')
    and sub.current_period_end
      + pg_catalog.make_interval(days => (private.current_settings()).grace_days) >= paid_at then
    -- Same plan, still current or within grace: the new period follows the current one.
    starts := sub.current_period_end;
  else
    -- A new plan (or a lapsed one) starts a fresh period now.
    starts := paid_at;
  end if;

  update public.subscriptions as s
  set plan_code = payment.plan_code,
      status = 'active',
      current_period_start = case when starts = sub.current_period_end then s.current_period_start else starts end,
      current_period_end = starts + plan_interval,
      cancel_at_period_end = false,
      canceled_at = null,
      past_due_since = null,
      funded_by_payment_id = payment.id
  where s.user_id = payment.user_id;
end;
$$;

grant execute on function private.activate_paid_plan(public.payments, timestamptz) to service_role;

-- A refund of the payment that funded the current period returns the user to the default (free) plan.
create function private.revert_refunded_plan(payment public.payments, refunded_at timestamptz)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  update public.subscriptions as s
  set plan_code = (private.current_settings()).default_plan,
      status = 'active',
      current_period_start = refunded_at,
      current_period_end = null,
      cancel_at_period_end = false,
      canceled_at = null,
      past_due_since = null,
      funded_by_payment_id = null
  where s.user_id = payment.user_id and s.funded_by_payment_id = payment.id;
end;
$$;

grant execute on function private.revert_refunded_plan(public.payments, timestamptz) to service_role;

create function public.apply_payment_event(
  provider text,
  event_key text,
  event_type text,
  order_id text,
  status text,
  amount_minor bigint default null,
  currency text default null,
  occurred_at timestamptz default null,
  payload jsonb default '{}'
)
returns table (event_id uuid, outcome text, payment_status text)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_variable
declare
  claim record;
  payment public.payments;
  happened timestamptz := least(coalesce(occurred_at, pg_catalog.now()), pg_catalog.now());
  verdict text;
  reason text;
begin
  if status is null or status not in ('pending', 'paid', 'failed', 'expired', 'refunded') then
    raise exception using errcode = '22023', message = 'invalid_argument',
      detail = 'status must be pending, paid, failed, expired or refunded';
  end if;

  select c.event_id, c.outcome into claim
  from public.claim_webhook_event(provider, event_key, event_type, payload) as c;
  event_id := claim.event_id;
  if claim.outcome <> 'claimed' then
    outcome := claim.outcome;
    select p.status into payment_status from public.payments as p where p.order_id = apply_payment_event.order_id;
    return next;
    return;
  end if;

  select p.* into payment from public.payments as p where p.order_id = apply_payment_event.order_id for update;
  if not found then
    verdict := 'ignored';
    reason := 'unknown_order';
  elsif payment.provider <> apply_payment_event.provider then
    verdict := 'failed';
    reason := format('provider_mismatch: order belongs to %s', payment.provider);
  elsif status = 'paid' and (amount_minor is distinct from payment.amount_minor
    or upper(currency) is distinct from payment.currency) then
    verdict := 'failed';
    reason := format('amount_mismatch: expected %s %s, got %s %s',
      payment.amount_minor, payment.currency, amount_minor, currency);
  elsif status = 'paid' and payment.status in ('pending', 'failed', 'expired') then
    update public.payments as p set status = 'paid', paid_at = happened where p.id = payment.id
    returning p.* into payment;
    if payment.user_id is not null then
      perform private.activate_paid_plan(payment, happened);
    end if;
    verdict := 'processed';
  elsif status in ('failed', 'expired') and payment.status = 'pending' then
    update public.payments as p set status = apply_payment_event.status where p.id = payment.id
    returning p.* into payment;
    verdict := 'processed';
  elsif status = 'refunded' and payment.status = 'paid' then
    update public.payments as p set status = 'refunded', refunded_at = happened where p.id = payment.id
    returning p.* into payment;
    perform private.revert_refunded_plan(payment, happened);
    verdict := 'processed';
  else
    verdict := 'ignored';
    reason := format('stale_or_repeated: payment is %s, event says %s', payment.status, status);
  end if;

  update private.webhook_events as e
  set status = verdict,
      order_id = apply_payment_event.order_id,
      last_error = reason,
      lease_expires_at = null,
      processed_at = pg_catalog.now()
  where e.id = event_id;
  outcome := case verdict when 'processed' then 'applied' else verdict end;
  payment_status := payment.status;
  return next;
end;
$$;

grant execute on function public.apply_payment_event(
  text, text, text, text, text, bigint, text, timestamptz, jsonb
) to service_role;
