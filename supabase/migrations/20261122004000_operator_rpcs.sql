-- Operator RPCs: what the `thinbase` CLI needs beyond the admin RPCs of 20261122001800 — the admins and
-- the bootstrap list, one user's or one payment's whole picture, the plan catalog including inactive plans,
-- pending payments to reconcile with their provider, one rate-limit bucket, deployment diagnostics, and the
-- replay of a failed webhook event. Same shape as the admin RPCs: a security-invoker wrapper in public and
-- a security-definer helper in private that admits admins (user_roles) and the service role only, via
-- private.require_admin(), and writes an audit entry for the call. Named operator_* (not admin_*): the
-- admin_* family is the reviewed set of 20261122001800.
--
-- Replaying webhook events. The ledger kept each event's provider payload but not what the edge app
-- normalized it to (status, amount, currency, time), and the raw body the provider signed is not stored,
-- so an event cannot be verified and parsed again. From this migration on apply_payment_event() also
-- stores its normalized input in private.webhook_events.normalized. This SUPERSEDES apply_payment_event
-- from 20261122001500_webhook_ledger: same signature, grants and state machine; the only change is that
-- the ledger row records `normalized`. operator_replay_webhook_event() feeds a failed event's stored input
-- back through apply_payment_event(), whose claim re-opens failed events (attempts + 1), so a replay takes
-- exactly the path a provider's redelivery takes. Events recorded before this migration, and event types
-- the edge app does not handle, have no stored input and cannot be replayed.

alter table private.webhook_events
add column normalized jsonb,
-- What apply_payment_event was called with: an object, or null for events never applied.
add constraint webhook_events_normalized_object check (
  normalized is null or jsonb_typeof(normalized) = 'object'
);

comment on column private.webhook_events.normalized is
'The normalized event apply_payment_event received (order_id, status, amount_minor, currency, occurred_at)';

-- apply_payment_event (supersedes 20261122001500) ---------------------------------------------------------

