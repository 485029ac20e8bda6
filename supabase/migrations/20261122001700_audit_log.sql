-- The audit log: who changed what, before and after.
--
-- Row triggers record every insert, update and delete on profiles, user_roles, subscriptions and payments;
-- admin RPCs add an explicit entry for each call. The actor comes from the request: a signed-in user
-- (kind 'admin' when user_roles says so), the service role, or 'system' (pg_cron, Supabase Auth, migrations).
-- Deleting a user keeps their audit rows with actor_user_id set to null.

create table private.audit_logs (
  id bigint generated always as identity primary key,
  actor_user_id uuid references auth.users (id) on delete set null,
  actor_kind text not null,
  action text not null,
  entity text not null,
  entity_id text,
  before jsonb,
  after jsonb,
  created_at timestamptz not null default now(),
  constraint audit_logs_actor_kind_known check (actor_kind in ('user', 'admin', 'service', 'system'))
);

comment on table private.audit_logs is 'Append-only record of changes and admin actions';

create index audit_logs_actor_user_id_idx on private.audit_logs (actor_user_id);
create index audit_logs_entity_idx on private.audit_logs (entity, entity_id);
create index audit_logs_created_at_idx on private.audit_logs (created_at desc);

alter table private.audit_logs enable row level security;
-- Append-only even for the service role: no update or delete grant.
grant select, insert on private.audit_logs to service_role;

-- Who is acting in this request.
create function private.current_actor(out actor_user_id uuid, out actor_kind text)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
begin
  if (select auth.role()) = 'service_role' then
    actor_kind := 'service';
  elsif uid is not null then
    -- Null once the user is gone: a user deleting their own account writes audit rows while the deletion
    -- cascades, and actor_user_id's foreign key would refuse a reference to the row being deleted.
    actor_user_id := (select u.id from auth.users as u where u.id = uid);
    actor_kind := case when private.is_admin(uid) then 'admin' else 'user' end;
  else
    actor_kind := 'system';
  end if;
end;
$$;

create function private.write_audit(
  action text,
  entity text,
  entity_id text,
  before jsonb default null,
  after jsonb default null
)
returns void
language sql
volatile
security definer
set search_path = ''
as $$
  insert into private.audit_logs (actor_user_id, actor_kind, action, entity, entity_id, before, after)
  select a.actor_user_id, a.actor_kind, write_audit.action, write_audit.entity, write_audit.entity_id,
    write_audit.before, write_audit.after
  from private.current_actor() as a
$$;

grant execute on function private.write_audit(text, text, text, jsonb, jsonb) to authenticated, service_role;

-- One trigger function for every audited table; TG_ARGV[0] names the column that identifies the row.
create function private.audit_row_change()
returns trigger
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  before_row jsonb := case when tg_op in ('UPDATE', 'DELETE') then pg_catalog.to_jsonb(old) end;
  after_row jsonb := case when tg_op in ('INSERT', 'UPDATE') then pg_catalog.to_jsonb(new) end;
begin
  -- An update that changed nothing but the timestamp is not a change.
  if tg_op = 'UPDATE' and (before_row - 'updated_at') = (after_row - 'updated_at') then
    return null;
  end if;
  perform private.write_audit(
    tg_table_name || '.' || pg_catalog.lower(tg_op),
    tg_table_name,
    coalesce(after_row, before_row) ->> tg_argv[0],
    before_row,
    after_row
  );
  return null;
end;
$$;

create trigger profiles_audit
after insert or update or delete on public.profiles
for each row execute function private.audit_row_change('id');

create trigger user_roles_audit
after insert or update or delete on public.user_roles
for each row execute function private.audit_row_change('user_id');

create trigger subscriptions_audit
after insert or update or delete on public.subscriptions
for each row execute function private.audit_row_change('user_id');

create trigger payments_audit
after insert or update or delete on public.payments
for each row execute function private.audit_row_change('id');
