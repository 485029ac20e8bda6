-- The audit log records what changed and who looked at one sensitive record, not every list an operator
-- views; and it names the operator behind each service-role call. This SUPERSEDES private.current_actor
-- and private.write_audit (20261122001700_audit_log; current_actor's result gains actor_label, so it is
-- dropped and created again), and, without their audit entries and otherwise unchanged, the read-only RPC
-- halves listed below (each from the migration named above it).
--
-- Why: every CLI read wrote an entry (`audit tail` audited itself, `users list` wrote one per call), so the
-- log filled with noise that buried the changes; and every entry the CLI caused said only
-- actor_kind = 'service', whoever ran it.
--
-- How:
--   * list views, metrics and diagnostics write no entry (admin_list_audit, admin_list_payments,
--     admin_list_users, admin_list_webhook_events, admin_payment_metrics, admin_revenue_by_day,
--     operator_diagnostics, operator_list_admins, operator_list_plans, operator_pending_payments); reads of
--     one record keep theirs (operator_get_user, operator_get_payment, admin_get_webhook_event,
--     operator_get_rate_limit), as do all changes; reading the audit log is never audited;
--   * private.audit_logs.actor_label: for a call as the service role, the `X-Thinbase-Operator` request
--     header (the CLI sends THINBASE_OPERATOR, default the OS user; PostgREST passes request headers to
--     SQL in `request.headers`). Only the service role's word is taken: API roles cannot name themselves.

alter table private.audit_logs add column actor_label text;
-- Who operated: short and never empty (current_actor keeps only display text: no controls, no bidi).
alter table private.audit_logs add constraint audit_logs_actor_label_length check (
  actor_label is null or char_length(actor_label) between 1 and 100
);

comment on column private.audit_logs.actor_label is
'Who operated, for service-role calls: the X-Thinbase-Operator header (the CLI''s THINBASE_OPERATOR)';

drop function private.current_actor();

create function private.current_actor(out actor_user_id uuid, out actor_kind text, out actor_label text)
returns record
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  named text;
begin
  if (select auth.role()) = 'service_role' then
    actor_kind := 'service';
    named := btrim(
      (nullif(pg_catalog.current_setting('request.headers', true), '')::jsonb)
      ->> 'x-thinbase-operator'
    );
    -- A label the column would refuse is dropped rather than failing the audited change.
    if named <> '' and char_length(named) <= 100 and private.is_display_text(named) then
      actor_label := named;
    end if;
  elsif uid is not null then
    -- Null once the user is gone: a user deleting their own account writes audit rows while the deletion
    -- cascades, and actor_user_id's foreign key would refuse a reference to the row being deleted.
    actor_user_id := (select u.id from auth.users as u where u.id = uid);
    actor_kind := case when private.is_admin(uid) then 'admin' else 'user' end;
  else
    actor_kind := 'system';
  end if;
end;
$$;

revoke execute on function private.current_actor() from public;

create or replace function private.write_audit(
  action text, entity text, entity_id text, before jsonb default null, after jsonb default null
)
returns void
language sql
volatile
security definer
set search_path = ''
as $$
  insert into private.audit_logs (actor_user_id, actor_kind, actor_label, action, entity, entity_id, before, after)
  select a.actor_user_id, a.actor_kind, a.actor_label, write_audit.action, write_audit.entity,
    write_audit.entity_id, write_audit.before, write_audit.after
  from private.current_actor() as a
$$;

-- private.admin_list_audit: from 20261122001800_admin_rpcs.sql, without its audit entry.
create or replace function private.admin_list_audit(
  actor_user_id uuid, entity text, entity_id text, action text, since timestamptz, after_id bigint,
  page_limit integer
)
returns setof private.audit_logs
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform private.require_admin();
  return query
  select a.* from private.audit_logs as a
  where (admin_list_audit.actor_user_id is null or a.actor_user_id = admin_list_audit.actor_user_id)
    and (admin_list_audit.entity is null or a.entity = admin_list_audit.entity)
    and (admin_list_audit.entity_id is null or a.entity_id = admin_list_audit.entity_id)
    and (admin_list_audit.action is null or a.action = admin_list_audit.action)
    and (admin_list_audit.since is null or a.created_at >= admin_list_audit.since)
    and (admin_list_audit.after_id is null or a.id > admin_list_audit.after_id)
  order by
    case when admin_list_audit.after_id is null then a.id end desc,
    a.id asc
  limit private.page_size(page_limit);
end;
$$;

-- private.admin_list_payments: from 20261122001800_admin_rpcs.sql, without its audit entry.
create or replace function private.admin_list_payments(
  status text, provider text, since timestamptz, user_id uuid, order_id text, page_limit integer,
  page_offset integer
)
returns setof public.payments
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform private.require_admin();
  return query
  select p.* from public.payments as p
  where (admin_list_payments.status is null or p.status = admin_list_payments.status)
    and (admin_list_payments.provider is null or p.provider = admin_list_payments.provider)
    and (admin_list_payments.since is null or p.created_at >= admin_list_payments.since)
    and (admin_list_payments.user_id is null or p.user_id = admin_list_payments.user_id)
    and (admin_list_payments.order_id is null or p.order_id = admin_list_payments.order_id)
  order by p.created_at desc, p.id
  limit private.page_size(page_limit)
  offset greatest(coalesce(page_offset, 0), 0);
