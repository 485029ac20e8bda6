-- The operator RPCs are the service role's alone. This SUPERSEDES the EXECUTE grants of every public and
-- private operator_* function (20261122004000_operator_rpcs, restated for public in
-- 20261122005200_api_role_privileges); the public operator_list_plans, operator_pending_payments,
-- operator_replay_webhook_event and operator_get_rate_limit (20261122004000), which absorb their private
-- definer halves (same migration; operator_replay_webhook_event's last defined in
-- 20261204000100_payment_event_binding), dropped here; and the revocation of EXECUTE on private.write_audit
-- and private.page_size from service_role (20261204000200_private_helper_grants). Every operator RPC keeps
-- its signature, results, errors and audit entry.
--
-- Why: the operator RPCs were granted to authenticated (an admin's session could call them through
-- PostgREST) although only the CLI calls them, and always as the service role. A grant nobody uses is
-- surface: each was one require_admin() away from handing a signed-in user every user's email, payment and
-- webhook payload. Their private definer halves existed only so that an admin's session could read what
-- authenticated may not; the service role reads most of it itself.
--
-- How: EXECUTE on every operator_* function is revoked from authenticated; the service role keeps it.
--   * Whole in public (security invoker; the definer half is dropped): operator_list_plans,
--     operator_pending_payments, operator_replay_webhook_event and operator_get_rate_limit. The service role
--     reads and writes every table they touch. They no longer call require_admin(): the grant is the check.
--     They need two helpers the service role could not execute: write_audit (it may insert into
--     private.audit_logs anyway, so this adds no capability) and page_size (a pure function).
--   * Still a definer half in private, now executable by the service role only, because the service role
--     lacks a privilege the half needs (as on a hosted project): operator_list_admins, operator_get_user and
--     operator_get_payment read auth.users (emails), and operator_diagnostics reads cron.job.
--
-- Lock order: operator_replay_webhook_event takes no lock of its own (20261122005000); apply_payment_event
-- locks the payment row, then the ledger key.

-- Grants: the service role only ---------------------------------------------------------------------------
revoke execute on function
public.operator_list_admins(),
public.operator_get_user(text),
public.operator_list_plans(),
public.operator_get_payment(text),
public.operator_pending_payments(timestamptz, text, boolean, integer),
public.operator_replay_webhook_event(uuid),
public.operator_get_rate_limit(text, text),
public.operator_diagnostics()
from authenticated;

revoke execute on function
private.operator_list_admins(),
private.operator_get_user(text),
private.operator_get_payment(text),
private.operator_diagnostics()
from authenticated;

-- What the whole-in-public operator RPCs call, running as the service role.
grant execute on function private.write_audit(text, text, text, jsonb, jsonb) to service_role;
grant execute on function private.page_size(integer) to service_role;

-- operator_list_plans -------------------------------------------------------------------------------------
-- Every plan, active or not, with its prices and how many subscriptions are on it.
create or replace function public.operator_list_plans()
returns table (
  code text, name text, description text, billing_interval text, ai_monthly_token_cap bigint,
  ai_requests_per_window integer, ai_window_seconds integer, ai_model text, active boolean,
  sort_order integer, prices jsonb, subscribers bigint
)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  perform private.write_audit('admin.list_plans', 'plans', null);
  return query
  select p.code, p.name, p.description, p.billing_interval, p.ai_monthly_token_cap, p.ai_requests_per_window,
    p.ai_window_seconds, p.ai_model, p.active, p.sort_order,
    coalesce(
      (select pg_catalog.jsonb_object_agg(pp.currency, pp.amount_minor order by pp.currency)
        from public.plan_prices as pp where pp.plan_code = p.code),
      '{}'::jsonb
    ),
    (select count(*) from public.subscriptions as s where s.plan_code = p.code)
  from public.plans as p
  order by p.sort_order, p.code;
end;
$$;

grant execute on function public.operator_list_plans() to service_role;

-- operator_pending_payments -------------------------------------------------------------------------------
-- Payments still waiting for their provider, created before `created_before` (oldest first): what
-- `thinbase payments reconcile` asks the providers about. With include_expired, also payments the billing
-- cycle expired: money that arrives after all is still applied (expired -> paid).
create or replace function public.operator_pending_payments(
  created_before timestamptz default null,
  provider text default null,
  include_expired boolean default false,
  "limit" integer default 100
)
returns setof public.payments
-- SQL, not PL/pgSQL: the parameter `limit` (part of the signature) is a reserved word to plpgsql_check.
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.write_audit('admin.pending_payments', 'payments', null, null, pg_catalog.jsonb_strip_nulls(
    pg_catalog.jsonb_build_object('created_before', created_before, 'provider', provider,
      'include_expired', include_expired)));
  select p.* from public.payments as p
  where (p.status = 'pending'
      or (coalesce(operator_pending_payments.include_expired, false) and p.status = 'expired'))
    and p.created_at <= coalesce(operator_pending_payments.created_before, pg_catalog.now())
    and (operator_pending_payments.provider is null or p.provider = operator_pending_payments.provider)
  order by p.created_at, p.id
  limit private.page_size(operator_pending_payments."limit");
$$;

grant execute on function public.operator_pending_payments(timestamptz, text, boolean, integer)
to service_role;

-- operator_replay_webhook_event ---------------------------------------------------------------------------
-- Re-apply a failed event from its stored normalized input (20261122004000), through apply_payment_event,
-- exactly as a redelivery would. Only failed events: a processed one already did its work and an ignored
-- one has nothing to do; an event without stored input cannot be replayed. No row lock: apply_payment_event's
-- upsert lets one of several concurrent replays through (20261122005000).
create or replace function public.operator_replay_webhook_event(id uuid)
returns table (event_id uuid, outcome text, payment_status text, previous_status text)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  event private.webhook_events;
  applied record;
begin
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

grant execute on function public.operator_replay_webhook_event(uuid) to service_role;

-- operator_get_rate_limit ---------------------------------------------------------------------------------
-- The bucket of one subject (hashed as consume_rate_limit hashes it); no row when it has none. The audit
-- entry records the namespace only: subjects are user ids and IP addresses.
create or replace function public.operator_get_rate_limit(namespace text, subject text)
returns table (window_start timestamptz, hits integer, reset_at timestamptz, active boolean)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  if operator_get_rate_limit.namespace is null or btrim(operator_get_rate_limit.namespace) = ''
    or operator_get_rate_limit.subject is null then
    raise exception using errcode = '22023', message = 'invalid_argument',
      detail = 'namespace and subject are required';
  end if;
  perform private.write_audit(
    'admin.get_rate_limit', 'rate_limit_buckets', operator_get_rate_limit.namespace
  );
  return query
  select b.window_start, b.hits, b.reset_at, b.reset_at > pg_catalog.now()
  from private.rate_limit_buckets as b
  where b.namespace = operator_get_rate_limit.namespace
    and b.subject_hash = pg_catalog.sha256(pg_catalog.convert_to(operator_get_rate_limit.subject, 'UTF8'));
end;
$$;

grant execute on function public.operator_get_rate_limit(text, text) to service_role;

-- The definer halves nothing calls any more --------------------------------------------------------------
drop function private.operator_list_plans();
drop function private.operator_pending_payments(timestamptz, text, boolean, integer);
drop function private.operator_replay_webhook_event(uuid);
drop function private.operator_get_rate_limit(text, text);
