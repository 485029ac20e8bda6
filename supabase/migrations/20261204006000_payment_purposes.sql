-- One payment path for three kinds of goods: a payment has a purpose. This SUPERSEDES the index
-- payments_one_open_checkout (20261122001400_payments) and private.create_payment (last defined in
-- 20261204001000_payment_providers; same signature, grants, results and errors: only its conflict target
-- follows the new index).
--
-- Why: a payment bought a plan period and nothing else, so the store (orders of products, for buyers without
-- an account) and the wallet (top-ups) would each have needed a second payments table and a second state
-- machine. DESIGN.md asks for one: `payments` with a purpose, and apply_payment_event running the purpose's
-- fulfilment. Today's index on (user_id, plan_code, provider, currency) also guarantees nothing for guests: a
-- unique index treats every null user id as distinct.
--
-- How:
--   * public.payment_purposes is a catalog like public.payment_providers (RLS on; authenticated reads it,
--     anon does not: nothing a guest does needs it; the service role writes it); payments.purpose references
--     it, default 'plan', so every existing row and every create_payment call is a plan payment;
--   * plan_code becomes nullable, and is set exactly for plan payments (payments_plan_code_purpose);
--   * product_code names what an order buys. It has no foreign key yet: products come in the store's next
--     slice, which adds the table and the key (and its index) in one migration;
--   * buyer_email (citext) is whom a guest payment belongs to; a signed-in buyer is its user_id;
--   * the one-open-checkout index keys on the owner (the user id, else the buyer's email, in any letter
--     case), the purpose and its item (the plan, else the product), provider and currency, so a guest
--     gets one open checkout per item as a user does. create_payment's `on conflict` names the same
--     expressions.
--
-- Locks: ALTER TABLE takes payments' ACCESS EXCLUSIVE lock for the new columns (constant defaults: no
-- rewrite) and the constraint checks; the index is rebuilt under it. Fine for a table of checkout attempts.

create table public.payment_purposes (
  code text primary key,
  name text not null,
  -- Codes are what RPCs and the CLI name: lower-case letters, digits and underscores.
  constraint payment_purposes_code_format check (code ~ '^[a-z][a-z0-9_]{0,31}$'),
  -- A display name is one short line.
  constraint payment_purposes_name_length check (char_length(name) between 1 and 100)
);

comment on table public.payment_purposes is
'What a payment buys: a plan period, a store order, a wallet top-up; apply_payment_event fulfils by purpose';

insert into public.payment_purposes (code, name) values
('plan', 'Plan period'),
('order', 'Store order'),
('wallet_topup', 'Wallet top-up');

alter table public.payment_purposes enable row level security;

-- Signed-in clients read it; anon's surface stays the price catalog and the waitlist (SECURITY.md). The
-- revoke states that for every kind of project, as 20261122005200 does for the tables before it.
revoke all on public.payment_purposes from anon;
grant select on public.payment_purposes to authenticated;
grant select, insert, update, delete on public.payment_purposes to service_role;

create policy payment_purposes_select_authenticated on public.payment_purposes
for select to authenticated using (true);

-- The columns ----------------------------------------------------------------------------------------------
alter table public.payments
add column purpose text not null default 'plan',
add column product_code text,
add column buyer_email extensions.citext,
alter column plan_code drop not null,
add constraint payments_purpose_fkey foreign key (purpose) references public.payment_purposes (code),
-- A plan payment names its plan, and only a plan payment does.
add constraint payments_plan_code_purpose check ((purpose = 'plan') = (plan_code is not null)),
-- Product codes are short identifiers (the store's products table will say which exist).
add constraint payments_product_code_format check (
  product_code is null or product_code ~ '^[A-Za-z0-9._-]{1,64}$'
),
-- A buyer's email is one short line with an @ (the checkout validates it properly).
add constraint payments_buyer_email_shape check (
  buyer_email is null
  or (char_length(buyer_email::text) between 3 and 320 and strpos(buyer_email::text, '@') > 1)
);

comment on column public.payments.purpose is
'What the payment buys (payment_purposes); decides its fulfilment';
comment on column public.payments.product_code is
'The product an order payment buys; no foreign key until the store adds its products table';
comment on column public.payments.buyer_email is 'Whom a guest payment belongs to (no user_id)';

create index payments_purpose_idx on public.payments (purpose);

-- One open checkout per owner, item, provider and currency, guests included --------------------------------
drop index public.payments_one_open_checkout;
create unique index payments_one_open_checkout on public.payments (
  (coalesce(user_id::text, lower(buyer_email::text))),
  purpose,
  (coalesce(plan_code, product_code)),
  provider,
  currency
)
where status = 'pending';

-- create_payment: the same, with the new conflict target --------------------------------------------------
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
  where p.user_id = uid and p.purpose = 'plan' and p.plan_code = chosen_plan.code
    and p.provider = chosen_provider and p.currency = chosen_currency and p.status = 'pending';
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
    user_id, purpose, plan_code, provider, status, amount_minor, currency, order_id, expires_at
  ) values (
    uid, 'plan', chosen_plan.code, chosen_provider, 'pending', price, chosen_currency, private.new_order_id(),
    pg_catalog.now() + settings.payment_expiry
  )
  on conflict (
    (coalesce(user_id::text, lower(buyer_email::text))), purpose, (coalesce(plan_code, product_code)), provider,
    currency
  ) where status = 'pending' do nothing
  returning p.* into result;
  if not found then
    select p.* into strict result
    from public.payments as p
    where p.user_id = uid and p.purpose = 'plan' and p.plan_code = chosen_plan.code
      and p.provider = chosen_provider and p.currency = chosen_currency and p.status = 'pending';
  end if;
  return result;
end;
$$;

-- Unchanged by the replacement; restated so the grant sits right after the function.
grant execute on function private.create_payment(text, text, text) to authenticated;