end;
$$;

-- private.admin_list_users: from 20261122001800_admin_rpcs.sql, without its audit entry.
create or replace function private.admin_list_users(search text, page_limit integer, page_offset integer)
returns table (
  id uuid, email text, full_name text, role text, plan_code text, subscription_status text,
  current_period_end timestamptz, created_at timestamptz, last_sign_in_at timestamptz
)
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform private.require_admin();
  return query
  select u.id, u.email::text, p.full_name, r.role, s.plan_code, s.status, s.current_period_end,
    u.created_at, u.last_sign_in_at
  from auth.users as u
  left join public.profiles as p on p.id = u.id
  left join public.user_roles as r on r.user_id = u.id
  left join public.subscriptions as s on s.user_id = u.id
  where search is null or btrim(search) = ''
    or u.email ilike '%' || btrim(search) || '%' or p.full_name ilike '%' || btrim(search) || '%'
  order by u.created_at desc, u.id
  limit private.page_size(page_limit)
  offset greatest(coalesce(page_offset, 0), 0);
end;
$$;

-- private.admin_list_webhook_events: from 20261122001800_admin_rpcs.sql, without its audit entry.
create or replace function private.admin_list_webhook_events(
  provider text, status text, since timestamptz, order_id text, page_limit integer, page_offset integer
)
returns setof private.webhook_events
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform private.require_admin();
  return query
  select e.* from private.webhook_events as e
  where (admin_list_webhook_events.provider is null or e.provider = admin_list_webhook_events.provider)
    and (admin_list_webhook_events.status is null or e.status = admin_list_webhook_events.status)
    and (admin_list_webhook_events.since is null or e.received_at >= admin_list_webhook_events.since)
    and (admin_list_webhook_events.order_id is null or e.order_id = admin_list_webhook_events.order_id)
  order by e.received_at desc, e.id
  limit private.page_size(page_limit)
  offset greatest(coalesce(page_offset, 0), 0);
end;
$$;

-- private.admin_payment_metrics: from 20261122001800_admin_rpcs.sql, without its audit entry.
create or replace function private.admin_payment_metrics()
returns table (
  payments_total bigint, pending bigint, paid bigint, failed bigint, expired bigint, refunded bigint,
  revenue_minor_by_currency jsonb, paying_subscribers bigint
)
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform private.require_admin();
  return query
  select
    count(*),
    count(*) filter (where p.status = 'pending'),
    count(*) filter (where p.status = 'paid'),
    count(*) filter (where p.status = 'failed'),
    count(*) filter (where p.status = 'expired'),
    count(*) filter (where p.status = 'refunded'),
    coalesce((
      select pg_catalog.jsonb_object_agg(x.currency, x.total)
      from (
        select q.currency, sum(q.amount_minor) as total from public.payments as q
        where q.status = 'paid' group by q.currency
      ) as x
    ), '{}'::jsonb),
    (select count(*) from public.subscriptions as s where s.funded_by_payment_id is not null and s.status = 'active')
  from public.payments as p;
end;
$$;

-- private.admin_revenue_by_day: from 20261122001800_admin_rpcs.sql, without its audit entry.
create or replace function private.admin_revenue_by_day(days integer)
returns table (day date, currency text, amount_minor bigint, payments bigint)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  span integer := least(greatest(coalesce(days, 30), 1), 366);
begin
  perform private.require_admin();
  return query
  select (p.paid_at at time zone 'UTC')::date, p.currency, sum(p.amount_minor)::bigint, count(*)
  from public.payments as p
  where p.status = 'paid' and p.paid_at >= pg_catalog.now() - pg_catalog.make_interval(days => span)
  group by 1, 2
  order by 1, 2;
end;
$$;

-- private.operator_diagnostics: from 20261122004000_operator_rpcs.sql, without its audit entry.
create or replace function private.operator_diagnostics()
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

-- private.operator_list_admins: from 20261122004000_operator_rpcs.sql, without its audit entry.
create or replace function private.operator_list_admins()
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

-- public.operator_list_plans: from 20261204001020_operator_rpcs_service_role.sql, without its audit entry.
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

-- public.operator_pending_payments: from 20261204001020_operator_rpcs_service_role.sql, no audit entry.
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
  select p.* from public.payments as p
  where (p.status = 'pending'
      or (coalesce(operator_pending_payments.include_expired, false) and p.status = 'expired'))
    and p.created_at <= coalesce(operator_pending_payments.created_before, pg_catalog.now())
    and (operator_pending_payments.provider is null or p.provider = operator_pending_payments.provider)
  order by p.created_at, p.id
  limit private.page_size(operator_pending_payments."limit");
$$;
