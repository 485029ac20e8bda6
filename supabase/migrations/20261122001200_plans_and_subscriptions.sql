-- Plans and subscriptions.
--
-- plans is the catalog anyone may read; plan_prices holds one price per currency in minor units. The FREE
-- plan and the default paid plans are created here because a real project never runs seed.sql.
-- subscriptions has one row per user; users read their own and may change only cancel_at_period_end,
-- through set_cancel_at_period_end().

create table public.plans (
  code text primary key,
  name text not null,
  description text not null default '',
  billing_interval text not null default 'month',
  ai_monthly_token_cap bigint not null,
  ai_requests_per_window integer not null,
  ai_window_seconds integer not null default 60,
  ai_model text,
  active boolean not null default true,
  sort_order integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- Codes are stable identifiers clients and providers' metadata refer to.
  constraint plans_code_format check (code ~ '^[A-Z][A-Z0-9_]{1,31}$'),
  -- A subscription period lasts a month or a year.
  constraint plans_interval_known check (billing_interval in ('month', 'year')),
  -- AI limits are non-negative; a zero cap means no AI on this plan.
  constraint plans_ai_limits check (
    ai_monthly_token_cap >= 0 and ai_requests_per_window >= 0 and ai_window_seconds > 0
  ),
  constraint plans_name_length check (char_length(name) between 1 and 100)
);

comment on table public.plans is 'The plan catalog; prices live in plan_prices';

create table public.plan_prices (
  plan_code text not null references public.plans (code) on update cascade on delete cascade,
  currency text not null references public.currencies (code),
  amount_minor bigint not null,
  primary key (plan_code, currency),
  -- A price is a positive amount in the currency's minor units.
  constraint plan_prices_amount_positive check (amount_minor > 0)
);

comment on table public.plan_prices is 'One price per plan and currency, in minor units';

create index plan_prices_currency_idx on public.plan_prices (currency);

create trigger plans_touch_updated_at
before update on public.plans
for each row execute function private.touch_updated_at();

alter table public.plans enable row level security;
alter table public.plan_prices enable row level security;

grant select on public.plans, public.plan_prices to anon, authenticated;
grant select, insert, update, delete on public.plans, public.plan_prices to service_role;

create policy plans_select_anon on public.plans for select to anon using (true);
create policy plans_select_authenticated on public.plans for select to authenticated using (true);
create policy plan_prices_select_anon on public.plan_prices for select to anon using (true);
create policy plan_prices_select_authenticated on public.plan_prices for select to authenticated using (true);

insert into public.plans (
  code, name, description, billing_interval, ai_monthly_token_cap, ai_requests_per_window,
  ai_window_seconds, ai_model, sort_order
) values
('FREE', 'Free', 'Everything you need to try the product.', 'month', 50000, 10, 60, null, 0),
('PRO', 'Pro', 'For individuals who use it every day.', 'month', 2000000, 60, 60, null, 10),
('PRO_YEARLY', 'Pro (yearly)', 'Pro, billed once a year.', 'year', 2000000, 60, 60, null, 11);

insert into public.plan_prices (plan_code, currency, amount_minor) values
('PRO', 'USD', 900),
('PRO', 'EUR', 900),
('PRO', 'IDR', 14900000),
('PRO', 'INR', 74900),
('PRO', 'JPY', 1400),
('PRO_YEARLY', 'USD', 9000),
('PRO_YEARLY', 'EUR', 9000),
('PRO_YEARLY', 'IDR', 149000000),
('PRO_YEARLY', 'INR', 749000),
('PRO_YEARLY', 'JPY', 14000);

create table public.subscriptions (
  user_id uuid primary key references auth.users (id) on delete cascade,
  plan_code text not null references public.plans (code) on update cascade,
  status text not null default 'active',
  current_period_start timestamptz not null default now(),
  current_period_end timestamptz,
  cancel_at_period_end boolean not null default false,
  canceled_at timestamptz,
  past_due_since timestamptz,
  funded_by_payment_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint subscriptions_status_known check (status in ('active', 'past_due', 'canceled', 'expired')),
  -- A period that ends, ends after it starts (the free plan's period has no end).
  constraint subscriptions_period_order check (
    current_period_end is null or current_period_end > current_period_start
  ),
  -- past_due_since is set exactly while the subscription is past due.
  constraint subscriptions_past_due_since check ((status = 'past_due') = (past_due_since is not null))
);

comment on table public.subscriptions is 'One subscription per user';

create index subscriptions_plan_code_idx on public.subscriptions (plan_code);
create index subscriptions_period_end_idx on public.subscriptions (current_period_end)
where current_period_end is not null;

create trigger subscriptions_touch_updated_at
before update on public.subscriptions
for each row execute function private.touch_updated_at();

alter table public.subscriptions enable row level security;

grant select on public.subscriptions to authenticated;
grant select, insert, update, delete on public.subscriptions to service_role;

create policy subscriptions_select_own on public.subscriptions
for select to authenticated
using (user_id = (select auth.uid()));

-- The definer half of set_cancel_at_period_end: it acts only on the caller's own row.
create function private.set_cancel_at_period_end(cancel boolean)
returns public.subscriptions
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  result public.subscriptions;
begin
  if uid is null then
    raise exception using errcode = 'PT401', message = 'not_authenticated',
      detail = 'Sign in to change your subscription.';
  end if;
  if cancel is null then
    raise exception using errcode = 'PT400', message = 'invalid_argument', detail = 'cancel must be true or false';
  end if;
  update public.subscriptions as s
  set cancel_at_period_end = cancel,
      canceled_at = case when cancel then pg_catalog.now() end
  where s.user_id = uid and s.current_period_end is not null and s.status in ('active', 'past_due')
  returning s.* into result;
  if not found then
    raise exception using errcode = 'PT409', message = 'no_renewing_subscription',
      detail = 'Only a paid subscription with a current period can be set to cancel at its end.';
  end if;
  return result;
end;
$$;

grant execute on function private.set_cancel_at_period_end(boolean) to authenticated;

create function public.set_cancel_at_period_end(cancel boolean)
returns public.subscriptions
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.set_cancel_at_period_end(cancel)
$$;

grant execute on function public.set_cancel_at_period_end(boolean) to authenticated;
