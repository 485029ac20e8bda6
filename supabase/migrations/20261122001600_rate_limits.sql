-- Rate limits: fixed windows in one row per (namespace, subject), decided by ONE statement.
--
-- The upsert takes the row lock, so concurrent callers serialize on the key and exactly `max_requests`
-- are admitted per window, never more (a read-then-write limiter over-admits under load). Subjects (user
-- ids, IP addresses) are stored as SHA-256 hashes. private.consume_rate_limit is what other SQL
-- functions use (create_payment, the waitlist); public.consume_rate_limit exposes it to service_role.

create table private.rate_limit_buckets (
  namespace text not null,
  subject_hash bytea not null,
  window_start timestamptz not null,
  hits integer not null,
  reset_at timestamptz not null,
  primary key (namespace, subject_hash),
  -- A bucket counts at least the request that created it.
  constraint rate_limit_buckets_hits_positive check (hits > 0),
  constraint rate_limit_buckets_window_order check (reset_at > window_start)
);

comment on table private.rate_limit_buckets is 'Fixed-window request counters; subjects are hashed';

create index rate_limit_buckets_reset_at_idx on private.rate_limit_buckets (reset_at);

alter table private.rate_limit_buckets enable row level security;
grant select, insert, update, delete on private.rate_limit_buckets to service_role;

create function private.consume_rate_limit(
  namespace text,
  subject text,
  max_requests integer,
  window_seconds integer,
  now timestamptz default now()
)
returns table (
  allowed boolean, request_limit integer, remaining integer, reset_at timestamptz, retry_after_seconds integer
)
language plpgsql
volatile
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  win_start timestamptz;
  counted integer;
  resets timestamptz;
begin
  if namespace is null or namespace !~ '^[a-z0-9_.:-]{1,64}$' then
    raise exception using errcode = '22023', message = 'invalid_argument',
      detail = 'namespace must be 1-64 characters of a-z, 0-9, _ . : -';
  end if;
  if subject is null or subject = '' or char_length(subject) > 1024 then
    raise exception using errcode = '22023', message = 'invalid_argument',
      detail = 'subject must be 1-1024 characters';
  end if;
  if max_requests is null or max_requests < 1 or window_seconds is null or window_seconds < 1
    or window_seconds > 31622400 then
    raise exception using errcode = '22023', message = 'invalid_argument',
      detail = 'max_requests must be >= 1 and window_seconds between 1 and 31622400';
  end if;

  -- Windows are aligned to the epoch so every caller agrees on where one starts.
  win_start := pg_catalog.to_timestamp(
    pg_catalog.floor(extract(epoch from consume_rate_limit.now) / window_seconds) * window_seconds
  );

  insert into private.rate_limit_buckets as b (namespace, subject_hash, window_start, hits, reset_at)
  values (
    consume_rate_limit.namespace,
    pg_catalog.sha256(pg_catalog.convert_to(consume_rate_limit.subject, 'UTF8')),
    win_start,
    1,
    win_start + pg_catalog.make_interval(secs => window_seconds)
  )
  on conflict (namespace, subject_hash) do update
  -- Same window: count (capped one past the limit, so a flood cannot overflow); new window: start over.
  set hits = case when b.window_start = excluded.window_start
                  then least(b.hits, consume_rate_limit.max_requests) + 1
                  else 1 end,
      window_start = excluded.window_start,
      reset_at = excluded.reset_at
  returning b.hits, b.reset_at into counted, resets;

  allowed := counted <= max_requests;
  request_limit := max_requests;
  remaining := greatest(max_requests - counted, 0);
  reset_at := resets;
  retry_after_seconds := case when allowed then 0
    else greatest(pg_catalog.ceil(extract(epoch from resets - consume_rate_limit.now))::integer, 1) end;
  return next;
end;
$$;

create function public.consume_rate_limit(
  namespace text,
  subject text,
  max_requests integer,
  window_seconds integer
)
returns table (
  allowed boolean, "limit" integer, remaining integer, reset_at timestamptz, retry_after_seconds integer
)
language sql
volatile
security invoker
set search_path = ''
as $$
  select * from private.consume_rate_limit(namespace, subject, max_requests, window_seconds)
$$;

grant execute on function private.consume_rate_limit(text, text, integer, integer, timestamptz)
to service_role;
grant execute on function public.consume_rate_limit(text, text, integer, integer) to service_role;

-- Buckets whose window has ended count nothing; the billing cycle deletes them.
create function private.cleanup_rate_limit_buckets(now timestamptz default now())
returns integer
language sql
volatile
security definer
set search_path = ''
as $$
  with gone as (
    delete from private.rate_limit_buckets as b where b.reset_at <= cleanup_rate_limit_buckets.now returning 1
  )
  select count(*)::integer from gone
$$;

grant execute on function private.cleanup_rate_limit_buckets(timestamptz) to service_role;
