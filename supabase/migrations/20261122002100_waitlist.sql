-- Waitlist: anyone may join once; a second join of the same address is not an error.
-- Rate-limited per client IP (see private.request_client_ip for which IP is trusted).

create table public.waitlist (
  id uuid primary key default gen_random_uuid(),
  email extensions.citext not null unique,
  source text not null default 'web',
  ip_hash bytea,
  created_at timestamptz not null default now(),
  constraint waitlist_source_length check (char_length(source) between 1 and 64)
);

comment on table public.waitlist is 'Emails waiting for access; written only through join_waitlist()';

alter table public.waitlist enable row level security;
-- Nobody reads the list through the API; operators use the service role.
grant select, insert, update, delete on public.waitlist to service_role;

create function private.join_waitlist(email text, source text)
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
    'waitlist', coalesce(ip, 'unknown-ip'), settings.waitlist_limit, settings.waitlist_window_seconds
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

grant execute on function private.join_waitlist(text, text) to anon, authenticated;

create function public.join_waitlist(email text, source text default null)
returns text
language sql
volatile
security invoker
set search_path = ''
as $$ select private.join_waitlist(email, source) $$;

grant execute on function public.join_waitlist(text, text) to anon, authenticated;
