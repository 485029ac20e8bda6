-- Which client IP to trust, for per-IP rate limits (waitlist, contact form).
--
-- Clients can put anything in X-Forwarded-For; only the entries appended by proxies we run behind are
-- trustworthy. So the operator names the header (client_ip_header) and, for a list header like
-- X-Forwarded-For, how many trusted proxies append to it (client_ip_trusted_hops): the client IP is the
-- entry that many places from the RIGHT. Default: X-Forwarded-For with one trusted hop, which is what a
-- Supabase project's API gateway appends. Behind Cloudflare use cf-connecting-ip (a single value).
-- IPs are stored only as salted SHA-256 hashes.

alter table private.settings
add column client_ip_header text not null default 'x-forwarded-for',
add column client_ip_trusted_hops integer not null default 1,
add column ip_hash_salt bytea not null default extensions.gen_random_bytes(32),
add column waitlist_limit integer not null default 5,
add column waitlist_window_seconds integer not null default 3600,
add column contact_limit integer not null default 5,
add column contact_window_seconds integer not null default 3600,
-- Header names are lower-case, as PostgREST stores them in request.headers.
add constraint settings_client_ip_header_format check (client_ip_header ~ '^[a-z0-9-]{1,64}$'),
-- At least the closest proxy is trusted; more than ten proxies in a chain is a misconfiguration.
add constraint settings_client_ip_hops_range check (client_ip_trusted_hops between 1 and 10),
add constraint settings_form_limits_positive check (
  waitlist_limit > 0 and waitlist_window_seconds > 0 and contact_limit > 0 and contact_window_seconds > 0
);

-- The client IP of the current request (PostgREST's request.headers), or null when the header is absent
-- or the chain is shorter than the trusted hops.
create function private.request_client_ip()
returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  settings private.settings := private.current_settings();
  raw text := nullif(current_setting('request.headers', true), '')::jsonb ->> settings.client_ip_header;
  hops text[];
  picked text;
begin
  if raw is null or btrim(raw) = '' then
    return null;
  end if;
  hops := pg_catalog.string_to_array(raw, ',');
  if pg_catalog.cardinality(hops) < settings.client_ip_trusted_hops then
    return null;
  end if;
  picked := btrim(hops[pg_catalog.cardinality(hops) - settings.client_ip_trusted_hops + 1]);
  -- Only something that parses as an address counts; anything else is treated as unknown.
  begin
    return host(picked::inet);
  exception when invalid_text_representation then
    return null;
  end;
end;
$$;

grant execute on function private.request_client_ip() to anon, authenticated, service_role;

-- Salted hash of an IP (null stays null): enough to rate-limit and spot abuse, useless to identify anyone.
create function private.hash_ip(ip text)
returns bytea
language sql
stable
security definer
set search_path = ''
as $$
  select case when ip is null then null
    else pg_catalog.sha256((private.current_settings()).ip_hash_salt || pg_catalog.convert_to(ip, 'UTF8')) end
$$;

grant execute on function private.hash_ip(text) to anon, authenticated, service_role;

-- Email addresses as forms accept them: trimmed, lower-cased, one address, no control characters.
create function private.normalize_email(email text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  cleaned text := lower(btrim(email));
begin
  if cleaned is null or char_length(cleaned) > 254 or cleaned ~ '[[:cntrl:][:space:],;<>"]'
    or cleaned !~ '^[^@]+@[^@]+\.[^@]+$' then
    raise exception using errcode = 'PT400', message = 'invalid_email',
      detail = 'Give one email address, like name@example.com.';
  end if;
  return cleaned;
end;
$$;

grant execute on function private.normalize_email(text) to anon, authenticated, service_role;
