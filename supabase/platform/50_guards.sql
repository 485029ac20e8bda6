-- Platform stand-in, part 5: keep migrations from reshaping the platform's `auth` and `storage` objects.
--
-- LOCAL STACK ONLY (see 10_roles.sql).
--
-- Why this exists: hosted projects let `postgres` create, alter and drop policies on storage.objects
-- (and a few other platform tables) without owning them, through the supautils extension. Plain
-- PostgreSQL demands ownership for policies, so 40_storage.sql makes `postgres` a member of the storage
-- tables' owner. Ownership would also allow ALTER TABLE (e.g. disabling RLS), DROP TABLE, triggers and so
-- on, none of which a hosted project allows. These event triggers take those powers away again, so that a
-- migration that works here also works on a hosted project.
--
-- What a non-superuser may still do to objects in `auth` and `storage`:
--   * CREATE / ALTER / DROP POLICY                (hosted: supautils policy grants)
--   * GRANT / REVOKE, COMMENT                     (hosted: postgres holds grant options on these tables)
--   * CREATE TRIGGER on auth tables, and dropping such a trigger along with its function
--     (`drop function … cascade`)                 (hosted: postgres has TRIGGER on auth.users)
-- Everything else (ALTER TABLE, DROP TABLE, ALTER FUNCTION, CREATE TRIGGER / RULE on storage tables, …) is
-- refused with SQLSTATE 42501, the code PostgreSQL itself uses for missing privileges. Creating tables,
-- functions, types or indexes in these schemas already fails without an event trigger: nobody but the
-- superuser and supabase_auth_admin has CREATE on them.
--
-- Event triggers cannot see role-level commands (CREATE/ALTER/GRANT ROLE); those are not guarded.

-- Shared test: is the role running the command a superuser? (The platform itself, and the test helpers,
-- are applied as supabase_admin and must not be stopped.) Event trigger functions run with the privileges
-- of the user whose command fired them, so current_user is the role doing the DDL, even after SET ROLE.
create function extensions.platform_guard_is_superuser()
returns boolean
language sql
stable
set search_path = ''
as $$
  select coalesce((select r.rolsuper from pg_catalog.pg_roles as r where r.rolname = current_user), false)
$$;

-- After a DDL command: inspect every object it created or altered.
create function extensions.platform_guard_ddl()
returns event_trigger
language plpgsql
set search_path = ''
as $$
declare
  cmd record;
  target_schema text;
begin
  if extensions.platform_guard_is_superuser() then
    return;
  end if;

  for cmd in select * from pg_catalog.pg_event_trigger_ddl_commands() loop
    if cmd.command_tag in ('CREATE POLICY', 'ALTER POLICY', 'GRANT', 'REVOKE', 'COMMENT') then
      continue;
    end if;

    -- Triggers and rules carry no schema of their own here: use their table's.
    target_schema := cmd.schema_name;
    if target_schema is null and cmd.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass then
      select n.nspname into target_schema
        from pg_catalog.pg_trigger as t
        join pg_catalog.pg_class as c on c.oid = t.tgrelid
        join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
       where t.oid = cmd.objid;
    elsif target_schema is null and cmd.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass then
      select n.nspname into target_schema
        from pg_catalog.pg_rewrite as r
        join pg_catalog.pg_class as c on c.oid = r.ev_class
        join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
       where r.oid = cmd.objid;
    end if;

    if coalesce(target_schema, '') not in ('auth', 'storage') then
      continue;
    end if;
    -- `postgres` holds TRIGGER on auth.users, as on hosted projects (e.g. "create a profile row
    -- when a user signs up").
    if target_schema = 'auth' and cmd.object_type = 'trigger' then
      continue;
    end if;

    raise exception '% % refused: schema % belongs to the Supabase platform',
        cmd.command_tag, cmd.object_identity, target_schema
      using errcode = '42501',
          hint = 'Migrations may create, alter and drop policies, grant and revoke, comment, '
            || 'and create triggers on auth tables; nothing else in auth or storage.';
  end loop;
end
$$;

-- While a DROP (or ALTER … DROP) runs: inspect every object being removed.
create function extensions.platform_guard_drop()
returns event_trigger
language plpgsql
set search_path = ''
as $$
declare
  obj record;
  target_schema text;
begin
  if extensions.platform_guard_is_superuser() then
    return;
  end if;

  for obj in select * from pg_catalog.pg_event_trigger_dropped_objects() loop
    target_schema := obj.schema_name;
    -- Rules (and, on some paths, triggers and policies) report no schema; their address starts with
    -- the schema of their table.
    if target_schema is null and obj.object_type in ('rule', 'trigger', 'policy', 'table constraint') then
      target_schema := obj.address_names[1];
    end if;

    if coalesce(target_schema, '') not in ('auth', 'storage') then
      continue;
    end if;
    if obj.object_type = 'policy' then
      continue;
    end if;
    -- Objects removed only because they are internal parts of something else being dropped, such as
    -- the foreign-key triggers PostgreSQL keeps on auth.users for a public table that references it.
    if not obj.original and not obj.normal then
      continue;
    end if;
    -- A migration's own trigger on an auth table, dropped together with its trigger function.
    if target_schema = 'auth' and obj.object_type = 'trigger' then
      continue;
    end if;

    raise exception '% refused: it would drop % %, and schema % belongs to the Supabase platform',
        tg_tag, obj.object_type, obj.object_identity, target_schema
      using errcode = '42501',
          hint = 'Migrations may drop policies on auth and storage tables, and their own triggers on '
            || 'auth tables; nothing else there.';
  end loop;
end
$$;

-- Event trigger functions cannot be called directly anyway; nobody needs EXECUTE on them.
-- platform_guard_is_superuser() keeps PostgreSQL's default PUBLIC EXECUTE: the guards call it as whoever
-- runs the DDL.
revoke all on function extensions.platform_guard_ddl() from public;
revoke all on function extensions.platform_guard_drop() from public;

-- Owned by supabase_admin (who runs this file); only a superuser can alter or drop an event trigger.
create event trigger platform_guard_ddl on ddl_command_end
  execute function extensions.platform_guard_ddl();
create event trigger platform_guard_drop on sql_drop
  execute function extensions.platform_guard_drop();
