-- Idempotency-Key for the edge app's money endpoints (POST /payments/checkout now; the store and wallet
-- checkouts later). A client that retries a request with the same key and the same body gets the first
-- answer back instead of a second execution; the same key with another body is refused.
--
-- The rules (the edge app's _shared/idempotency.py drives them):
--   begin_idempotent_request    a new (caller, route, key) starts; the same key and body, finished, replays
--                               the stored answer; another body is 422 idempotency_key_reused; one still
--                               running (a concurrent duplicate) is 409 idempotency_key_in_use
--   complete_idempotent_request stores the answer (2xx and 4xx)
--   release_idempotent_request  forgets a running attempt whose answer must not be stored (5xx, 429: the
--                               retry runs again)
-- Keys are scoped to the caller (auth.uid(), or the service role), so one user's key can neither replay
-- nor block another's. A key lives 24 hours (then it may be used again, as Stripe's do); an attempt that
-- crashed holds its key for `lease_seconds` (60), after which the same body may take it over.
-- Concurrency by construction: one upsert decides who runs; nobody reads and then writes.

create table private.idempotency_keys (
  caller text not null,
  route text not null,
  key text not null,
  request_hash text not null,
  state text not null default 'in_progress',
  response_status integer,
  response jsonb,
  locked_until timestamptz not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  primary key (caller, route, key),
  -- What clients may send as a key: 1 to 255 visible ASCII characters.
  constraint idempotency_keys_key_format check (key ~ '^[\x21-\x7e]{1,255}$'),
  constraint idempotency_keys_state_known check (state in ('in_progress', 'completed')),
  -- A finished request has its answer; a running one has none yet.
  constraint idempotency_keys_completed_has_answer check (
    (state = 'completed') = (response_status is not null and response is not null)
  ),
  constraint idempotency_keys_status_range check (response_status between 100 and 599),
  constraint idempotency_keys_expiry check (expires_at > created_at)
);

comment on table private.idempotency_keys is
'Idempotency-Key answers per caller and route (24 h); written only by the *_idempotent_request RPCs';

create index idempotency_keys_expires_at_idx on private.idempotency_keys (expires_at);

alter table private.idempotency_keys enable row level security;
grant select, insert, update, delete on private.idempotency_keys to service_role;

-- Who the key belongs to: the signed-in user, or the service role; nobody else may use keys.
create function private.idempotency_caller()
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
begin
  if uid is not null then
    return uid::text;
  end if;
  if (select auth.role()) = 'service_role' then
    return 'service';
  end if;
  raise exception using errcode = 'PT401', message = 'not_authenticated',
    detail = 'Idempotency keys belong to a signed-in user or the service.';
end;
$$;

create function private.begin_idempotent_request(
  route text, key text, request_hash text, lease_seconds integer default 60, now timestamptz default now()
)
returns table (state text, response_status integer, response jsonb)
language plpgsql
volatile
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  who text := private.idempotency_caller();
  started boolean;
  existing private.idempotency_keys;
begin
  if key is null or key !~ '^[\x21-\x7e]{1,255}$' then
    raise exception using errcode = 'PT400', message = 'invalid_idempotency_key',
      detail = 'Idempotency-Key must be 1-255 visible ASCII characters.';
  end if;
  if route is null or request_hash is null then
    raise exception using errcode = '22023', message = 'invalid_argument', detail = 'route and request_hash are required';
  end if;

  insert into private.idempotency_keys as k (caller, route, key, request_hash, locked_until, created_at, expires_at)
  values (
    who, begin_idempotent_request.route, begin_idempotent_request.key, begin_idempotent_request.request_hash,
    begin_idempotent_request.now + pg_catalog.make_interval(secs => lease_seconds), begin_idempotent_request.now,
    begin_idempotent_request.now + interval '24 hours'
  )
  on conflict (caller, route, key) do update
  set request_hash = excluded.request_hash, state = 'in_progress', response_status = null, response = null,
      locked_until = excluded.locked_until, created_at = excluded.created_at, expires_at = excluded.expires_at
  -- Taken over: an expired key, or an attempt with the same body whose lease ran out (it crashed).
  where k.expires_at <= excluded.created_at
    or (k.state = 'in_progress' and k.locked_until <= excluded.created_at and k.request_hash = excluded.request_hash)
  returning true into started;

  if started then
    -- The caller's own expired keys go as they are replaced (the hourly job purges everyone's).
    delete from private.idempotency_keys as k
    where k.caller = who and k.expires_at <= begin_idempotent_request.now;
    return query select 'started'::text, null::integer, null::jsonb;
    return;
  end if;

  select k.* into existing from private.idempotency_keys as k
  where k.caller = who and k.route = begin_idempotent_request.route and k.key = begin_idempotent_request.key;
  if existing.request_hash <> begin_idempotent_request.request_hash then
    raise exception using errcode = 'PT422', message = 'idempotency_key_reused',
      detail = 'This Idempotency-Key was used with a different request body.',
      hint = 'Use a new key for a new request.';
  end if;
  if existing.state = 'in_progress' then
    raise exception using errcode = 'PT409', message = 'idempotency_key_in_use',
      detail = 'A request with this Idempotency-Key is still being processed.',
      hint = 'Retry in a moment.';
  end if;
  return query select existing.state, existing.response_status, existing.response;
