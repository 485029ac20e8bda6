-- Payments: one row per checkout attempt, readable by its owner, written only through RPCs.
--
-- create_payment() is called as the user: the price comes from plan_prices (never from the client), the
-- call is rate-limited per user, and it is idempotent: while a pending, unexpired payment exists for the
-- same plan, provider and currency, that payment is returned instead of a new one. A partial unique index
-- makes "one open checkout" true under any concurrency. attach_checkout() (service_role) stores what the
-- provider returned. State transitions after that happen only in apply_payment_event().

create table public.payments (
  id uuid primary key default gen_random_uuid(),
  user_id uuid references auth.users (id) on delete set null,
  plan_code text not null references public.plans (code) on update cascade,
  provider text not null,
  status text not null default 'pending',
  amount_minor bigint not null,
  currency text not null references public.currencies (code),
  order_id text not null unique,
  provider_payment_id text,
  provider_reference text,
  checkout_token text,
  checkout_url text,
  expires_at timestamptz not null,
  paid_at timestamptz,
  refunded_at timestamptz,
  metadata jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint payments_provider_known check (
    provider in ('midtrans', 'doku', 'stripe', 'lemonsqueezy', 'razorpay')
  ),
  constraint payments_status_known check (status in ('pending', 'paid', 'failed', 'expired', 'refunded')),
  -- Money is a positive amount in minor units.
  constraint payments_amount_positive check (amount_minor > 0),
  -- Order ids are what every provider accepts: up to 50 of [A-Za-z0-9-_.~] (Midtrans' rule, the strictest).
  constraint payments_order_id_format check (order_id ~ '^[A-Za-z0-9._~-]{1,50}$'),
  -- A paid or refunded payment knows when it was paid; a refunded one when it was refunded.
  constraint payments_paid_at check (status not in ('paid', 'refunded') or paid_at is not null),
  constraint payments_refunded_at check ((status = 'refunded') = (refunded_at is not null)),
  constraint payments_metadata_object check (jsonb_typeof(metadata) = 'object')
);

comment on table public.payments is 'Checkout attempts and their outcome; written only by RPCs';

create index payments_user_id_idx on public.payments (user_id, created_at desc);
create index payments_plan_code_idx on public.payments (plan_code);
create index payments_currency_idx on public.payments (currency);
create index payments_status_idx on public.payments (status, created_at desc);
-- One open checkout per user, plan, provider and currency: what makes create_payment idempotent.
create unique index payments_one_open_checkout on public.payments (user_id, plan_code, provider, currency)
where status = 'pending';

create trigger payments_touch_updated_at
before update on public.payments
for each row execute function private.touch_updated_at();

alter table public.payments enable row level security;

grant select on public.payments to authenticated;
grant select, insert, update, delete on public.payments to service_role;

create policy payments_select_own on public.payments
for select to authenticated
using (user_id = (select auth.uid()));

-- The payment that funded a subscription's current period (a refund of it ends the period).
alter table public.subscriptions
add constraint subscriptions_funded_by_payment_fkey
foreign key (funded_by_payment_id) references public.payments (id) on delete set null;

create index subscriptions_funded_by_payment_idx on public.subscriptions (funded_by_payment_id);

create function private.new_order_id()
returns text
language sql
volatile
set search_path = ''
as $$
  select 'TB-' || pg_catalog.to_char(pg_catalog.now() at time zone 'UTC', 'YYYYMMDD') || '-'
    || pg_catalog.upper(pg_catalog.substr(pg_catalog.md5(pg_catalog.gen_random_uuid()::text), 1, 12))
$$;

-- The definer half of create_payment: the caller is always auth.uid(), never an argument.
create function private.create_payment(plan text, provider text, currency text)
returns public.payments
language plpgsql
volatile
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  uid uuid := (select auth.uid());
  settings private.settings := private.current_settings();
  chosen_plan public.plans;
  chosen_currency text := upper(coalesce(nullif(btrim(currency), ''), settings.default_currency));
  chosen_provider text := lower(btrim(provider));
  price bigint;
  limited record;
  result public.payments;
begin
  if uid is null then
    raise exception using errcode = 'PT401', message = 'not_authenticated', detail = 'Sign in to start a checkout.';
  end if;
  select p.* into chosen_plan from public.plans as p where p.code = upper(btrim(plan));
  if not found then
    raise exception using errcode = 'PT400', message = 'unknown_plan', detail = format('No plan %L.', plan);
  end if;
  if not chosen_plan.active then
    raise exception using errcode = 'PT400', message = 'plan_inactive',
      detail = format('Plan %s is not available.', chosen_plan.code);
  end if;
  if chosen_provider is null
    or chosen_provider not in ('midtrans', 'doku', 'stripe', 'lemonsqueezy', 'razorpay') then
    raise exception using errcode = 'PT400', message = 'unknown_provider',
      detail = format('No payment provider %L.', provider);
  end if;
  select pp.amount_minor into price
  from public.plan_prices as pp
  where pp.plan_code = chosen_plan.code and pp.currency = chosen_currency;
  if price is null then
    raise exception using errcode = 'PT400', message = 'currency_not_available',
      detail = format('Plan %s has no price in %L.', chosen_plan.code, chosen_currency);
  end if;

  -- One caller at a time per user: the second of two concurrent requests sees the first one's
  -- payment and returns it, instead of spending its rate-limit budget. The unique index is the guarantee.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('thinbase.create_payment:' || uid::text, 0));

  -- A pending payment past its expiry is not open any more.
  update public.payments as p
  set status = 'expired'
  where p.user_id = uid and p.status = 'pending' and p.expires_at <= pg_catalog.now();

  select p.* into result
  from public.payments as p
  where p.user_id = uid and p.plan_code = chosen_plan.code and p.provider = chosen_provider
    and p.currency = chosen_currency and p.status = 'pending';
  if found then
    return result;
  end if;

  select * into limited from private.consume_rate_limit(
    'create_payment', uid::text, settings.create_payment_limit, settings.create_payment_window_seconds
  );
  if not limited.allowed then
    raise exception using errcode = 'PT429', message = 'rate_limited',
      detail = pg_catalog.json_build_object(
        'retry_after_seconds', limited.retry_after_seconds, 'limit', limited.request_limit,
        'reset_at', limited.reset_at
      )::text,
      hint = 'Too many checkouts started; try again later.';
  end if;

  insert into public.payments as p (
    user_id, plan_code, provider, status, amount_minor, currency, order_id, expires_at
  ) values (
    uid, chosen_plan.code, chosen_provider, 'pending', price, chosen_currency, private.new_order_id(),
    pg_catalog.now() + settings.payment_expiry
  )
  on conflict (user_id, plan_code, provider, currency) where status = 'pending' do nothing
  returning p.* into result;
  if not found then
    select p.* into strict result
    from public.payments as p
    where p.user_id = uid and p.plan_code = chosen_plan.code and p.provider = chosen_provider
      and p.currency = chosen_currency and p.status = 'pending';
  end if;
  return result;