create or replace function public.apply_payment_event(
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
      processed_at = pg_catalog.now(),
      normalized = pg_catalog.jsonb_build_object(
        'order_id', apply_payment_event.order_id,
        'status', apply_payment_event.status,
        'amount_minor', apply_payment_event.amount_minor,
        'currency', apply_payment_event.currency,
        'occurred_at', apply_payment_event.occurred_at
      )
  where e.id = event_id;
  outcome := case verdict when 'processed' then 'applied' else verdict end;
  payment_status := payment.status;
  return next;
end;
$$;

grant execute on function public.apply_payment_event(
  text, text, text, text, text, bigint, text, timestamptz, jsonb
) to service_role;

-- operator_list_admins ----------------------------------------------------------------------------------

-- Every admin, plus every address on the bootstrap list (private.settings.admin_bootstrap_emails) whatever
-- its state: role is null for an address nobody has signed up with yet.
create function private.operator_list_admins()
returns table (
  email text, user_id uuid, full_name text, role text, bootstrap boolean, role_updated_at timestamptz,
  last_sign_in_at timestamptz
)
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform private.require_admin();
  perform private.write_audit('admin.list_admins', 'user_roles', null);
  return query
  with listed as (
    select distinct lower(b::text) as email
    from private.settings as s
    cross join lateral pg_catalog.unnest(s.admin_bootstrap_emails) as b
    where s.id
  ),
  people as (
    select r.user_id as id from public.user_roles as r where r.role = 'admin'
    union
    select u.id from listed as l inner join auth.users as u on lower(u.email::text) = l.email
  )
  select
    lower(u.email::text),
    u.id,
    p.full_name,
    r.role,
    exists (select 1 from listed as l where l.email = lower(u.email::text)),
    r.updated_at,
    u.last_sign_in_at
  from people as x
  inner join auth.users as u on x.id = u.id
  left join public.profiles as p on u.id = p.id
  left join public.user_roles as r on u.id = r.user_id
  union all
  select l.email, null::uuid, null::text, null::text, true, null::timestamptz, null::timestamptz
  from listed as l
  where not exists (select 1 from auth.users as u where lower(u.email::text) = l.email)
  order by 1;
end;
$$;

grant execute on function private.operator_list_admins() to authenticated, service_role;

create function public.operator_list_admins()
returns table (
  email text, user_id uuid, full_name text, role text, bootstrap boolean, role_updated_at timestamptz,
  last_sign_in_at timestamptz
)
language sql
volatile
security invoker
set search_path = ''
as $$ select * from private.operator_list_admins() $$;

grant execute on function public.operator_list_admins() to authenticated, service_role;

-- operator_get_user -------------------------------------------------------------------------------------

-- One user by email: profile, role, subscription, the plan in effect, this UTC month's AI usage against
-- that plan's cap, and the ten most recent payments.
create function private.operator_get_user(email text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  uid uuid;
  plan public.plans;
  this_month date := private.utc_month(pg_catalog.now());
  result jsonb;
begin
  perform private.require_admin();
  select u.id into uid
  from auth.users as u
  where lower(u.email::text) = lower(btrim(operator_get_user.email));
  if uid is null then
    raise exception using errcode = 'PT404', message = 'user_not_found',
      detail = format('No user with email %L.', operator_get_user.email);
  end if;
  plan := private.effective_plan(uid);
  select pg_catalog.jsonb_build_object(
    'id', u.id,
    'email', u.email,
    'full_name', p.full_name,
    'avatar_path', p.avatar_path,
    'role', r.role,
    'created_at', u.created_at,
    'last_sign_in_at', u.last_sign_in_at,
    'subscription', (
      select pg_catalog.to_jsonb(s) - 'user_id' from public.subscriptions as s where s.user_id = uid
    ),
    'effective_plan', plan.code,
    'ai_usage', pg_catalog.jsonb_build_object(
      'month', this_month,
      'used_tokens', coalesce(m.used_tokens, 0),
      'held_tokens', coalesce(m.held_tokens, 0),
      'requests', coalesce(m.requests, 0),
      'cap', plan.ai_monthly_token_cap,
      'remaining_tokens',
      greatest(plan.ai_monthly_token_cap - coalesce(m.used_tokens, 0) - coalesce(m.held_tokens, 0), 0)
    ),
    'recent_payments', coalesce((
      select pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x) order by x.created_at desc, x.id)
      from (
        select q.id, q.order_id, q.plan_code, q.provider, q.status, q.amount_minor, q.currency, q.created_at,
          q.paid_at, q.refunded_at
        from public.payments as q
        where q.user_id = uid
        order by q.created_at desc, q.id
        limit 10
      ) as x
    ), '[]'::jsonb)
  )
  into result
  from auth.users as u
  left join public.profiles as p on u.id = p.id
  left join public.user_roles as r on u.id = r.user_id
  left join private.ai_monthly_usage as m on u.id = m.user_id and m.month = this_month
  where u.id = uid;
  perform private.write_audit('admin.get_user', 'users', uid::text);
  return result;
end;
$$;

grant execute on function private.operator_get_user(text) to authenticated, service_role;

create function public.operator_get_user(email text)
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$ select private.operator_get_user(email) $$;

grant execute on function public.operator_get_user(text) to authenticated, service_role;

-- operator_list_plans -----------------------------------------------------------------------------------

-- Every plan, active or not, with its prices and how many subscriptions are on it.
create function private.operator_list_plans()
returns table (
  code text, name text, description text, billing_interval text, ai_monthly_token_cap bigint,
  ai_requests_per_window integer, ai_window_seconds integer, ai_model text, active boolean,
  sort_order integer, prices jsonb, subscribers bigint
)
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform private.require_admin();
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

grant execute on function private.operator_list_plans() to authenticated, service_role;

create function public.operator_list_plans()
returns table (
  code text, name text, description text, billing_interval text, ai_monthly_token_cap bigint,
  ai_requests_per_window integer, ai_window_seconds integer, ai_model text, active boolean,
  sort_order integer, prices jsonb, subscribers bigint
)
language sql
volatile
security invoker
set search_path = ''
as $$ select * from private.operator_list_plans() $$;

