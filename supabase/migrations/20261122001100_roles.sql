-- Roles: user_roles is the only source of truth for who is an admin. Admin checks read this table,
-- never a JWT claim (claims go stale until the token is refreshed).

create table public.user_roles (
  user_id uuid primary key references auth.users (id) on delete cascade,
  role text not null default 'member',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- Two roles: members use the product, admins operate it.
  constraint user_roles_role_known check (role in ('member', 'admin'))
);

comment on table public.user_roles is 'One role per user; the only source of truth for admin';

create index user_roles_admins_idx on public.user_roles (user_id) where role = 'admin';

create trigger user_roles_touch_updated_at
before update on public.user_roles
for each row execute function private.touch_updated_at();

alter table public.user_roles enable row level security;

grant select on public.user_roles to authenticated;
grant select, insert, update, delete on public.user_roles to service_role;

create policy user_roles_select_own on public.user_roles
for select to authenticated
using (user_id = (select auth.uid()));

-- Definer: policies and RPCs ask this for any user, whatever the caller may read itself.
create function private.is_admin(uid uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.user_roles as r where r.user_id = uid and r.role = 'admin'
  )
$$;

grant execute on function private.is_admin(uuid) to authenticated, service_role;

-- Admin RPCs accept the service role (the CLI, the edge app) or a signed-in admin; everyone else: 403.
create function private.require_admin()
returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if (select auth.role()) = 'service_role' then
    return;
  end if;
  if (select auth.uid()) is null or not private.is_admin((select auth.uid())) then
    raise exception using
      errcode = 'PT403',
      message = 'admin_required',
      detail = 'This operation is for admins only.';
  end if;
end;
$$;

grant execute on function private.require_admin() to authenticated, service_role;
