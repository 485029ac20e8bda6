-- Profiles and onboarding.
--
-- profiles: one per user, readable by its owner, who may change only full_name directly.
-- ONE trigger on auth.users insert onboards a user: the profile (name and avatar from the sign-up
-- metadata), a FREE subscription, and a role (admin when the email is on the bootstrap list).
-- Deleting a user cascades to profile, role and subscription; payments and audit rows stay with the
-- user reference set to null (their own foreign keys say so).

create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  full_name text,
  avatar_path text,
  avatar_url text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- Names are for display: bounded.
  constraint profiles_full_name_length check (char_length(full_name) <= 200),
  constraint profiles_avatar_length check (
    char_length(avatar_path) <= 300 and char_length(avatar_url) <= 2048
  )
);

comment on table public.profiles is 'Public-facing profile of each user';

create trigger profiles_touch_updated_at
before update on public.profiles
for each row execute function private.touch_updated_at();

alter table public.profiles enable row level security;

grant select on public.profiles to authenticated;
-- Column-level: the owner may change the name; avatar columns change only through update_profile().
grant update (full_name) on public.profiles to authenticated;
grant select, insert, update, delete on public.profiles to service_role;

create policy profiles_select_own on public.profiles
for select to authenticated
using (id = (select auth.uid()));

create policy profiles_update_own on public.profiles
for update to authenticated
using (id = (select auth.uid()))
with check (id = (select auth.uid()));

-- Runs as the table owner because Supabase Auth inserts users as supabase_auth_admin, which has no
-- rights on our tables.
create function private.handle_new_user()
returns trigger
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  meta jsonb := coalesce(new.raw_user_meta_data, '{}'::jsonb);
  settings private.settings := private.current_settings();
  is_bootstrap_admin boolean;
begin
  -- citext's case-insensitive `=` lives in `extensions`; with search_path '' a bare `=` would resolve to
  -- pg_catalog's text = text and compare case-sensitively.
  is_bootstrap_admin := new.email is not null
    and new.email::extensions.citext operator(extensions.=) any(settings.admin_bootstrap_emails);

  insert into public.profiles (id, full_name, avatar_url)
  values (
    new.id,
    left(nullif(btrim(coalesce(meta ->> 'full_name', meta ->> 'name', '')), ''), 200),
    left(nullif(coalesce(meta ->> 'avatar_url', meta ->> 'picture', ''), ''), 2048)
  );

  insert into public.subscriptions (user_id, plan_code, status, current_period_start)
  values (new.id, settings.default_plan, 'active', pg_catalog.now());

  insert into public.user_roles (user_id, role)
  values (new.id, case when is_bootstrap_admin then 'admin' else 'member' end);

  return new;
end;
$$;

create trigger on_auth_user_created
after insert on auth.users
for each row execute function private.handle_new_user();
