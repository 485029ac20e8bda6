-- Per-IP rate limits bucket IPv6 clients by /64. This SUPERSEDES private.join_waitlist (from
-- 20261122002100_waitlist) and public.record_contact_submission (from 20261122002400_contact_submissions):
-- same signatures, results, volatility, security, search_path and grants; only the rate-limit subject
-- changes. private.request_client_ip() (20261122002000) is unchanged: it still picks which address to
-- trust.
--
-- Why: both limiters used the exact client address as the subject. One IPv6 /64 is one home, phone or VM
-- (the smallest prefix a provider hands out, and what SLAAC needs), and its holder can use any of its 2^64
-- addresses: with per-address buckets the waitlist and contact limits (5 an hour) did not limit IPv6
-- clients at all.
--
-- How: one helper, private.rate_limit_ip_subject(ip), forms every per-IP subject: an IPv4 address as it is
-- (the subjects IPv4 clients had before, so their open buckets carry on), an IPv6 address as its /64 in
-- text form ('2001:db8:1:2::/64', which is also what `thinbase ratelimit show|reset` take), an IPv4-mapped
-- IPv6 address (a dual-stack socket's '::ffff:203.0.113.9') as the IPv4 address it carries, and anything
-- that is not an address as null, which the limiters put in the shared 'unknown-ip' bucket as before.
-- The stored ip_hash stays per address: it is there to spot abuse, not to limit.

create function private.rate_limit_ip_subject(ip text)
returns text
language plpgsql
immutable
security invoker
set search_path = ''
as $$
declare
  address inet;
begin
  if ip is null or btrim(ip) = '' then
    return null;
  end if;
  begin
    address := btrim(ip)::inet;
  exception when invalid_text_representation then
    return null;
  end;
  if pg_catalog.family(address) = 4 then
    return pg_catalog.host(address);
  end if;
  if address <<= '::ffff:0.0.0.0/96'::inet then
    return pg_catalog.host('0.0.0.0'::inet + (address - '::ffff:0.0.0.0'::inet));
  end if;
  return pg_catalog.network(pg_catalog.set_masklen(address, 64))::text;
end;
$$;

comment on function private.rate_limit_ip_subject(text) is
'Per-IP rate-limit subject of a client IP: IPv4 as is, IPv6 by /64, IPv4-mapped as IPv4; null if no IP';

-- join_waitlist is security definer: it calls the helper as its owner. record_contact_submission is
-- security invoker, called by the edge app as service_role.
revoke execute on function private.rate_limit_ip_subject(text) from public, anon, authenticated;
grant execute on function private.rate_limit_ip_subject(text) to service_role;

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
    raise exception using errcode = 'PT429', message = 'rate_limited',
      detail = pg_catalog.json_build_object(
        'retry_after_seconds', limited.retry_after_seconds, 'limit', limited.request_limit,
        'reset_at', limited.reset_at
      )::text,
      hint = 'Too many sign-ups from this address; try again later.';
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

-- client_ip is what the edge app determined from TRUSTED_PROXY_HEADER (null when unknown).
create or replace function public.record_contact_submission(
  name text, email text, message text, client_ip text default null
)
returns private.contact_submissions
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  settings private.settings := private.current_settings();
  limited record;
  result private.contact_submissions;
begin
  if name is null or btrim(name) = '' or char_length(btrim(name)) > 200 or name ~ '[[:cntrl:]]' then
    raise exception using errcode = 'PT400', message = 'invalid_name',
      detail = 'A name is 1-200 characters on one line.';
  end if;
  -- Blank means nothing but white space of any kind (btrim alone strips only spaces: '\n' would pass).
  if message is null or message !~ '[^[:space:]]' or char_length(message) > 5000 then
    raise exception using errcode = 'PT400', message = 'invalid_message', detail = 'A message is 1-5000 characters.';
  end if;
  select * into limited from private.consume_rate_limit(
    'contact', coalesce(private.rate_limit_ip_subject(client_ip), 'unknown-ip'), settings.contact_limit,
    settings.contact_window_seconds
  );
  if not limited.allowed then
    raise exception using errcode = 'PT429', message = 'rate_limited',
      detail = pg_catalog.json_build_object(
        'retry_after_seconds', limited.retry_after_seconds, 'limit', limited.request_limit,
        'reset_at', limited.reset_at
      )::text,
      hint = 'Too many messages from this address; try again later.';
  end if;
  insert into private.contact_submissions as c (name, email, message, ip_hash)
  values (btrim(record_contact_submission.name), private.normalize_email(record_contact_submission.email),
    record_contact_submission.message, private.hash_ip(nullif(btrim(client_ip), '')))
  returning c.* into result;
  return result;
end;
$$;

revoke execute on function public.record_contact_submission(text, text, text, text)
from public, anon, authenticated;
grant execute on function public.record_contact_submission(text, text, text, text) to service_role;
