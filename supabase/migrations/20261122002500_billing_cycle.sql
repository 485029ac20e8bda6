-- The billing cycle: what time does to subscriptions and payments. Idempotent: a second run at the same
-- instant changes nothing. Returns one row per change. Every change is audited (row triggers on
-- subscriptions and payments, plus one summary entry per run that changed something).
--   1. paid periods that ended: cancel_at_period_end -> canceled, otherwise -> past_due
--   2. past_due longer than the grace period (settings.grace_days) -> back on the default (free) plan
--   3. pending payments past expires_at -> expired
--   4. housekeeping: expired rate-limit buckets deleted, expired AI holds released

create function private.run_billing_cycle(now timestamptz)
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

create function public.run_billing_cycle(now timestamptz default now())
returns table (change text, subject_id text, before_state text, after_state text)
language sql
volatile
security invoker
set search_path = ''
as $$ select * from private.run_billing_cycle(now) $$;

grant execute on function private.run_billing_cycle(timestamptz) to service_role;
grant execute on function public.run_billing_cycle(timestamptz) to service_role;

-- Every 15 minutes where pg_cron exists (the local stack, Supabase); elsewhere the migration still applies
-- and operators run `thinbase billing run` on a schedule of their own. cron.schedule with a job name
-- replaces an existing job of that name, so re-running is harmless.
do $$
begin
  if exists (select 1 from pg_catalog.pg_extension where extname = 'pg_cron') then
    perform cron.schedule('thinbase-billing-cycle', '*/15 * * * *', 'select public.run_billing_cycle()');
  else
    raise notice 'pg_cron is not installed: schedule `thinbase billing run` yourself';
  end if;
end;
$$;
