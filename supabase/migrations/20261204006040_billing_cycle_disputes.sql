-- The billing cycle leaves a disputed payment's subscription alone. This SUPERSEDES private.run_billing_cycle
-- (20261122002500_billing_cycle; same signature, grants, results and audit entry).
--
-- Why: a dispute on the payment that funds a subscription's period moves the subscription to past_due until
-- the dispute is won (active again) or lost (back to the default plan), 20261204006020. Disputes take weeks
-- (Stripe allows 75 days and more), the grace period days: the cycle would lapse the subscription to the
-- default plan meanwhile, and a won dispute would find nothing to restore.
--
-- How: the grace step skips a past_due subscription whose funding payment is disputed. Its lookup is by
-- primary key, only for subscriptions past their grace (a handful per run).

create or replace function private.run_billing_cycle(now timestamptz)
returns table (change text, subject_id text, before_state text, after_state text)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  settings private.settings := private.current_settings();
  at timestamptz := coalesce(run_billing_cycle.now, pg_catalog.now());
  counted integer;
  changes integer := 0;
begin
  return query
  with ended as (
    update public.subscriptions as s
    set status = case when s.cancel_at_period_end then 'canceled' else 'past_due' end,
        past_due_since = case when s.cancel_at_period_end then null else s.current_period_end end,
        canceled_at = case when s.cancel_at_period_end then coalesce(s.canceled_at, at) else s.canceled_at end
    where s.status = 'active' and s.current_period_end is not null and s.current_period_end <= at
    returning s.user_id, s.status
  )
  select 'subscription_period_ended', e.user_id::text, 'active', e.status from ended as e;
  get diagnostics counted = row_count;
  changes := changes + counted;

  return query
  with lapsed as (
    update public.subscriptions as s
    set plan_code = settings.default_plan,
        status = 'active',
        current_period_start = at,
        current_period_end = null,
        past_due_since = null,
        cancel_at_period_end = false,
        funded_by_payment_id = null
    where s.status = 'past_due' and s.past_due_since + pg_catalog.make_interval(days => settings.grace_days) <= at
      -- A period held by an open dispute (20261204006020) waits for the dispute's outcome.
      and not exists (
        select 1 from public.payments as p where p.id = s.funded_by_payment_id and p.status = 'disputed'
      )
    returning s.user_id
  )
  select 'subscription_grace_ended', l.user_id::text, 'past_due', 'active:' || settings.default_plan
  from lapsed as l;
  get diagnostics counted = row_count;
  changes := changes + counted;

  return query
  with expired as (
    update public.payments as p
    set status = 'expired'
    where p.status = 'pending' and p.expires_at <= at
    returning p.id
  )
  select 'payment_expired', x.id::text, 'pending', 'expired' from expired as x;
  get diagnostics counted = row_count;
  changes := changes + counted;

  counted := private.cleanup_rate_limit_buckets(at);
  if counted > 0 then
    changes := changes + counted;
    return query select 'rate_limit_buckets_deleted', null::text, null::text, counted::text;
  end if;

  counted := private.release_expired_ai_holds(at);
  if counted > 0 then
    changes := changes + counted;
    return query select 'ai_holds_released', null::text, null::text, counted::text;
  end if;

  if changes > 0 then
    perform private.write_audit('billing.run', 'billing', null, null,
      pg_catalog.jsonb_build_object('at', at, 'changes', changes));
  end if;
end;
$$;

-- Unchanged by the replacement; restated so the grant sits right after the function.
grant execute on function private.run_billing_cycle(timestamptz) to service_role;