end;
$$;

create function private.complete_idempotent_request(
  route text, key text, response_status integer, response jsonb
)
returns boolean
language sql
volatile
security definer
set search_path = ''
as $$
  with done as (
    update private.idempotency_keys as k
    set state = 'completed', response_status = complete_idempotent_request.response_status,
        response = complete_idempotent_request.response
    where k.caller = private.idempotency_caller() and k.route = complete_idempotent_request.route
      and k.key = complete_idempotent_request.key and k.state = 'in_progress'
    returning 1
  )
  select exists (select 1 from done)
$$;

create function private.release_idempotent_request(route text, key text)
returns boolean
language sql
volatile
security definer
set search_path = ''
as $$
  with gone as (
    delete from private.idempotency_keys as k
    where k.caller = private.idempotency_caller() and k.route = release_idempotent_request.route
      and k.key = release_idempotent_request.key and k.state = 'in_progress'
    returning 1
  )
  select exists (select 1 from gone)
$$;

create function private.purge_idempotency_keys(now timestamptz default now())
returns integer
language sql
volatile
security definer
set search_path = ''
as $$
  with gone as (
    delete from private.idempotency_keys as k where k.expires_at <= purge_idempotency_keys.now returning 1
  )
  select pg_catalog.count(*)::integer from gone
$$;

-- The public RPCs: invoker wrappers; the definer halves act only on private.idempotency_caller()'s keys.
create function public.begin_idempotent_request(route text, key text, request_hash text)
returns table (state text, response_status integer, response jsonb)
language sql
volatile
security invoker
set search_path = ''
as $$ select * from private.begin_idempotent_request(route, key, request_hash) $$;

create function public.complete_idempotent_request(
  route text, key text, response_status integer, response jsonb
)
returns boolean
language sql
volatile
security invoker
set search_path = ''
as $$ select private.complete_idempotent_request(route, key, response_status, response) $$;

create function public.release_idempotent_request(route text, key text)
returns boolean
language sql
volatile
security invoker
set search_path = ''
as $$ select private.release_idempotent_request(route, key) $$;

revoke execute on function private.idempotency_caller() from public;
revoke execute on function private.begin_idempotent_request(text, text, text, integer, timestamptz)
from public;
revoke execute on function private.complete_idempotent_request(text, text, integer, jsonb) from public;
revoke execute on function private.release_idempotent_request(text, text) from public;
revoke execute on function private.purge_idempotency_keys(timestamptz) from public;
revoke execute on function public.begin_idempotent_request(text, text, text) from public;
revoke execute on function public.complete_idempotent_request(text, text, integer, jsonb) from public;
revoke execute on function public.release_idempotent_request(text, text) from public;

-- The edge app calls them as the signed-in user (so keys are the user's), or as the service.
grant execute on function private.begin_idempotent_request(text, text, text, integer, timestamptz)
to authenticated, service_role;
grant execute on function private.complete_idempotent_request(text, text, integer, jsonb)
to authenticated, service_role;
grant execute on function private.release_idempotent_request(text, text) to authenticated, service_role;
grant execute on function public.begin_idempotent_request(text, text, text) to authenticated, service_role;
grant execute on function public.complete_idempotent_request(text, text, integer, jsonb)
to authenticated, service_role;
grant execute on function public.release_idempotent_request(text, text) to authenticated, service_role;

-- Hourly where pg_cron exists (the job runs as the function's owner; no API role may call it);
-- cron.schedule with a job name replaces one of that name.
do $$
begin
  if exists (select 1 from pg_catalog.pg_extension where extname = 'pg_cron') then
    perform cron.schedule(
      'thinbase-idempotency-keys', '17 * * * *', 'select private.purge_idempotency_keys()'
    );
  end if;
end;
$$;
