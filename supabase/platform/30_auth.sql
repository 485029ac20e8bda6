-- Platform stand-in, part 3: the `auth` schema of Supabase Auth (GoTrue), as far as our migrations see it.
--
-- LOCAL STACK ONLY (see 10_roles.sql). Facts: reference/supabase-platform.md §1.3, §2.
--
-- Only `auth.users` and the JWT helper functions are reproduced; GoTrue's other tables (identities,
-- sessions, refresh_tokens, mfa_*, …) are not, because nothing of ours reads them.

-- Owned by the superuser, as on hosted projects. This also makes `supabase db lint` skip the schema.
create schema if not exists auth authorization supabase_admin;

-- The API roles can resolve names in `auth` (auth.uid() in policies) but get no table privileges.
grant usage on schema auth to anon, authenticated, service_role;
-- The migration role may use the schema but not create in it: hosted projects revoked CREATE on `auth`
-- from `postgres`, so a migration cannot add tables or functions here.
grant usage on schema auth to postgres;
-- GoTrue runs its own migrations as supabase_auth_admin. USAGE also matters for us: a foreign key from a
-- public table to auth.users is checked with the privileges of auth.users' owner, and without USAGE
-- every insert into the referencing table fails with "permission denied for schema auth".
grant usage, create on schema auth to supabase_auth_admin;

-- auth.users ------------------------------------------------------------------------------------------
-- The final column set after all GoTrue migrations, in GoTrue's column order. Defaults are deliberately
-- sparse: GoTrue supplies id, created_at and updated_at itself, so the table has no defaults for them.
create table auth.users (
  instance_id                 uuid,
  id                          uuid not null,
  aud                         varchar(255),
  role                        varchar(255),
  email                       varchar(255),
  encrypted_password          varchar(255),
  email_confirmed_at          timestamptz,
  invited_at                  timestamptz,
  confirmation_token          varchar(255),
  confirmation_sent_at        timestamptz,
  recovery_token              varchar(255),
  recovery_sent_at            timestamptz,
  email_change_token_new      varchar(255),
  email_change                varchar(255),
  email_change_sent_at        timestamptz,
  last_sign_in_at             timestamptz,
  raw_app_meta_data           jsonb,
  raw_user_meta_data          jsonb,
  is_super_admin              boolean,
  created_at                  timestamptz,
  updated_at                  timestamptz,
  phone                       text default null,
  phone_confirmed_at          timestamptz,
  phone_change                text default '',
  phone_change_token          varchar(255) default '',
  phone_change_sent_at        timestamptz,
  -- Whichever of the two confirmations came first; read-only, so inserts must not name it.
  confirmed_at                timestamptz
                              generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
  email_change_token_current  varchar(255) default '',
  -- 0 = no change pending, 1 = one of two confirmations received, 2 = both.
  email_change_confirm_status smallint default 0,
  banned_until                timestamptz,
  reauthentication_token      varchar(255) default '',
  reauthentication_sent_at    timestamptz,
  is_sso_user                 boolean not null default false,
  deleted_at                  timestamptz,
  is_anonymous                boolean not null default false,
  constraint users_pkey primary key (id),
  constraint users_phone_key unique (phone),
  constraint users_email_change_confirm_status_check
    check (email_change_confirm_status >= 0 and email_change_confirm_status <= 2)
);

comment on table auth.users is
  'Auth: user accounts, written by Supabase Auth (local stand-in of the hosted table).';
comment on column auth.users.is_sso_user is
  'Auth: true for accounts created through SSO; such accounts may share an email with other accounts.';

-- Email is unique only among non-SSO accounts (the plain UNIQUE constraint was replaced by this index).
create unique index users_email_partial_key on auth.users (email) where is_sso_user = false;
create index users_instance_id_email_idx on auth.users (instance_id, email);
create index users_instance_id_idx on auth.users (instance_id);
create index users_is_anonymous_idx on auth.users (is_anonymous);
-- One-time tokens must be unique while set; blank or purely numeric placeholders are exempt.
create unique index confirmation_token_idx on auth.users (confirmation_token)
  where confirmation_token !~ '^[0-9 ]*$';
