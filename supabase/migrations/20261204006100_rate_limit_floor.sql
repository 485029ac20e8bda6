-- The rate limiter at the floor (issue 17 §3). This SUPERSEDES the bodies of public.consume_rate_limit (last
-- defined in 20261122004900_hot_path_plpgsql) and private.consume_rate_limit (20261122001600_rate_limits):
-- same signatures, results, errors, volatility, security, search_path and grants; the table, its hashing
-- and its index stay. It adds public.rate_limit_storage(), which `thinbase doctor` reads.
--
-- Why (instructions per PostgREST-shaped transaction, counted with callgrind on a single-user backend, so
-- the neighbours on a shared machine do not blur them; the bare `(key, hits)` upsert of bench/ratelimit.py
-- is 287k): the same upsert on our table, hashing included, is 320k — key width and hashing are not where
-- the cost is. The RPC was 523k. The invoker wrapper and the definer hop behind it (a second PL/pgSQL
-- frame, a second GUC save/restore, a FunctionScan and a tuplestore between them) cost 42k; the three
-- validation IFs (each a plpgsql expression initialised again in every transaction; the regex alone 17k)
-- 46k; the window arithmetic in `numeric` spread over plpgsql assignments and `return next` 30k.
-- Now: one frame doing one statement, 465k, of which the asynchronous commit's set_config is 14k.
--
-- How:
--   * public.consume_rate_limit does the upsert itself, as the invoker: service_role, the only role that may
--     call it, already has INSERT/UPDATE on the buckets. private.consume_rate_limit (security definer, for
--     the SQL callers whose callers have no such grant: create_payment, the waitlist, contact, AI) runs the
--     same statement; sql_tests/048_rate_limit_floor.sql checks the two answer alike.
--   * validation is one boolean expression (no regex: octet_length plus ltrim over the allowed characters
--     is the same rule); the error path alone works out which rule was broken, with the same details.
--   * the window is date_bin(window, now, epoch) in the statement: the same epoch-aligned start, computed
--     on microseconds instead of numeric; the answer is the RETURNING list.
--   * asynchronous commit for the limiter's own transaction: public.consume_rate_limit sets
--     synchronous_commit off for the rest of the transaction (set_config(…, true)). A PostgREST or edge
--     call is one transaction, so only the counter's commit skips the wait for the WAL flush. Nothing can
--     be corrupted and the WAL is still written and replicated; a crash of the database loses at most
--     the last ~0.6 s (3 × wal_writer_delay) of counts: those callers get a fresh allowance (fail open,
--     for that long). Exactness under concurrency is unchanged (the row lock decides, not the flush).
--     private.consume_rate_limit never does this: it runs inside payment and sign-up transactions.
--     To make the limiter's commits wait again: `alter function public.consume_rate_limit(text, text,
--     integer, integer) set synchronous_commit = on` (a SET clause restores the value on exit).
--   * the storage stays logged; `thinbase ratelimit storage unlogged` is the operator's choice (README).
--
-- Lock order: one row lock, the bucket's; nothing else is locked.

create or replace function private.consume_rate_limit(
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
begin
  if not coalesce(
    pg_catalog.octet_length(namespace) between 1 and 64
    and pg_catalog.ltrim(namespace, 'abcdefghijklmnopqrstuvwxyz0123456789_.:-') = ''
    and pg_catalog.char_length(subject) between 1 and 1024
    and max_requests >= 1 and window_seconds between 1 and 31622400, false
  ) then
    perform private.rate_limit_invalid_argument(namespace, subject, max_requests, window_seconds);
  end if;

  -- Windows are aligned to the epoch so every caller agrees on where one starts. Same window: count
  -- (capped one past the limit, so a flood cannot overflow); new window: start over.
  return query
  insert into private.rate_limit_buckets as b (namespace, subject_hash, window_start, hits, reset_at)
  select consume_rate_limit.namespace,
    pg_catalog.sha256(pg_catalog.convert_to(consume_rate_limit.subject, 'UTF8')), w.start, 1, w.start + w.span
  from (
    select pg_catalog.date_bin(s.span, consume_rate_limit.now, '1970-01-01 00:00:00+00') as start, s.span
    from (select consume_rate_limit.window_seconds * interval '1 second' as span) as s
  ) as w
  on conflict (namespace, subject_hash) do update
  set hits = case when b.window_start = excluded.window_start
                  then least(b.hits, consume_rate_limit.max_requests) + 1
                  else 1 end,
      window_start = excluded.window_start,
      reset_at = excluded.reset_at
  returning b.hits <= consume_rate_limit.max_requests, consume_rate_limit.max_requests,
    greatest(consume_rate_limit.max_requests - b.hits, 0), b.reset_at,
    case when b.hits <= consume_rate_limit.max_requests then 0
    else greatest(pg_catalog.ceil(extract(epoch from b.reset_at - consume_rate_limit.now))::integer, 1) end;
end;
$$;

-- The error path of both functions: which rule was broken, with the details callers have always had.
create function private.rate_limit_invalid_argument(
  namespace text, subject text, max_requests integer, window_seconds integer
)
returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
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
  -- Unreachable from the two limiters (their one expression is these three rules), but never silent.
  raise exception using errcode = '22023', message = 'invalid_argument', detail = 'arguments out of range';
end;
$$;

-- Called by the two limiters only: the definer as its owner, the public one as service_role.
revoke execute on function private.rate_limit_invalid_argument(text, text, integer, integer)
from public, anon, authenticated;
grant execute on function private.rate_limit_invalid_argument(text, text, integer, integer) to service_role;

create or replace function public.consume_rate_limit(
  namespace text,
  subject text,
  max_requests integer,
  window_seconds integer
)
returns table (
  allowed boolean, "limit" integer, remaining integer, reset_at timestamptz, retry_after_seconds integer
)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
begin
  -- "limit" (the API's name, X-RateLimit-Limit) is a reserved word to plpgsql_check; only that class of
  -- warning is off here.
  -- @plpgsql_check_options: other_warnings = false
  if not coalesce(
    pg_catalog.octet_length(namespace) between 1 and 64
    and pg_catalog.ltrim(namespace, 'abcdefghijklmnopqrstuvwxyz0123456789_.:-') = ''
    and pg_catalog.char_length(subject) between 1 and 1024
    and max_requests >= 1 and window_seconds between 1 and 31622400, false
  ) then
    perform private.rate_limit_invalid_argument(namespace, subject, max_requests, window_seconds);
  end if;
  -- This transaction is the limiter's alone (PostgREST and the edge app make one per call): its commit
  -- need not wait for the WAL flush (see the header for what a crash can lose).
  perform pg_catalog.set_config('synchronous_commit', 'off', true);

  -- The statement of private.consume_rate_limit, with now() for its `now`.
  return query
  insert into private.rate_limit_buckets as b (namespace, subject_hash, window_start, hits, reset_at)
  select consume_rate_limit.namespace,
    pg_catalog.sha256(pg_catalog.convert_to(consume_rate_limit.subject, 'UTF8')), w.start, 1, w.start + w.span
  from (
    select pg_catalog.date_bin(s.span, pg_catalog.now(), '1970-01-01 00:00:00+00') as start, s.span
    from (select consume_rate_limit.window_seconds * interval '1 second' as span) as s
  ) as w
  on conflict (namespace, subject_hash) do update
  set hits = case when b.window_start = excluded.window_start
                  then least(b.hits, consume_rate_limit.max_requests) + 1
                  else 1 end,
      window_start = excluded.window_start,
      reset_at = excluded.reset_at
  returning b.hits <= consume_rate_limit.max_requests, consume_rate_limit.max_requests,
    greatest(consume_rate_limit.max_requests - b.hits, 0), b.reset_at,
    case when b.hits <= consume_rate_limit.max_requests then 0
    else greatest(pg_catalog.ceil(extract(epoch from b.reset_at - pg_catalog.now()))::integer, 1) end;
end;
$$;

-- Which storage the buckets use, for `thinbase doctor`: 'logged' (the default) or 'unlogged' (chosen
-- with `thinbase ratelimit storage unlogged`, which the migration role runs; no API role can alter tables).
create function public.rate_limit_storage()
returns text
language sql
stable
security invoker
set search_path = ''
as $$
  select case c.relpersistence when 'u' then 'unlogged' else 'logged' end
  from pg_catalog.pg_class as c
  where c.oid = 'private.rate_limit_buckets'::pg_catalog.regclass
$$;

revoke execute on function public.rate_limit_storage() from public, anon, authenticated;
grant execute on function public.rate_limit_storage() to service_role;
