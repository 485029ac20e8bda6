-- Currencies and settings.
--
-- Money is always a bigint amount in minor units plus an ISO 4217 code; this table knows each code's
-- exponent so the edge layer can convert for providers (zero-decimal JPY/KRW, three-decimal KWD/BHD).
-- private.settings is one typed row of operator settings that SQL itself needs.

create extension if not exists citext with schema extensions;

create table public.currencies (
  code text primary key,
  exponent smallint not null,
  name text not null,
  -- ISO 4217 alphabetic codes are three upper-case letters.
  constraint currencies_code_format check (code ~ '^[A-Z]{3}$'),
  -- ISO 4217 minor-unit exponents in use are 0 to 4.
  constraint currencies_exponent_range check (exponent between 0 and 4)
);

comment on table public.currencies is 'ISO 4217 currencies and their minor-unit exponent';

insert into public.currencies (code, exponent, name) values
('AUD', 2, 'Australian dollar'),
('BHD', 3, 'Bahraini dinar'),
('CAD', 2, 'Canadian dollar'),
('CHF', 2, 'Swiss franc'),
('CLP', 0, 'Chilean peso'),
('EUR', 2, 'Euro'),
('GBP', 2, 'Pound sterling'),
('IDR', 2, 'Indonesian rupiah'),
('INR', 2, 'Indian rupee'),
('JOD', 3, 'Jordanian dinar'),
('JPY', 0, 'Japanese yen'),
('KRW', 0, 'South Korean won'),
('KWD', 3, 'Kuwaiti dinar'),
('MYR', 2, 'Malaysian ringgit'),
('OMR', 3, 'Omani rial'),
('PHP', 2, 'Philippine peso'),
('SGD', 2, 'Singapore dollar'),
('THB', 2, 'Thai baht'),
('TND', 3, 'Tunisian dinar'),
('USD', 2, 'United States dollar'),
('VND', 0, 'Vietnamese dong');

alter table public.currencies enable row level security;

grant select on public.currencies to anon, authenticated;
grant select, insert, update, delete on public.currencies to service_role;

create policy currencies_select_anon on public.currencies
for select to anon using (true);

create policy currencies_select_authenticated on public.currencies
for select to authenticated using (true);

create table private.settings (
  id boolean primary key default true,
  admin_bootstrap_emails extensions.citext[] not null default '{}',
  grace_days integer not null default 7,
  default_plan text not null default 'FREE',
  default_currency text not null default 'USD' references public.currencies (code),
  payment_expiry interval not null default interval '24 hours',
  create_payment_limit integer not null default 10,
  create_payment_window_seconds integer not null default 600,
  webhook_lease_seconds integer not null default 60,
  updated_at timestamptz not null default now(),
  -- Exactly one row: the primary key can only be true.
  constraint settings_singleton check (id),
  -- A grace period is days, at most a year.
  constraint settings_grace_days_range check (grace_days between 0 and 365),
  -- A checkout must live for a while and must expire eventually.
  constraint settings_payment_expiry_range check (
    payment_expiry between interval '5 minutes' and interval '30 days'
  ),
  -- Limits are positive.
  constraint settings_limits_positive check (
    create_payment_limit > 0 and create_payment_window_seconds > 0 and webhook_lease_seconds > 0
  )
);

comment on table private.settings is 'Operator settings SQL needs; exactly one row';

insert into private.settings default values;

alter table private.settings enable row level security;
grant select, update on private.settings to service_role;

-- One row shared by every reader: service_role bypasses RLS; nobody else has grants.

-- Keeps updated_at honest on every table that has one.
create function private.touch_updated_at()
returns trigger
language plpgsql
volatile
set search_path = ''
as $$
begin
  new.updated_at := pg_catalog.now();
  return new;
end;
$$;

create trigger settings_touch_updated_at
before update on private.settings
for each row execute function private.touch_updated_at();

-- The settings row, for other functions (definer: API roles cannot read private.settings).
create function private.current_settings()
returns private.settings
language sql
stable
security definer
set search_path = ''
as $$
  select s from private.settings as s where s.id
$$;

grant execute on function private.current_settings() to authenticated, service_role;
