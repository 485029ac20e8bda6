-- reserve_ai_usage also reports the request limit it applied. This SUPERSEDES public.reserve_ai_usage and
-- private.reserve_ai_usage from 20261122002200_ai_usage: same arguments, grants, decisions and columns, plus
-- a last column `request_limit` (the plan's ai_requests_per_window, the limit the answer was decided by).
--
-- Why: a refused AI request answers 429 with X-RateLimit-Limit, and only the database knows which plan,
-- active or grandfathered, the limit came from at that moment. Adding an output column changes the row
-- type, which `create or replace` cannot do, so both functions are dropped and created again (nothing in
-- SQL depends on them; the edge app reads columns by name).

drop function public.reserve_ai_usage(uuid, integer);
drop function private.reserve_ai_usage(uuid, integer, timestamptz);

create function private.reserve_ai_usage(
  user_id uuid, estimated_tokens integer, now timestamptz default now()
)
returns table (
  reservation_id uuid, model text, allowed boolean, reason text, retry_after_seconds integer,
  remaining_tokens bigint, request_limit integer
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
  request_limit := plan.ai_requests_per_window;

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
  remaining_tokens bigint, request_limit integer
)
language sql
volatile
security invoker
set search_path = ''
as $$ select * from private.reserve_ai_usage(user_id, estimated_tokens) $$;

grant execute on function public.reserve_ai_usage(uuid, integer) to service_role;
