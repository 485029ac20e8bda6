-- The CLI accepts any unique prefix of an id, as git does for commits: `thinbase payments show 3f2a`,
-- `thinbase webhooks replay 9c1e0b`. operator_match_ids answers which ids a prefix names (at most `max`),
-- and the CLI uses it when what it was given is not a whole id; ambiguity and absence are the CLI's to
-- report (exit 2 and 3).
--
-- Prefixes are compared with left(), never LIKE, so `%` and `_` in them match only themselves. Payments
-- match by their id or their order id; webhook events by their id. Service role only, like every
-- operator_* RPC: invoker, over tables the service role reads.

create function public.operator_match_ids(entity text, prefix text, max integer default 10)
returns setof text
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  wanted text := btrim(prefix);
  how_many integer := least(greatest(coalesce(max, 10), 1), 100);
begin
  if wanted is null or char_length(wanted) < 4 or char_length(wanted) > 64 then
    raise exception using errcode = 'PT400', message = 'invalid_prefix',
      detail = 'An id prefix is 4 to 64 characters.';
  end if;
  if entity = 'payments' then
    return query
    select p.id::text from public.payments as p
    where left(p.id::text, char_length(wanted)) = lower(wanted)
      or left(p.order_id, char_length(wanted)) = wanted
    order by p.created_at desc
    limit how_many;
  elsif entity = 'webhook_events' then
    return query
    select e.id::text from private.webhook_events as e
    where left(e.id::text, char_length(wanted)) = lower(wanted)
    order by e.received_at desc
    limit how_many;
  else
    raise exception using errcode = 'PT400', message = 'invalid_argument',
      detail = 'entity is payments or webhook_events';
  end if;
end;
$$;

revoke execute on function public.operator_match_ids(text, text, integer) from public;
grant execute on function public.operator_match_ids(text, text, integer) to service_role;
