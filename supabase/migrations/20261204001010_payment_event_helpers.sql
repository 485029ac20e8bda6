-- apply_payment_event, for the last time in its big form. This SUPERSEDES public.apply_payment_event (last
-- defined in 20261204000100_payment_event_binding; same 11-argument signature, grants, results, errors and
-- ledger contents) and public.claim_webhook_event (20261122001500_webhook_ledger; same signature, grants,
-- results and errors).
--
-- Why: apply_payment_event has been restated whole three times (85, 92 and 121 lines) to change a few of
-- them, and its two rules that change most often were buried inside it: which event moves a payment from
-- which status to which (a later issue adds refund and dispute statuses), and when a ledger row may be
-- taken over (written out twice, here and in claim_webhook_event, and required to agree). Each becomes a
-- small helper that a later migration supersedes alone:
--   private.payment_transition(payment_status, event_status)  the new payment status, or null when the
--       event is stale or repeated (recorded as ignored); a VALUES table, one row per transition.
--   private.webhook_event_claimable(status, lease_expires_at) whether a delivery may take over the
--       ledger row already recorded under its key: a failed event, or a claim whose lease expired.
-- The provider lists of both RPCs become lookups in public.payment_providers (20261204001000): any
-- provider in the table may be recorded (checkout only decides what create_payment offers).
--
-- Measured, so that `make bench`'s webhook apply ratio stays where it is:
--   * the helpers are PL/pgSQL. pgbench, one client, a PL/pgSQL caller that evaluates the helper once per
--     transaction (as apply_payment_event does), 3 rounds of 5 s: against the rule written inline, a SQL
--     helper cost 25-50 us per transaction, a PL/pgSQL one 0-5 us (within the noise). A SQL function is
--     inlined only when its body is one expression without FROM and it has no SET clause; these pin
--     search_path = '' like every function here (and the transition table has a FROM), so a SQL helper is
--     planned again in every transaction, while PL/pgSQL keeps its plan for the session;
--   * the provider lookup costs a query (10-25 us the same way), so apply_payment_event makes it only when
--     no payment of the event's provider was found: a payment's provider is known by its foreign key;
--   * the whole function against the 20261204000100 version, in one cluster, alternating blocks of 200
--     unique events in one session and counting the backend's CPU time (/proc/<pid>/schedstat): 1.078 ms
--     against 1.072 ms per event at the median (+0.6%), within this shared machine's run-to-run noise.
--
-- How: apply_payment_event decides exactly as before (binding, provider, amount, then the transition
-- table), writes the ledger row with one upsert whose conflict rule is webhook_event_claimable, and applies
-- the new status with one update (paid sets paid_at and starts or extends the plan; refunded sets
-- refunded_at and reverts the plan it funded). claim_webhook_event's upsert uses the same predicate.
--
-- Lock order is unchanged: the payment row, then the ledger key. The ledger row's foreign key to
-- public.payment_providers adds a KEY SHARE lock on the provider's row, which conflicts only with changing
-- that row's code or deleting it. An event naming an unknown provider is still refused (22023) before
-- anything is written, now after the payment lookup: it may lock the payment its order id names, until the
-- refusal ends the transaction.

-- The payment state machine's transitions ------------------------------------------------------------------
-- Anything not listed is stale or repeated: recorded as ignored, nothing changes.
create function private.payment_transition(payment_status text, event_status text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  return (
    select t.next_status
    from (
      values
      ('pending', 'paid', 'paid'),
      -- Money that arrived after all is never dropped.
      ('failed', 'paid', 'paid'),
      ('expired', 'paid', 'paid'),
      ('pending', 'failed', 'failed'),
      ('pending', 'expired', 'expired'),
      ('paid', 'refunded', 'refunded')
    ) as t (from_status, event_status, next_status)
    where t.from_status = payment_transition.payment_status and t.event_status = payment_transition.event_status
  );
end;
$$;

grant execute on function private.payment_transition(text, text) to service_role;

-- The ledger's takeover rule -------------------------------------------------------------------------------
-- A delivery may take over the row already recorded under its key when that event failed (a retry), or
-- when a claim's lease ran out (its claimer crashed). Anything else is a duplicate, or in progress.
create function private.webhook_event_claimable(status text, lease_expires_at timestamptz)
returns boolean
language plpgsql
stable
set search_path = ''
as $$
begin
  return webhook_event_claimable.status = 'failed'
    or (webhook_event_claimable.status in ('received', 'processing')
      and webhook_event_claimable.lease_expires_at < pg_catalog.now());
end;
$$;

grant execute on function private.webhook_event_claimable(text, timestamptz) to service_role;

-- claim_webhook_event -------------------------------------------------------------------------------------
create or replace function public.claim_webhook_event(
  provider text, event_key text, event_type text, payload jsonb
)
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
  if not exists (select 1 from public.payment_providers as pp where pp.code = claim_webhook_event.provider) then
    raise exception using errcode = '22023', message = 'invalid_argument',
      detail = format('unknown provider %L', claim_webhook_event.provider);
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
  where e.event_type = excluded.event_type and private.webhook_event_claimable(e.status, e.lease_expires_at)
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
  happened timestamptz := least(coalesce(occurred_at, pg_catalog.now()), pg_catalog.now());
  next_status text;
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
  -- An unknown provider is refused before anything is written. A payment of the event's provider proves it
  -- known (payments.provider references the table), which spares the usual path a query; the outer test is
  -- a simple expression, evaluated without the executor.
  if payment.provider is distinct from provider then
    if not exists (select 1 from public.payment_providers as pp where pp.code = provider) then
      raise exception using errcode = '22023', message = 'invalid_argument',
        detail = format('unknown provider %L', provider);
    end if;
  end if;

  -- Decide, without writing anything yet.
  next_status := private.payment_transition(payment.status, status);
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
  elsif next_status is not null then
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

  -- The event is ours: apply it. Paid starts or extends the plan; a refund reverts the plan it funded.
  if verdict = 'processed' then
    update public.payments as p
    set status = next_status,
        paid_at = case when next_status = 'paid' then happened else p.paid_at end,
        refunded_at = case when next_status = 'refunded' then happened else p.refunded_at end
    where p.id = payment.id
    returning p.* into payment;
    if next_status = 'paid' and payment.user_id is not null then
      perform private.activate_paid_plan(payment, happened);
    elsif next_status = 'refunded' then
      perform private.revert_refunded_plan(payment, happened);
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