create unique index recovery_token_idx on auth.users (recovery_token)
  where recovery_token !~ '^[0-9 ]*$';
create unique index email_change_token_current_idx on auth.users (email_change_token_current)
  where email_change_token_current !~ '^[0-9 ]*$';
create unique index email_change_token_new_idx on auth.users (email_change_token_new)
  where email_change_token_new !~ '^[0-9 ]*$';
create unique index reauthentication_token_idx on auth.users (reauthentication_token)
  where reauthentication_token !~ '^[0-9 ]*$';

alter table auth.users owner to supabase_auth_admin;

-- RLS on, no policies: nobody without BYPASSRLS sees a row, even with a table privilege.
alter table auth.users enable row level security;

-- Privileges, as hosted: the API roles get nothing (PostgreSQL grants nothing on tables to PUBLIC either);
-- the migration role gets everything, which is what lets a migration create a trigger on auth.users
-- (TRIGGER) and a foreign key to it (REFERENCES). It still cannot ALTER or DROP the table: it neither
-- owns it nor is a member of its owner.
revoke all on table auth.users from public, anon, authenticated, service_role;
grant all on table auth.users to postgres;
grant select on table auth.users to postgres with grant option;

-- Whatever supabase_auth_admin creates later is likewise fully available to the migration role.
alter default privileges for role supabase_auth_admin in schema auth
  grant all on tables to postgres;
alter default privileges for role supabase_auth_admin in schema auth
  grant all on sequences to postgres;
alter default privileges for role supabase_auth_admin in schema auth
  grant all on routines to postgres;

-- JWT helper functions --------------------------------------------------------------------------------
-- Each reads the legacy per-claim setting first (`request.jwt.claim.<name>`, written by old PostgREST
-- versions and by the Storage API), then the JSON of all claims (`request.jwt.claims`). An empty string
-- counts as unset: a transaction-local setting reads back as '' once its transaction has ended.
--
-- Plain `language sql stable` without a SET clause, like the hosted ones, so the planner can inline them;
-- every name is schema-qualified instead of pinning search_path.

create function auth.uid()
returns uuid
language sql
stable
as $$
  select coalesce(
    nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), ''),
    nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'
  )::uuid
$$;
comment on function auth.uid() is 'Deprecated. Use auth.jwt() -> ''sub'' instead.';

create function auth.role()
returns text
language sql
stable
as $$
  select coalesce(
    nullif(pg_catalog.current_setting('request.jwt.claim.role', true), ''),
    nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'
  )::text
$$;
comment on function auth.role() is 'Deprecated. Use auth.jwt() -> ''role'' instead.';

create function auth.email()
returns text
language sql
stable
as $$
  select coalesce(
    nullif(pg_catalog.current_setting('request.jwt.claim.email', true), ''),
    nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'email'
  )::text
$$;
comment on function auth.email() is 'Deprecated. Use auth.jwt() -> ''email'' instead.';

-- The whole claim set: the legacy single-GUC form `request.jwt.claim` first, then `request.jwt.claims`.
create function auth.jwt()
returns jsonb
language sql
stable
as $$
  select coalesce(
    nullif(pg_catalog.current_setting('request.jwt.claim', true), ''),
    nullif(pg_catalog.current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

alter function auth.uid() owner to supabase_auth_admin;
alter function auth.role() owner to supabase_auth_admin;
alter function auth.email() owner to supabase_auth_admin;
alter function auth.jwt() owner to supabase_auth_admin;

-- PUBLIC already has EXECUTE on new functions; the explicit grants document who relies on them (policies
-- evaluated as the API roles, and migrations/tests as postgres) and survive a later REVOKE … FROM PUBLIC.
grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt()
  to anon, authenticated, service_role, postgres;
