-- Admin RPCs: for signed-in admins (checked in user_roles; anyone else gets 403) and the service role.
-- Each public function is a security-invoker wrapper around a definer helper in `private` that checks
-- the caller first and writes an audit entry for the call.

-- Page sizes are bounded so one call cannot read a whole table.
create function private.page_size(requested integer)
returns integer
language sql
immutable
set search_path = ''
as $$
  select least(greatest(coalesce(requested, 50), 1), 500)
$$;

grant execute on function private.page_size(integer) to authenticated, service_role;

-- admin_set_role ---------------------------------------------------------------------------------------

create function private.admin_set_role(email text, role text)
returns table (user_id uuid, user_email text, new_role text, previous_role text)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  target_id uuid;
  target_email text;
  old_role text;
  wanted text := lower(btrim(admin_set_role.role));
begin
  perform private.require_admin();
  if wanted is null or wanted not in ('member', 'admin') then
    raise exception using errcode = 'PT400', message = 'invalid_role', detail = 'role must be member or admin';
  end if;
  select u.id, u.email into target_id, target_email
  from auth.users as u where lower(u.email) = lower(btrim(admin_set_role.email));
  if target_id is null then
    raise exception using errcode = 'PT404', message = 'user_not_found',
      detail = format('No user with email %L.', admin_set_role.email);
  end if;
  -- Role changes are serialized so two concurrent demotions cannot leave zero admins.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('thinbase.admin_roles', 0));
  select r.role into old_role from public.user_roles as r where r.user_id = target_id;
  if old_role = 'admin' and wanted = 'member'
    and (select count(*) from public.user_roles as r where r.role = 'admin') <= 1 then
    raise exception using errcode = 'PT409', message = 'last_admin',
      detail = 'This is the last admin; grant admin to someone else first.';
  end if;
  insert into public.user_roles as r (user_id, role) values (target_id, wanted)
  on conflict on constraint user_roles_pkey do update set role = excluded.role;
  perform private.write_audit('admin.set_role', 'user_roles', target_id::text,
    pg_catalog.jsonb_build_object('role', old_role), pg_catalog.jsonb_build_object('role', wanted));
  return query select target_id, target_email, wanted, old_role;
end;
$$;

grant execute on function private.admin_set_role(text, text) to authenticated, service_role;

create function public.admin_set_role(email text, role text)
returns table (user_id uuid, user_email text, new_role text, previous_role text)
language sql
volatile
security invoker
set search_path = ''
as $$ select * from private.admin_set_role(email, role) $$;

grant execute on function public.admin_set_role(text, text) to authenticated, service_role;

-- admin_bootstrap ---------------------------------------------------------------------------------------

create function private.admin_bootstrap(emails text[])
returns table (email text, user_id uuid, result text)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  wanted extensions.citext[];
begin
  perform private.require_admin();
  select coalesce(array_agg(distinct lower(btrim(e))::extensions.citext), '{}')
  into wanted
  from unnest(coalesce(admin_bootstrap.emails, '{}')) as e
  where btrim(e) <> '';
  if exists (select 1 from unnest(wanted) as e where e::text !~ '^[^@\s]+@[^@\s]+$') then
    raise exception using errcode = 'PT400', message = 'invalid_email',
      detail = 'Every bootstrap entry must be an email address.';
  end if;
  update private.settings set admin_bootstrap_emails = wanted where id;

  return query
  with targets as (
    select w::text as email, u.id as user_id, r.role as old_role
    from unnest(wanted) as w
    left join auth.users as u on lower(u.email) = w::text
    left join public.user_roles as r on r.user_id = u.id
  ),
  upgraded as (
    insert into public.user_roles as r (user_id, role)
    select t.user_id, 'admin' from targets as t where t.user_id is not null and t.old_role is distinct from 'admin'
    on conflict on constraint user_roles_pkey do update set role = 'admin'
    returning r.user_id
  )
  select t.email, t.user_id,
    case when t.user_id is null then 'pending_signup'
         when t.old_role = 'admin' then 'already_admin'
         else 'upgraded' end
  from targets as t
  order by t.email;

  perform private.write_audit('admin.bootstrap', 'settings', 'admin_bootstrap_emails', null,
    pg_catalog.jsonb_build_object('emails', pg_catalog.to_jsonb(wanted::text[])));
