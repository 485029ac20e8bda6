-- Contact-form submissions. The edge app records a submission (rate-limited per client IP), sends it by
-- email, then marks it sent or failed; failed and unsent ones stay for `thinbase contact resend`.
-- Only the service role touches them: names, addresses and messages are personal data.

create table private.contact_submissions (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  email extensions.citext not null,
  message text not null,
  ip_hash bytea,
  status text not null default 'pending',
  attempts integer not null default 0,
  last_error text,
  provider_message_id text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  sent_at timestamptz,
  constraint contact_submissions_status_known check (status in ('pending', 'sent', 'failed')),
  -- Bounded, single-line name and address (they end up in mail headers); bounded message.
  constraint contact_submissions_name check (char_length(name) between 1 and 200 and name !~ '[[:cntrl:]]'),
  constraint contact_submissions_message check (char_length(message) between 1 and 5000),
  constraint contact_submissions_sent_at check ((status = 'sent') = (sent_at is not null)),
  constraint contact_submissions_attempts check (attempts >= 0)
);

comment on table private.contact_submissions is 'Contact-form messages and their delivery state';

create index contact_submissions_unsent_idx on private.contact_submissions (created_at)
where status <> 'sent';

create trigger contact_submissions_touch_updated_at
before update on private.contact_submissions
for each row execute function private.touch_updated_at();

alter table private.contact_submissions enable row level security;
grant select, insert, update, delete on private.contact_submissions to service_role;

-- client_ip is what the edge app determined from TRUSTED_PROXY_HEADER (null when unknown).
create function public.record_contact_submission(
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
    'contact', coalesce(nullif(btrim(client_ip), ''), 'unknown-ip'), settings.contact_limit, settings.contact_window_seconds
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

grant execute on function public.record_contact_submission(text, text, text, text) to service_role;

create function public.mark_contact_submission(
  id uuid,
  status text,
  provider_message_id text default null,
  error text default null
)
returns private.contact_submissions
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  result private.contact_submissions;
begin
  if status is null or status not in ('sent', 'failed') then
    raise exception using errcode = '22023', message = 'invalid_argument', detail = 'status must be sent or failed';
  end if;
  update private.contact_submissions as c
  set status = mark_contact_submission.status,
      attempts = c.attempts + 1,
      provider_message_id = coalesce(mark_contact_submission.provider_message_id, c.provider_message_id),
      last_error = case when mark_contact_submission.status = 'failed' then left(mark_contact_submission.error, 2000) end,
      sent_at = case when mark_contact_submission.status = 'sent' then pg_catalog.now() end
  where c.id = mark_contact_submission.id and c.status <> 'sent'
  returning c.* into result;
  if not found then
    select c.* into result from private.contact_submissions as c where c.id = mark_contact_submission.id;
    if not found then
      raise exception using errcode = 'PT404', message = 'contact_submission_not_found',
        detail = format('No contact submission %s.', mark_contact_submission.id);
    end if;
  end if;
  return result;
end;
$$;

grant execute on function public.mark_contact_submission(uuid, text, text, text) to service_role;

create function public.list_unsent_contact_submissions("limit" integer default 100)
returns setof private.contact_submissions
language sql
stable
security invoker
set search_path = ''
as $$
  select c.* from private.contact_submissions as c
  where c.status <> 'sent'
  order by c.created_at
  limit least(greatest(coalesce("limit", 100), 1), 1000)
$$;

grant execute on function public.list_unsent_contact_submissions(integer) to service_role;
