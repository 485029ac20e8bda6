-- AI usage and quotas.
--
-- The edge app reserves before it calls a model and commits the real usage afterwards:
--   reserve_ai_usage(user, estimate) -> per-window request limit, then the monthly token cap (UTC month)
--   commit_ai_usage(reservation, …)  -> records ai_usage, turns the hold into real usage
-- The cap check is one conditional UPDATE on the user's month row, admitted while used + held is still
-- below the cap, so concurrent requests can overshoot the cap by at most one request's estimate.
-- Holds expire (ai_hold_seconds); expired holds are released so a crashed request does not eat quota.

alter table private.settings
add column ai_hold_seconds integer not null default 600,
-- A hold must outlive a slow streamed answer, but not by hours.
add constraint settings_ai_hold_range check (ai_hold_seconds between 30 and 86400);

create table public.ai_usage (
  id bigint generated always as identity primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  request_id uuid not null unique,
  provider text not null,
  model text not null,
  prompt_tokens integer not null,
  completion_tokens integer not null,
  created_at timestamptz not null default now(),
  -- Token counts come from the provider and are never negative.
  constraint ai_usage_tokens_nonnegative check (prompt_tokens >= 0 and completion_tokens >= 0),
  constraint ai_usage_labels_length check (char_length(provider) <= 64 and char_length(model) <= 200)
);

comment on table public.ai_usage is 'One row per AI request with the tokens the provider reported';

create index ai_usage_user_created_idx on public.ai_usage (user_id, created_at desc);

alter table public.ai_usage enable row level security;
grant select on public.ai_usage to authenticated;
grant select, insert, update, delete on public.ai_usage to service_role;

create policy ai_usage_select_own on public.ai_usage
for select to authenticated
using (user_id = (select auth.uid()));

-- Per user and UTC month: committed tokens, tokens held by requests in flight, requests made.
create table private.ai_monthly_usage (
  user_id uuid not null references auth.users (id) on delete cascade,
  month date not null,
  used_tokens bigint not null default 0,
  held_tokens bigint not null default 0,
  requests integer not null default 0,
  primary key (user_id, month),
  constraint ai_monthly_usage_nonnegative check (used_tokens >= 0 and held_tokens >= 0 and requests >= 0),
  -- Months are identified by their first day.
  constraint ai_monthly_usage_month_start check (extract(day from month) = 1)
);

create table private.ai_holds (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  month date not null,
  estimated_tokens integer not null,
  model text,
  status text not null default 'held',
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  constraint ai_holds_status_known check (status in ('held', 'released', 'committed')),
  constraint ai_holds_estimate_positive check (estimated_tokens > 0)
);

create index ai_holds_user_idx on private.ai_holds (user_id);
create index ai_holds_expiry_idx on private.ai_holds (expires_at) where status = 'held';

alter table private.ai_monthly_usage enable row level security;
alter table private.ai_holds enable row level security;
grant select, insert, update, delete on private.ai_monthly_usage, private.ai_holds to service_role;

-- The plan a user is entitled to now: their plan while active or past due, otherwise the default plan.
create function private.effective_plan(uid uuid)
returns public.plans
language sql
stable
security definer
set search_path = ''
as $$
  select p.*
  from public.plans as p
  where p.code = coalesce(
    (select s.plan_code from public.subscriptions as s
      where s.user_id = uid and s.status in ('active', 'past_due')),
    (private.current_settings()).default_plan
  )
$$;

grant execute on function private.effective_plan(uuid) to authenticated, service_role;

create function private.utc_month(at timestamptz)
returns date
language sql
immutable
set search_path = ''
as $$ select pg_catalog.date_trunc('month', at at time zone 'UTC')::date $$;

grant execute on function private.utc_month(timestamptz) to authenticated, service_role;

-- Release holds past their expiry (all users, or one). Returns how many were released.
create function private.release_expired_ai_holds(now timestamptz default now(), only_user uuid default null)
returns integer
language sql
volatile
security definer
set search_path = ''
as $$
  with released as (
    update private.ai_holds as h
    set status = 'released'
    where h.status = 'held' and h.expires_at <= release_expired_ai_holds.now
      and (only_user is null or h.user_id = only_user)
    returning h.user_id, h.month, h.estimated_tokens
  ),
  per_month as (
    select r.user_id, r.month, sum(r.estimated_tokens) as tokens from released as r group by r.user_id, r.month
  ),
  adjusted as (
    update private.ai_monthly_usage as m
    set held_tokens = greatest(m.held_tokens - pm.tokens, 0)
    from per_month as pm
    where m.user_id = pm.user_id and m.month = pm.month
    returning 1
  )
  select count(*)::integer from released