end;
$$;

grant execute on function private.admin_bootstrap(text[]) to authenticated, service_role;

create function public.admin_bootstrap(emails text[])
returns table (email text, user_id uuid, result text)
language sql
volatile
security invoker
set search_path = ''
as $$ select * from private.admin_bootstrap(emails) $$;

grant execute on function public.admin_bootstrap(text[]) to authenticated, service_role;

-- admin_list_users --------------------------------------------------------------------------------------

create function private.admin_list_users(search text, page_limit integer, page_offset integer)
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
  perform private.write_audit('admin.list_users', 'users', null, null,
    pg_catalog.jsonb_build_object('search', search));
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

grant execute on function private.admin_list_users(text, integer, integer) to authenticated, service_role;

create function public.admin_list_users(
  search text default null, "limit" integer default 50, "offset" integer default 0
)
returns table (
  id uuid, email text, full_name text, role text, plan_code text, subscription_status text,
  current_period_end timestamptz, created_at timestamptz, last_sign_in_at timestamptz
)
language sql
volatile
security invoker
set search_path = ''
as $$ select * from private.admin_list_users(search, "limit", "offset") $$;

grant execute on function public.admin_list_users(text, integer, integer) to authenticated, service_role;

-- admin_payment_metrics ---------------------------------------------------------------------------------

create function private.admin_payment_metrics()
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
  perform private.write_audit('admin.payment_metrics', 'payments', null);
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

grant execute on function private.admin_payment_metrics() to authenticated, service_role;

create function public.admin_payment_metrics()
returns table (
  payments_total bigint, pending bigint, paid bigint, failed bigint, expired bigint, refunded bigint,
  revenue_minor_by_currency jsonb, paying_subscribers bigint
)
language sql
volatile
security invoker
set search_path = ''
as $$ select * from private.admin_payment_metrics() $$;

grant execute on function public.admin_payment_metrics() to authenticated, service_role;

-- admin_revenue_by_day ----------------------------------------------------------------------------------

create function private.admin_revenue_by_day(days integer)
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
  perform private.write_audit('admin.revenue_by_day', 'payments', null, null, pg_catalog.jsonb_build_object('days', span));
  return query
  select (p.paid_at at time zone 'UTC')::date, p.currency, sum(p.amount_minor)::bigint, count(*)
  from public.payments as p
  where p.status = 'paid' and p.paid_at >= pg_catalog.now() - pg_catalog.make_interval(days => span)
  group by 1, 2
  order by 1, 2;
end;
$$;

grant execute on function private.admin_revenue_by_day(integer) to authenticated, service_role;

create function public.admin_revenue_by_day(days integer default 30)
returns table (day date, currency text, amount_minor bigint, payments bigint)
language sql
volatile
security invoker
set search_path = ''
as $$ select * from private.admin_revenue_by_day(days) $$;

grant execute on function public.admin_revenue_by_day(integer) to authenticated, service_role;

-- admin_list_payments -----------------------------------------------------------------------------------

