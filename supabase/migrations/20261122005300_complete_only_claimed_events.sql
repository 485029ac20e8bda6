-- complete_webhook_event closes only a claim. This SUPERSEDES public.complete_webhook_event from
-- 20261122001500_webhook_ledger: same signature, grants and result.
--
-- Why: it closed an event in any state, so a stray call could turn a processed event into a failed one,
-- which the replay and a redelivery would then take up again (the state machine would ignore the second
-- transition, but the ledger would no longer tell the truth). Only a `processing` event, one that
-- claim_webhook_event handed out, is closed now; anything else is refused with 409 not_in_progress.

create or replace function public.complete_webhook_event(event_id uuid, status text, error text default null)
returns private.webhook_events
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  result private.webhook_events;
  found_status text;
begin
  if status is null or status not in ('processed', 'ignored', 'failed') then
    raise exception using errcode = '22023', message = 'invalid_argument',
      detail = 'status must be processed, ignored or failed';
  end if;
  update private.webhook_events as e
  set status = complete_webhook_event.status,
      last_error = left(complete_webhook_event.error, 2000),
      lease_expires_at = null,
      processed_at = pg_catalog.now()
  where e.id = complete_webhook_event.event_id and e.status = 'processing'
  returning e.* into result;
  if found then
    return result;
  end if;
  select e.status into found_status from private.webhook_events as e where e.id = complete_webhook_event.event_id;
  if found_status is null then
    raise exception using errcode = 'PT404', message = 'webhook_event_not_found',
      detail = format('No webhook event %s.', event_id);
  end if;
  raise exception using errcode = 'PT409', message = 'not_in_progress',
    detail = format('Event %s is %s; only a claimed (processing) event is completed.', event_id, found_status);
end;
$$;