grant execute on function public.operator_list_plans() to authenticated, service_role;

-- operator_get_payment ----------------------------------------------------------------------------------

-- One payment by id or order id, with its owner's email, the webhook events about its order (oldest first,
-- without their payloads) and its audit trail (every change to the row, oldest first).
create function private.operator_get_payment(payment text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  wanted text := btrim(operator_get_payment.payment);
  wanted_id uuid;
  target public.payments;
  result jsonb;
begin
  perform private.require_admin();
  if wanted ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    wanted_id := wanted::uuid;
  end if;
  select p.* into target from public.payments as p where p.id = wanted_id or p.order_id = wanted limit 1;
  if not found then
    raise exception using errcode = 'PT404', message = 'payment_not_found',
      detail = format('No payment with id or order id %L.', operator_get_payment.payment);
  end if;
  select pg_catalog.jsonb_build_object(
    'payment', pg_catalog.to_jsonb(target)
    || pg_catalog.jsonb_build_object(
      'user_email', (select u.email from auth.users as u where u.id = target.user_id)
    ),
    'webhook_events', coalesce((
      select pg_catalog.jsonb_agg(
        pg_catalog.to_jsonb(e) - 'payload' - 'lease_expires_at' order by e.received_at, e.id
      )
      from private.webhook_events as e where e.order_id = target.order_id
    ), '[]'::jsonb),
    'audit', coalesce((
      select pg_catalog.jsonb_agg(pg_catalog.to_jsonb(a) order by a.id)
      from private.audit_logs as a where a.entity = 'payments' and a.entity_id = target.id::text
    ), '[]'::jsonb)
  ) into result;
  perform private.write_audit('admin.get_payment', 'payments', target.id::text);
  return result;
end;
$$;

grant execute on function private.operator_get_payment(text) to authenticated, service_role;

create function public.operator_get_payment(payment text)
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$ select private.operator_get_payment(payment) $$;

grant execute on function public.operator_get_payment(text) to authenticated, service_role;

-- operator_pending_payments -----------------------------------------------------------------------------

-- Payments still waiting for their provider, created before `created_before` (oldest first): what
-- `thinbase payments reconcile` asks the providers about. With include_expired, also payments the billing
-- cycle expired: money that arrives after all is still applied (expired -> paid).
create function private.operator_pending_payments(
  created_before timestamptz, provider text, include_expired boolean, page_limit integer
)
returns setof public.payments
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform private.require_admin();
  perform private.write_audit('admin.pending_payments', 'payments', null, null, pg_catalog.jsonb_strip_nulls(
    pg_catalog.jsonb_build_object('created_before', created_before, 'provider', provider,
      'include_expired', include_expired)));
  return query
  select p.* from public.payments as p
  where (p.status = 'pending'
      or (coalesce(operator_pending_payments.include_expired, false) and p.status = 'expired'))
    and p.created_at <= coalesce(operator_pending_payments.created_before, pg_catalog.now())
    and (operator_pending_payments.provider is null or p.provider = operator_pending_payments.provider)
  order by p.created_at, p.id
  limit private.page_size(page_limit);
end;
$$;

grant execute on function private.operator_pending_payments(timestamptz, text, boolean, integer)
to authenticated, service_role;

create function public.operator_pending_payments(
  created_before timestamptz default null,
  provider text default null,
  include_expired boolean default false,
  "limit" integer default 100
)
returns setof public.payments
language sql
volatile
security invoker
set search_path = ''
as $$ select * from private.operator_pending_payments(created_before, provider, include_expired, "limit") $$;

grant execute on function public.operator_pending_payments(timestamptz, text, boolean, integer)
to authenticated, service_role;

-- operator_replay_webhook_event -------------------------------------------------------------------------

-- Re-apply a failed event from its stored normalized input, through apply_payment_event (see the header).
-- Only failed events: a processed one already did its work and an ignored one has nothing to do; an event
-- without stored input cannot be replayed. The row lock makes concurrent replays of one event take turns:
-- the second finds it no longer failed.
create function private.operator_replay_webhook_event(id uuid)
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
  select e.* into event
  from private.webhook_events as e
  where e.id = operator_replay_webhook_event.id
  for update;
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
    event.payload
  ) as a;

  perform private.write_audit('admin.replay_webhook_event', 'webhook_events', event.id::text,
    pg_catalog.jsonb_build_object('status', event.status, 'last_error', event.last_error),
    pg_catalog.jsonb_build_object('outcome', applied.outcome, 'payment_status', applied.payment_status));
  return query
  select applied.event_id::uuid, applied.outcome::text, applied.payment_status::text, event.status;
