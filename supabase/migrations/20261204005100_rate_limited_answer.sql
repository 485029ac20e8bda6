-- A rate-limited call that clients make straight through PostgREST answers like an HTTP API should: 429
-- with Retry-After and X-RateLimit-* headers and a readable JSON body. This SUPERSEDES private.join_waitlist
-- (last defined in 20261204000300_rate_limit_ip_subject): same signature, result, grants and limits; only
-- its refusal changes.
--
-- Why: join_waitlist raised PT429 with its data as JSON text inside `detail` and no Retry-After, so a
-- client of PostgREST had to parse an error string to learn when to retry. A function cannot set response
-- headers on an error through `response.headers` (the GUC goes with the rolled-back transaction);
-- PostgREST's way is `raise sqlstate 'PGRST'` with the body as JSON in MESSAGE and the status and headers as
-- JSON in DETAIL (docs.postgrest.org, "Raise errors with HTTP Status Codes"). The local gateway and the
-- psycopg port honour the same contract.
--
-- How: private.raise_rate_limited(...) builds that error from what consume_rate_limit answered; the body is
-- {"code": "rate_limited", "message": <hint>, "details": <the same data as JSON text, as before>, "hint"}.

create function private.raise_rate_limited(
  retry_after_seconds integer, request_limit integer, reset_at timestamptz, message text
)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
  retry text := greatest(coalesce(retry_after_seconds, 60), 1)::text;
begin
  raise sqlstate 'PGRST' using
    message = pg_catalog.json_build_object(
      'code', 'rate_limited',
      'message', message,
      'details', pg_catalog.json_build_object(
        'retry_after_seconds', retry_after_seconds, 'limit', request_limit, 'reset_at', reset_at
      )::text,
      'hint', 'Retry after ' || retry || ' s (Retry-After).'
    )::text,
    detail = pg_catalog.json_build_object(
      'status', 429,
      'headers', pg_catalog.json_build_object(
        'Retry-After', retry,
        'X-RateLimit-Limit', request_limit::text,
        'X-RateLimit-Remaining', '0',
        'X-RateLimit-Reset', pg_catalog.floor(pg_catalog.date_part('epoch', reset_at))::bigint::text
      )
    )::text;
end;
$$;

revoke execute on function private.raise_rate_limited(integer, integer, timestamptz, text) from public;

create or replace function private.join_waitlist(email text, source text)
returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  settings private.settings := private.current_settings();
  address text := private.normalize_email(join_waitlist.email);
  ip text := private.request_client_ip();
  limited record;
  added uuid;
begin
  select * into limited from private.consume_rate_limit(
    'waitlist', coalesce(private.rate_limit_ip_subject(ip), 'unknown-ip'), settings.waitlist_limit,
    settings.waitlist_window_seconds
  );
  if not limited.allowed then
    perform private.raise_rate_limited(
      limited.retry_after_seconds, limited.request_limit, limited.reset_at,
      'Too many sign-ups from this address; try again later.'
    );
  end if;
  insert into public.waitlist as w (email, source, ip_hash)
  values (address, coalesce(left(nullif(btrim(join_waitlist.source), ''), 64), 'web'), private.hash_ip(ip))
  on conflict on constraint waitlist_email_key do nothing
  returning w.id into added;
  return case when added is null then 'already_joined' else 'joined' end;
end;
$$;

revoke execute on function private.join_waitlist(text, text) from public, service_role;
grant execute on function private.join_waitlist(text, text) to anon, authenticated;
