-- Read-only catalog RPCs: what the edge app (and any client) needs to price and label a checkout:
-- currency exponents and the active plans with their prices.

create function public.currency_exponents()
returns table (code text, exponent smallint)
language sql
stable
security invoker
set search_path = ''
as $$
  select c.code, c.exponent from public.currencies as c order by c.code
$$;

grant execute on function public.currency_exponents() to anon, authenticated, service_role;

create function public.plan_catalog()
returns table (
  code text, name text, description text, billing_interval text, ai_monthly_token_cap bigint,
  ai_requests_per_window integer, ai_window_seconds integer, prices jsonb
)
language sql
stable
security invoker
set search_path = ''
as $$
  select p.code, p.name, p.description, p.billing_interval, p.ai_monthly_token_cap, p.ai_requests_per_window,
    p.ai_window_seconds,
    coalesce(
      (select pg_catalog.jsonb_object_agg(pp.currency, pp.amount_minor order by pp.currency)
        from public.plan_prices as pp where pp.plan_code = p.code),
      '{}'::jsonb
    )
  from public.plans as p
  where p.active
  order by p.sort_order, p.code
$$;

grant execute on function public.plan_catalog() to anon, authenticated, service_role;