$$;

grant execute on function private.release_expired_ai_holds(timestamptz, uuid) to service_role;

create function private.reserve_ai_usage(
  user_id uuid, estimated_tokens integer, now timestamptz default now()
)
returns table (
  reservation_id uuid, model text, allowed boolean, reason text, retry_after_seconds integer,
  remaining_tokens bigint
)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  plan public.plans;
  this_month date := private.utc_month(reserve_ai_usage.now);
  limited record;
  usage private.ai_monthly_usage;
begin
  if reserve_ai_usage.user_id is null or estimated_tokens is null or estimated_tokens < 1
    or estimated_tokens > 10000000 then
    raise exception using errcode = '22023', message = 'invalid_argument',
      detail = 'user_id is required and estimated_tokens must be between 1 and 10000000';
  end if;
  -- effective_plan() falls back to the default plan for anyone, so ask auth.users: a deleted user's token
  -- can still be valid, and the month row's foreign key would otherwise fail with an opaque 23503.
  if not exists (select 1 from auth.users as u where u.id = reserve_ai_usage.user_id) then
    raise exception using errcode = 'PT404', message = 'user_not_found', detail = 'No such user.';
  end if;
  plan := private.effective_plan(reserve_ai_usage.user_id);
  if plan.code is null then
    raise exception using errcode = 'PT404', message = 'user_not_found',
      detail = 'No subscription or default plan for this user.';
  end if;
  model := plan.ai_model;

  perform private.release_expired_ai_holds(reserve_ai_usage.now, reserve_ai_usage.user_id);

  if plan.ai_requests_per_window < 1 or plan.ai_monthly_token_cap < 1 then
    allowed := false;
    reason := 'monthly_cap_reached';
    retry_after_seconds := greatest(ceil(extract(epoch from
      (this_month + interval '1 month')::timestamp at time zone 'UTC' - reserve_ai_usage.now))::integer, 1);
    remaining_tokens := 0;
    return next;
    return;
  end if;

  select * into limited from private.consume_rate_limit(
    'ai', reserve_ai_usage.user_id::text, plan.ai_requests_per_window, plan.ai_window_seconds, reserve_ai_usage.now
  );
  if not limited.allowed then
    allowed := false;
    reason := 'rate_limited';
    retry_after_seconds := limited.retry_after_seconds;
    select greatest(plan.ai_monthly_token_cap - m.used_tokens - m.held_tokens, 0) into remaining_tokens
    from private.ai_monthly_usage as m where m.user_id = reserve_ai_usage.user_id and m.month = this_month;
    remaining_tokens := coalesce(remaining_tokens, plan.ai_monthly_token_cap);
    return next;
    return;
  end if;

  insert into private.ai_monthly_usage as m (user_id, month) values (reserve_ai_usage.user_id, this_month)
  on conflict on constraint ai_monthly_usage_pkey do nothing;

  -- The decision: one conditional update under the month row's lock.
  update private.ai_monthly_usage as m
  set held_tokens = m.held_tokens + estimated_tokens
  where m.user_id = reserve_ai_usage.user_id and m.month = this_month
    and m.used_tokens + m.held_tokens < plan.ai_monthly_token_cap
  returning m.* into usage;

  if usage.user_id is null then
    allowed := false;
    reason := 'monthly_cap_reached';
    retry_after_seconds := greatest(ceil(extract(epoch from
      (this_month + interval '1 month')::timestamp at time zone 'UTC' - reserve_ai_usage.now))::integer, 1);
    remaining_tokens := 0;
    return next;
    return;
  end if;

  insert into private.ai_holds as h (user_id, month, estimated_tokens, model, created_at, expires_at)
  values (
    reserve_ai_usage.user_id, this_month, estimated_tokens, plan.ai_model, reserve_ai_usage.now,
    reserve_ai_usage.now + pg_catalog.make_interval(secs => (private.current_settings()).ai_hold_seconds)
  )
  returning h.id into reservation_id;
  allowed := true;
  retry_after_seconds := 0;
  remaining_tokens := greatest(plan.ai_monthly_token_cap - usage.used_tokens - usage.held_tokens, 0);
  return next;