end;
$$;

grant execute on function private.create_payment(text, text, text) to authenticated;

create function public.create_payment(plan text, provider text, currency text default null)
returns public.payments
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.create_payment(plan, provider, currency)
$$;

grant execute on function public.create_payment(text, text, text) to authenticated;

-- What the provider returned for a checkout. Only while the payment is pending; repeating it is harmless.
create function public.attach_checkout(
  payment_id uuid,
  checkout_token text default null,
  checkout_url text default null,
  provider_payment_id text default null,
  expires_at timestamptz default null
)
returns public.payments
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  result public.payments;
begin
  update public.payments as p
  set checkout_token = coalesce(attach_checkout.checkout_token, p.checkout_token),
      checkout_url = coalesce(attach_checkout.checkout_url, p.checkout_url),
      provider_payment_id = coalesce(attach_checkout.provider_payment_id, p.provider_payment_id),
      expires_at = coalesce(least(attach_checkout.expires_at, p.expires_at), p.expires_at)
  where p.id = attach_checkout.payment_id and p.status = 'pending'
  returning p.* into result;
  if not found then
    select p.* into result from public.payments as p where p.id = attach_checkout.payment_id;
    if not found then
      raise exception using errcode = 'PT404', message = 'payment_not_found',
        detail = format('No payment %s.', attach_checkout.payment_id);
    end if;
    raise exception using errcode = 'PT409', message = 'payment_not_pending',
      detail = format('Payment %s is %s.', result.id, result.status);
  end if;
  return result;
end;
$$;

grant execute on function public.attach_checkout(uuid, text, text, text, timestamptz) to service_role;
