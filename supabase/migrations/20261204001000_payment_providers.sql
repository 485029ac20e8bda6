-- The payment providers, as a table. This SUPERSEDES the check constraints payments_provider_known
-- (20261122001400_payments) and webhook_events_provider_known (20261122001500_webhook_ledger), which become
-- foreign keys to the new table, and private.create_payment (20261122001400_payments; same signature,
-- grants, results and errors), whose list of providers becomes a lookup. The same list in
-- claim_webhook_event and apply_payment_event becomes a lookup in 20261204001010_payment_event_helpers.
--
-- Why: the five provider codes were written out six times (two check constraints, create_payment,
-- claim_webhook_event, apply_payment_event and its earlier versions), so a sixth provider meant editing
-- every one of them, and the wallet issue needs a provider that exists but is never offered for checkout
-- (`none`, for zero-amount payments). One row per provider is the one place a migration adds one
-- (DESIGN.md, "one provider descriptor per provider"); `checkout` says whether create_payment offers it.
--
-- How: public.payment_providers is a catalog like public.currencies (RLS on; anon and authenticated read
-- it, the service role writes it). payments.provider and webhook_events.provider reference it, so a row
-- naming an unknown provider is refused by the foreign key (23503) instead of the check (23514);
-- payments_provider_idx covers the new foreign key (webhook_events' unique (provider, event_key) already
-- starts with the column). create_payment refuses a provider that is not in the table, or not offered for
-- checkout, with the same PT400 unknown_provider and detail as before.
--
-- Locks: ALTER TABLE takes payments' and webhook_events' SHARE ROW EXCLUSIVE lock while the foreign keys
-- are validated (every existing row names one of the five providers, by the constraints they replace).

create table public.payment_providers (
  code text primary key,
  name text not null,
  checkout boolean not null default true,
  -- Codes are what the edge app's routes and settings use: lower-case letters, digits and underscores.
  constraint payment_providers_code_format check (code ~ '^[a-z][a-z0-9_]{0,31}$'),
  -- A display name is one short line.
  constraint payment_providers_name_length check (char_length(name) between 1 and 100)
);

comment on table public.payment_providers is
'Payment providers the ledger and payments may name; checkout: offered by create_payment';
comment on column public.payment_providers.checkout is
'Offered for checkout (create_payment); false for providers only the database itself records';

insert into public.payment_providers (code, name, checkout) values
('midtrans', 'Midtrans Snap', true),
('doku', 'DOKU Checkout', true),
('stripe', 'Stripe Checkout', true),
('lemonsqueezy', 'Lemon Squeezy', true),
('razorpay', 'Razorpay Orders', true);

alter table public.payment_providers enable row level security;

grant select on public.payment_providers to anon, authenticated;
grant select, insert, update, delete on public.payment_providers to service_role;

create policy payment_providers_select_anon on public.payment_providers
for select to anon using (true);

create policy payment_providers_select_authenticated on public.payment_providers
for select to authenticated using (true);

-- The foreign keys replace the lists -----------------------------------------------------------------------
alter table public.payments
drop constraint payments_provider_known,
add constraint payments_provider_fkey foreign key (provider) references public.payment_providers (code);

create index payments_provider_idx on public.payments (provider);

alter table private.webhook_events
drop constraint webhook_events_provider_known,
add constraint webhook_events_provider_fkey foreign key (provider) references public.payment_providers (code);

-- create_payment: a provider offered for checkout ----------------------------------------------------------
create or replace function private.create_payment(plan text, provider text, currency text)
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
  if not exists (
    select 1 from public.payment_providers as pp where pp.code = chosen_provider and pp.checkout
  ) then
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

-- Unchanged by the replacement; restated so the grant sits right after the function.
grant execute on function private.create_payment(text, text, text) to authenticated;
