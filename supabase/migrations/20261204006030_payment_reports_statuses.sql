-- The payment reports know the new statuses. This SUPERSEDES public.admin_payment_metrics and
-- private.admin_payment_metrics (last defined in 20261204005200_audit_what_matters; dropped and created
-- again, because the result gains columns: every earlier column keeps its name, position and meaning, the
-- three new ones come last) and private.admin_revenue_by_day (20261204005200; same signature, grants and
-- columns).
--
-- Why: 20261204006010 added partially_refunded, disputed and charged_back. Counting only `paid` as revenue
-- would drop a partially refunded payment's kept part, and counting it whole would count refunded money.
--
-- How: admin_payment_metrics counts payments in each new status (partially_refunded, disputed, charged_back).
-- Revenue, in both reports, is the money kept: amount_minor - refunded_minor of payments that are paid or
-- partially refunded (a disputed payment's money is held by the provider until the dispute closes; a
-- charged-back one's is gone). Same grants as before: authenticated (admins; require_admin decides) and
-- service_role.

drop function public.admin_payment_metrics();
drop function private.admin_payment_metrics();

create function private.admin_payment_metrics()
returns table (
  payments_total bigint, pending bigint, paid bigint, failed bigint, expired bigint, refunded bigint,
  revenue_minor_by_currency jsonb, paying_subscribers bigint,
  partially_refunded bigint, disputed bigint, charged_back bigint
)
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform private.require_admin();
  return query
  select
    count(*),
    count(*) filter (where p.status = 'pending'),
    count(*) filter (where p.status = 'paid'),
    count(*) filter (where p.status = 'failed'),
    count(*) filter (where p.status = 'expired'),
    count(*) filter (where p.status = 'refunded'),
    coalesce((
      select pg_catalog.jsonb_object_agg(x.currency, x.total)
      from (
        select q.currency, sum(q.amount_minor - q.refunded_minor) as total from public.payments as q
        where q.status in ('paid', 'partially_refunded') group by q.currency
      ) as x
    ), '{}'::jsonb),
    (select count(*) from public.subscriptions as s where s.funded_by_payment_id is not null and s.status = 'active'),
    count(*) filter (where p.status = 'partially_refunded'),
    count(*) filter (where p.status = 'disputed'),
    count(*) filter (where p.status = 'charged_back')
  from public.payments as p;
end;
$$;

grant execute on function private.admin_payment_metrics() to authenticated, service_role;

create function public.admin_payment_metrics()
returns table (
  payments_total bigint, pending bigint, paid bigint, failed bigint, expired bigint, refunded bigint,
  revenue_minor_by_currency jsonb, paying_subscribers bigint,
  partially_refunded bigint, disputed bigint, charged_back bigint
)
language sql
volatile
security invoker
set search_path = ''
as $$ select * from private.admin_payment_metrics() $$;

grant execute on function public.admin_payment_metrics() to authenticated, service_role;

create or replace function private.admin_revenue_by_day(days integer)
returns table (day date, currency text, amount_minor bigint, payments bigint)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  span integer := least(greatest(coalesce(days, 30), 1), 366);
begin
  perform private.require_admin();
  return query
  select (p.paid_at at time zone 'UTC')::date, p.currency, sum(p.amount_minor - p.refunded_minor)::bigint, count(*)
  from public.payments as p
  where p.status in ('paid', 'partially_refunded')
    and p.paid_at >= pg_catalog.now() - pg_catalog.make_interval(days => span)
  group by 1, 2
  order by 1, 2;
end;
$$;