create function private.admin_list_payments(
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
  perform private.write_audit('admin.list_payments', 'payments', null, null, pg_catalog.jsonb_strip_nulls(
    pg_catalog.jsonb_build_object('status', status, 'provider', provider, 'since', since, 'user_id', user_id,
      'order_id', order_id)));
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

grant execute on function private.admin_list_payments(text, text, timestamptz, uuid, text, integer, integer)
to authenticated, service_role;

create function public.admin_list_payments(
  status text default null,
  provider text default null,
  since timestamptz default null,
  user_id uuid default null,
  order_id text default null,
  "limit" integer default 50,
  "offset" integer default 0
)
returns setof public.payments
language sql
volatile
security invoker
set search_path = ''
as $$
  select * from private.admin_list_payments(status, provider, since, user_id, order_id, "limit", "offset")
$$;

grant execute on function public.admin_list_payments(text, text, timestamptz, uuid, text, integer, integer)
to authenticated, service_role;

-- admin_list_webhook_events / admin_get_webhook_event -----------------------------------------------------

create function private.admin_list_webhook_events(
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
  perform private.write_audit('admin.list_webhook_events', 'webhook_events', null, null,
    pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('provider', provider, 'status', status,
      'since', since, 'order_id', order_id)));
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

grant execute on function private.admin_list_webhook_events(text, text, timestamptz, text, integer, integer)
to authenticated, service_role;

create function public.admin_list_webhook_events(
  provider text default null,
  status text default null,
  since timestamptz default null,
  order_id text default null,
  "limit" integer default 50,
  "offset" integer default 0
)
returns setof private.webhook_events
language sql
volatile
security invoker
set search_path = ''
as $$
  select * from private.admin_list_webhook_events(provider, status, since, order_id, "limit", "offset")
$$;

grant execute on function public.admin_list_webhook_events(text, text, timestamptz, text, integer, integer)
to authenticated, service_role;

create function private.admin_get_webhook_event(id uuid)
returns setof private.webhook_events
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform private.require_admin();
  perform private.write_audit('admin.get_webhook_event', 'webhook_events', admin_get_webhook_event.id::text);
  return query select e.* from private.webhook_events as e where e.id = admin_get_webhook_event.id;
  if not found then
    raise exception using errcode = 'PT404', message = 'webhook_event_not_found',
      detail = format('No webhook event %s.', admin_get_webhook_event.id);
  end if;
end;
$$;

grant execute on function private.admin_get_webhook_event(uuid) to authenticated, service_role;

create function public.admin_get_webhook_event(id uuid)
returns setof private.webhook_events
language sql
volatile
security invoker
set search_path = ''
as $$ select * from private.admin_get_webhook_event(id) $$;

grant execute on function public.admin_get_webhook_event(uuid) to authenticated, service_role;

-- admin_list_audit --------------------------------------------------------------------------------------

create function private.admin_list_audit(
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
  -- Reading the audit log is itself audited, but only for the first page: a follower polling with
  -- after_id would otherwise write an entry per poll and read its own entries back forever.
  if admin_list_audit.after_id is null then
    perform private.write_audit('admin.list_audit', 'audit_logs', null);
  end if;
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

grant execute on function private.admin_list_audit(uuid, text, text, text, timestamptz, bigint, integer)
to authenticated, service_role;

create function public.admin_list_audit(
  actor_user_id uuid default null,
  entity text default null,
  entity_id text default null,
  action text default null,
  since timestamptz default null,
  after_id bigint default null,
  "limit" integer default 50
)
returns setof private.audit_logs
language sql
volatile
security invoker
set search_path = ''
as $$
  select * from private.admin_list_audit(actor_user_id, entity, entity_id, action, since, after_id, "limit")
$$;

grant execute on function public.admin_list_audit(uuid, text, text, text, timestamptz, bigint, integer)
to authenticated, service_role;

-- admin_reset_rate_limit ---------------------------------------------------------------------------------

create function private.admin_reset_rate_limit(namespace text, subject text)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  removed integer;
begin
  perform private.require_admin();
  if namespace is null or btrim(namespace) = '' then
    raise exception using errcode = '22023', message = 'invalid_argument', detail = 'namespace is required';
  end if;
  delete from private.rate_limit_buckets as b
  where b.namespace = admin_reset_rate_limit.namespace
    and (admin_reset_rate_limit.subject is null
      or b.subject_hash = pg_catalog.sha256(pg_catalog.convert_to(admin_reset_rate_limit.subject, 'UTF8')));
  get diagnostics removed = row_count;
  perform private.write_audit('admin.reset_rate_limit', 'rate_limit_buckets', namespace, null,
    pg_catalog.jsonb_build_object('subject_given', subject is not null, 'removed', removed));
  return removed;
end;
$$;

grant execute on function private.admin_reset_rate_limit(text, text) to authenticated, service_role;

create function public.admin_reset_rate_limit(namespace text, subject text default null)
returns integer
language sql
volatile
security invoker
set search_path = ''
as $$ select private.admin_reset_rate_limit(namespace, subject) $$;

grant execute on function public.admin_reset_rate_limit(text, text) to authenticated, service_role;

-- admin_upsert_plan -------------------------------------------------------------------------------------

create function private.admin_upsert_plan(
  code text, name text, billing_interval text, prices jsonb, ai_monthly_token_cap bigint,
  ai_requests_per_window integer, ai_window_seconds integer, ai_model text, active boolean,
  description text, sort_order integer
)
returns setof public.plans
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  plan_code text := upper(btrim(admin_upsert_plan.code));
  before_row jsonb;
  after_row public.plans;
begin
  perform private.require_admin();
  if prices is not null and pg_catalog.jsonb_typeof(prices) <> 'object' then
    raise exception using errcode = 'PT400', message = 'invalid_prices',
      detail = 'prices must be an object of currency code to amount in minor units, e.g. {"USD": 900}';
  end if;
  select pg_catalog.to_jsonb(p) into before_row from public.plans as p where p.code = plan_code;

  insert into public.plans as p (
    code, name, description, billing_interval, ai_monthly_token_cap, ai_requests_per_window,
    ai_window_seconds, ai_model, active, sort_order
  ) values (
    plan_code,
    coalesce(admin_upsert_plan.name, plan_code),
    coalesce(admin_upsert_plan.description, ''),
    coalesce(admin_upsert_plan.billing_interval, 'month'),
    coalesce(admin_upsert_plan.ai_monthly_token_cap, 0),
    coalesce(admin_upsert_plan.ai_requests_per_window, 0),
    coalesce(admin_upsert_plan.ai_window_seconds, 60),
    admin_upsert_plan.ai_model,
    coalesce(admin_upsert_plan.active, true),
    coalesce(admin_upsert_plan.sort_order, 0)
  )
  on conflict on constraint plans_pkey do update set
    name = coalesce(admin_upsert_plan.name, p.name),
    description = coalesce(admin_upsert_plan.description, p.description),
    billing_interval = coalesce(admin_upsert_plan.billing_interval, p.billing_interval),
    ai_monthly_token_cap = coalesce(admin_upsert_plan.ai_monthly_token_cap, p.ai_monthly_token_cap),
    ai_requests_per_window = coalesce(admin_upsert_plan.ai_requests_per_window, p.ai_requests_per_window),
    ai_window_seconds = coalesce(admin_upsert_plan.ai_window_seconds, p.ai_window_seconds),
    ai_model = coalesce(admin_upsert_plan.ai_model, p.ai_model),
    active = coalesce(admin_upsert_plan.active, p.active),
    sort_order = coalesce(admin_upsert_plan.sort_order, p.sort_order)
  returning p.* into after_row;

  -- Given prices replace the plan's price list (a currency left out, or given null, is removed).
  if prices is not null then
    delete from public.plan_prices as pp
    where pp.plan_code = after_row.code
      and pp.currency not in (
        select upper(kv.key) from pg_catalog.jsonb_each(prices) as kv where kv.value <> 'null'::jsonb
      );
    insert into public.plan_prices as pp (plan_code, currency, amount_minor)
    select after_row.code, upper(kv.key), (kv.value #>> '{}')::bigint
    from pg_catalog.jsonb_each(prices) as kv
    where kv.value <> 'null'::jsonb
    on conflict on constraint plan_prices_pkey do update set amount_minor = excluded.amount_minor;
  end if;

  perform private.write_audit('admin.upsert_plan', 'plans', after_row.code, before_row,
    pg_catalog.to_jsonb(after_row) || pg_catalog.jsonb_build_object('prices', prices));
  return next after_row;
end;
$$;

grant execute on function private.admin_upsert_plan(
  text, text, text, jsonb, bigint, integer, integer, text, boolean, text, integer
) to authenticated, service_role;

create function public.admin_upsert_plan(
  code text,
  name text default null,
  billing_interval text default null,
  prices jsonb default null,
  ai_monthly_token_cap bigint default null,
  ai_requests_per_window integer default null,
  ai_window_seconds integer default null,
  ai_model text default null,
  active boolean default null,
  description text default null,
  sort_order integer default null
)
returns setof public.plans
language sql
volatile
security invoker
set search_path = ''
as $$
  select * from private.admin_upsert_plan(
    code, name, billing_interval, prices, ai_monthly_token_cap, ai_requests_per_window, ai_window_seconds,
    ai_model, active, description, sort_order
  )
$$;

grant execute on function public.admin_upsert_plan(
  text, text, text, jsonb, bigint, integer, integer, text, boolean, text, integer
) to authenticated, service_role;