end;
$$;

grant execute on function private.operator_replay_webhook_event(uuid) to authenticated, service_role;

create function public.operator_replay_webhook_event(id uuid)
returns table (event_id uuid, outcome text, payment_status text, previous_status text)
language sql
volatile
security invoker
set search_path = ''
as $$ select * from private.operator_replay_webhook_event(id) $$;

grant execute on function public.operator_replay_webhook_event(uuid) to authenticated, service_role;

-- operator_get_rate_limit -------------------------------------------------------------------------------

-- The bucket of one subject (hashed as consume_rate_limit hashes it); no row when it has none. The audit
-- entry records the namespace only: subjects are user ids and IP addresses.
create function private.operator_get_rate_limit(namespace text, subject text)
returns table (window_start timestamptz, hits integer, reset_at timestamptz, active boolean)
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform private.require_admin();
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

grant execute on function private.operator_get_rate_limit(text, text) to authenticated, service_role;

create function public.operator_get_rate_limit(namespace text, subject text)
returns table (window_start timestamptz, hits integer, reset_at timestamptz, active boolean)
language sql
volatile
security invoker
set search_path = ''
as $$ select * from private.operator_get_rate_limit(namespace, subject) $$;

grant execute on function public.operator_get_rate_limit(text, text) to authenticated, service_role;

-- operator_diagnostics ----------------------------------------------------------------------------------

-- What `thinbase doctor` checks inside the database: the migration version, the avatars bucket, the
-- billing-cycle schedule (null when pg_cron is not installed), admins and the bootstrap list, and counts
-- that point at trouble (failed webhook events, pending payments past their expiry).
create function private.operator_diagnostics()
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  settings private.settings := private.current_settings();
  has_cron boolean := exists (select 1 from pg_catalog.pg_extension as x where x.extname = 'pg_cron');
  schedule text;
begin
  perform private.require_admin();
  if has_cron then
    -- Dynamic: the cron schema exists only where pg_cron is installed.
    execute 'select j.schedule from cron.job as j where j.jobname = $1 and j.active'
    into schedule using 'thinbase-billing-cycle';
  end if;
  perform private.write_audit('admin.diagnostics', 'settings', null);
  return pg_catalog.jsonb_build_object(
    'migration_version', private.latest_migration_version(),
    'database_time', pg_catalog.now(),
    'avatars_bucket', exists (select 1 from storage.buckets as b where b.id = 'avatars'),
    'pg_cron', has_cron,
    'billing_schedule', schedule,
    'admins', (select count(*) from public.user_roles as r where r.role = 'admin'),
    'bootstrap_emails', pg_catalog.to_jsonb(settings.admin_bootstrap_emails::text []),
    'default_plan', settings.default_plan,
    'default_currency', settings.default_currency,
    'active_plans', (select count(*) from public.plans as p where p.active),
    'failed_webhook_events', (select count(*) from private.webhook_events as e where e.status = 'failed'),
    'overdue_pending_payments', (
      select count(*) from public.payments as p where p.status = 'pending' and p.expires_at < pg_catalog.now()
    )
  );
end;
$$;

grant execute on function private.operator_diagnostics() to authenticated, service_role;

create function public.operator_diagnostics()
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$ select private.operator_diagnostics() $$;

grant execute on function public.operator_diagnostics() to authenticated, service_role;