end;
$$;

grant execute on function private.reserve_ai_usage(uuid, integer, timestamptz) to service_role;

create function public.reserve_ai_usage(user_id uuid, estimated_tokens integer)
returns table (
  reservation_id uuid, model text, allowed boolean, reason text, retry_after_seconds integer,
  remaining_tokens bigint
)
language sql
volatile
security invoker
set search_path = ''
as $$ select * from private.reserve_ai_usage(user_id, estimated_tokens) $$;

grant execute on function public.reserve_ai_usage(uuid, integer) to service_role;

-- Record what a reserved request really used. Idempotent per reservation; works after the hold expired
-- (the request did happen), and with zero tokens when the provider failed before producing any.
create function public.commit_ai_usage(
  reservation_id uuid,
  provider text,
  model text,
  prompt_tokens integer,
  completion_tokens integer
)
returns public.ai_usage
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  hold private.ai_holds;
  was_held boolean;
  result public.ai_usage;
begin
  if prompt_tokens is null or completion_tokens is null or prompt_tokens < 0 or completion_tokens < 0
    or provider is null or model is null then
    raise exception using errcode = '22023', message = 'invalid_argument',
      detail = 'provider, model and non-negative token counts are required';
  end if;
  select u.* into result from public.ai_usage as u where u.request_id = commit_ai_usage.reservation_id;
  if found then
    return result;
  end if;
  select h.* into hold from private.ai_holds as h where h.id = commit_ai_usage.reservation_id for update;
  if not found then
    raise exception using errcode = 'PT404', message = 'reservation_not_found',
      detail = format('No AI reservation %s.', commit_ai_usage.reservation_id);
  end if;
  -- A concurrent commit of the same reservation held the lock and won: return its row (this statement's
  -- snapshot sees it) instead of failing on request_id's unique index.
  if hold.status = 'committed' then
    select u.* into result from public.ai_usage as u where u.request_id = hold.id;
    if found then
      return result;
    end if;
  end if;
  was_held := hold.status = 'held';
  update private.ai_holds as h set status = 'committed' where h.id = hold.id;
  update private.ai_monthly_usage as m
  set used_tokens = m.used_tokens + prompt_tokens + completion_tokens,
      held_tokens = case when was_held then greatest(m.held_tokens - hold.estimated_tokens, 0) else m.held_tokens end,
      requests = m.requests + 1
  where m.user_id = hold.user_id and m.month = hold.month;
  insert into public.ai_usage as u (user_id, request_id, provider, model, prompt_tokens, completion_tokens)
  values (hold.user_id, hold.id, left(commit_ai_usage.provider, 64), left(commit_ai_usage.model, 200),
    commit_ai_usage.prompt_tokens, commit_ai_usage.completion_tokens)
  returning u.* into result;
  return result;
end;
$$;

grant execute on function public.commit_ai_usage(uuid, text, text, integer, integer) to service_role;

create function private.my_ai_usage()
returns table (
  month date, used_tokens bigint, held_tokens bigint, requests integer, cap bigint, remaining_tokens bigint,
  plan_code text
)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  plan public.plans;
begin
  if uid is null then
    raise exception using errcode = 'PT401', message = 'not_authenticated', detail = 'Sign in to see your usage.';
  end if;
  plan := private.effective_plan(uid);
  month := private.utc_month(pg_catalog.now());
  select coalesce(m.used_tokens, 0), coalesce(m.held_tokens, 0), coalesce(m.requests, 0)
  into used_tokens, held_tokens, requests
  from (select 1) as one
  left join private.ai_monthly_usage as m on m.user_id = uid and m.month = my_ai_usage.month;
  cap := plan.ai_monthly_token_cap;
  remaining_tokens := greatest(cap - used_tokens - held_tokens, 0);
  plan_code := plan.code;
  return next;
end;
$$;

grant execute on function private.my_ai_usage() to authenticated;

create function public.my_ai_usage()
returns table (
  month date, used_tokens bigint, held_tokens bigint, requests integer, cap bigint, remaining_tokens bigint,
  plan_code text
)
language sql
stable
security invoker
set search_path = ''
as $$ select * from private.my_ai_usage() $$;

grant execute on function public.my_ai_usage() to authenticated;
