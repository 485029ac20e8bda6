-- The catalog-driven guard: it reads pg_catalog rather than naming objects, so a new migration that forgets a
-- rule fails here. These are the structural rules; which role may do what with each table and function is
-- stated once, in tests/security/privileges_allowlist.json (with why, for every grant a client role or a
-- private helper gets), and compared with the catalog by tests/security/test_privilege_audit.py. The rules:
-- every function pins its search_path (security definer ones to ""); no definer function in public; no
-- policy calls auth.uid()/auth.jwt()/auth.role() bare (unwrapped, they run once per row instead of once
-- per query) or applies to PUBLIC; RLS is on everywhere; PUBLIC is granted nothing; every foreign key is
-- indexed; no extension lives in `public`; no API role reads a salt; and every API-role grant on a private
-- helper is needed by an invoker function the role may call. Each is shown to catch a planted violation.
-- Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(26);

-- The checks, as views: asserted empty on the real catalog first, then shown to catch planted violations.
-- Functions are named by regprocedure.
create temporary view granted_helper as
select
  p.oid::regprocedure::text as function_name,
  r.role_name
from pg_catalog.pg_proc as p
cross join (values ('anon'), ('authenticated'), ('service_role')) as r (role_name)
where p.pronamespace = 'private'::regnamespace and has_function_privilege(r.role_name, p.oid, 'execute');

-- Grants on private helpers that no invoker function executable by that role calls (nor a policy, column
-- default or check constraint, which are evaluated as the caller). Bodies are matched by name, so a mention
-- only in a comment counts as a call: this errs on the side of accepting (the allow-list's why reviews it).
create temporary view unneeded_helper_grant as
select
  g.function_name,
  g.role_name
from granted_helper as g
inner join pg_catalog.pg_proc as h on g.function_name::regprocedure = h.oid
where
  not exists (
    select 1 from pg_catalog.pg_proc as c
    where
      c.pronamespace in ('public'::regnamespace, 'private'::regnamespace)
      and not c.prosecdef
      and c.oid <> h.oid
      and has_function_privilege(g.role_name, c.oid, 'execute')
      and c.prosrc ~ ('private\.' || h.proname || '\s*\(')
  )
  and not exists (
    select 1 from pg_catalog.pg_policies as p
    where (coalesce(p.qual, '') || ' ' || coalesce(p.with_check, '')) ~ ('private\.' || h.proname || '\(')
  )
  and not exists (
    select 1 from pg_catalog.pg_attrdef as d
    where pg_get_expr(d.adbin, d.adrelid) ~ ('private\.' || h.proname || '\(')
  )
  and not exists (
    select 1 from pg_catalog.pg_constraint as k
    where k.contype = 'c' and pg_get_constraintdef(k.oid) ~ ('private\.' || h.proname || '\(')
  );

-- The columns a function's result carries: those of its row type, and its OUT/INOUT/TABLE parameters.
create temporary view function_result_column as
select
  p.oid as function_oid,
  a.attname::text as column_name
from pg_catalog.pg_proc as p
inner join pg_catalog.pg_type as t on p.prorettype = t.oid
inner join pg_catalog.pg_attribute as a on t.typrelid = a.attrelid
where a.attnum > 0 and not a.attisdropped
union all
select
  p.oid as function_oid,
  n.arg_name as column_name
from pg_catalog.pg_proc as p
cross join unnest(p.proargnames, p.proargmodes) as n (arg_name, arg_mode)
where n.arg_mode in ('o', 'b', 't');

-- Salts: no API role may read a column named like one, nor execute a function whose result carries one.
create temporary view readable_salt as
select
  format('%s.%s', c.oid::regclass, a.attname) as what,
  r.role_name
from pg_catalog.pg_class as c
inner join pg_catalog.pg_attribute as a on c.oid = a.attrelid
cross join (values ('anon'), ('authenticated'), ('service_role')) as r (role_name)
where
  c.relnamespace in ('public'::regnamespace, 'private'::regnamespace)
  and c.relkind in ('r', 'p', 'v', 'm', 'f')
  and a.attnum > 0 and not a.attisdropped
  and a.attname ~* 'salt'
  and has_column_privilege(r.role_name, c.oid, a.attnum, 'select')
union all
select
  format('%s returns %s', p.oid::regprocedure, o.column_name) as what,
  r.role_name
from pg_catalog.pg_proc as p
inner join function_result_column as o on p.oid = o.function_oid
cross join (values ('anon'), ('authenticated'), ('service_role')) as r (role_name)
where
  p.pronamespace in ('public'::regnamespace, 'private'::regnamespace)
  and o.column_name ~* 'salt'
  and has_function_privilege(r.role_name, p.oid, 'execute');

-- Supabase's advisor (splinter's extension_in_public): extensions belong in a schema of their own.
create temporary view extension_in_public as
select x.extname::text as extension_name
from pg_catalog.pg_extension as x
where x.extnamespace = 'public'::regnamespace;

-- Functions in public and private without a pinned search_path.
create temporary view unpinned_function as
select p.oid::regprocedure::text as function_name
from pg_catalog.pg_proc as p
where
  p.pronamespace in ('public'::regnamespace, 'private'::regnamespace)
  and not exists (
    select 1 from unnest(p.proconfig) as c
    where c like 'search_path=%'
  );

-- Security definer functions in public and private whose search_path is not exactly "".
create temporary view loose_definer as
select p.oid::regprocedure::text as function_name
from pg_catalog.pg_proc as p
where
  p.pronamespace in ('public'::regnamespace, 'private'::regnamespace)
  and p.prosecdef
  and not coalesce('search_path=""' = any(p.proconfig), false);

-- Policies calling auth.uid()/auth.jwt()/auth.role() outside a (select ...). pg_policies shows a wrapped call
-- as `( SELECT auth.uid() AS uid)`; take those out, and no call may remain.
create temporary view bare_auth_policy as
select format('%s.%s %s', p.schemaname, p.tablename, p.policyname) as policy
from pg_catalog.pg_policies as p
cross join lateral (values (coalesce(p.qual, '') || ' ' || coalesce(p.with_check, ''))) as e (expr)
where
  regexp_replace(e.expr, 'SELECT\s+\(*\s*auth\.(uid|jwt|role)\(\)', 'SELECT wrapped', 'gi')
  ~* 'auth\.(uid|jwt|role)\(\)';

-- Foreign keys in public and private without an index that starts with their columns (a partial index does
-- not count: it cannot find every referencing row). Reviewed exception: private.settings is a single row, so
-- its currency reference needs no index.
create temporary view unindexed_foreign_key as
select format('%s (%s)', c.conrelid::regclass, c.conname) as foreign_key
from pg_catalog.pg_constraint as c
inner join pg_catalog.pg_class as r on c.conrelid = r.oid
where
  c.contype = 'f'
  and r.relnamespace in ('public'::regnamespace, 'private'::regnamespace)
  and c.conname not in ('settings_default_currency_fkey')
  and not exists (
    select 1 from pg_catalog.pg_index as i
    where
      i.indrelid = c.conrelid
      and i.indpred is null
      and (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
      and c.conkey @> (i.indkey::int2[])[0:cardinality(c.conkey) - 1]
  );

-- Security definer functions in public: RPCs are invoker; definer helpers live in private.
create temporary view definer_in_public as
select p.oid::regprocedure::text as function_name
from pg_catalog.pg_proc as p
where p.pronamespace = 'public'::regnamespace and p.prosecdef;

-- Functions, tables, views and sequences in public and private that PUBLIC may use (a function without an
-- ACL is on the default one, which grants EXECUTE to PUBLIC).
create temporary view granted_to_public as
select 'function ' || p.oid::regprocedure::text as what
from pg_catalog.pg_proc as p
where
  p.pronamespace in ('public'::regnamespace, 'private'::regnamespace)
  and (
    p.proacl is null
    or exists (
      select 1 from aclexplode(p.proacl) as a
      where a.grantee = 0
    )
  )
union all
select 'relation ' || c.oid::regclass::text as what
from pg_catalog.pg_class as c
where
  c.relnamespace in ('public'::regnamespace, 'private'::regnamespace)
  and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
  and exists (
    select 1 from aclexplode(c.relacl) as a
    where a.grantee = 0
  );

-- Policies in public that name no role (they apply to PUBLIC).
create temporary view policy_for_public as
select format('%s.%s %s', p.schemaname, p.tablename, p.policyname) as policy
from pg_catalog.pg_policies as p
where p.schemaname = 'public' and 'public' = any(p.roles);

-- On the real catalog ---------------------------------------------------------------------------------------
select is_empty(
  $$ select u.function_name, u.role_name from unneeded_helper_grant as u $$,
  'every API-role grant on a private helper is needed by an invoker function that role may call'
);
select is_empty(
  $$ select s.what, s.role_name from readable_salt as s $$,
  'no API role reads a salt: not from a table, not from a function result'
);
select is_empty(
  $$ select e.extension_name from extension_in_public as e $$,
  'no extension is installed in schema public (the advisor''s extension_in_public)'
);
select is_empty(
  $$ select u.function_name from unpinned_function as u $$,
  'every function in public and private pins its search_path'
);
select is_empty(
  $$ select d.function_name from loose_definer as d $$,
  'every security definer function in public and private runs with search_path = '''''
);
select is_empty(
  $$ select b.policy from bare_auth_policy as b $$,
  'no policy calls auth.uid(), auth.jwt() or auth.role() bare; they are wrapped in (select ...)'
);
select is_empty(
  $$ select p.oid::regprocedure::text from pg_catalog.pg_proc as p
     where p.proowner = 'postgres'::regrole
       and p.pronamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
       and not exists (
         select 1 from pg_catalog.pg_depend as d
         where d.classid = 'pg_catalog.pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e'
       )
       and not exists (select 1 from unnest(p.proconfig) as c where c like 'search_path=%') $$,
  'every function the migrations create, in any schema, pins its search_path'
);
select is_empty(
  $$ select d.function_name from definer_in_public as d $$,
  'no RPC in public is security definer (definer helpers live in private)'
);
select is_empty(
  $$ select g.what from granted_to_public as g $$,
  'PUBLIC may use no function, table, view or sequence in public or private (none relies on the default ACL)'
);
select is_empty(
  $$ select p.policy from policy_for_public as p $$,
  'every policy in public names its role (to anon / to authenticated), none applies to PUBLIC'
);
select tests.rls_enabled('public');
select tests.rls_enabled('private');
select is_empty(
  $$ select f.foreign_key from unindexed_foreign_key as f $$,
  'every foreign key in public and private is covered by an index that starts with its columns'
);

-- The guards catch what they are for (planted violations, rolled back) -------------------------------------
create function public.catalog_test_probe()
returns integer
language sql
volatile
set search_path = ''
as $$ select 1 $$;
create function private.catalog_test_probe()
returns integer
language sql
volatile
set search_path = ''
as $$ select 1 $$;
select ok(
  not has_function_privilege('anon', 'public.catalog_test_probe()', 'execute')
  and not has_function_privilege('authenticated', 'public.catalog_test_probe()', 'execute')
  and not has_function_privilege('anon', 'private.catalog_test_probe()', 'execute')
  and not has_function_privilege('authenticated', 'private.catalog_test_probe()', 'execute'),
  'a new function is executable by no API role until a migration grants it (default privileges)'
);
create function public.catalog_test_unpinned()
returns integer
language sql
volatile
as $$ select 1 $$;
create function private.catalog_test_loose()
returns integer
language sql
volatile
security definer
set search_path = public
as $$ select 1 $$;
select set_eq(
  $$ select u.function_name from unpinned_function as u $$,
  $$ values ('public.catalog_test_unpinned()'::regprocedure::text) $$,
  'the search_path check sees a function without one'
);
select set_eq(
  $$ select d.function_name from loose_definer as d $$,
  $$ values ('private.catalog_test_loose()'::regprocedure::text) $$,
  'the definer check sees a security definer function whose search_path is not empty'
);

create table public.catalog_test_notes (id bigint primary key, owner_id uuid, body text);
alter table public.catalog_test_notes enable row level security;
create policy bare_uid on public.catalog_test_notes for select to authenticated
using (owner_id = auth.uid());
create policy bare_jwt on public.catalog_test_notes for insert to authenticated
with check ((auth.jwt() ->> 'role') = 'authenticated');
create policy half_wrapped on public.catalog_test_notes for update to authenticated
using (owner_id = (select auth.uid()))
with check (owner_id = auth.uid());
create policy wrapped on public.catalog_test_notes for delete to authenticated
using (owner_id = (select auth.uid()) and ((select auth.jwt()) ->> 'aal') = 'aal2');
select set_eq(
  $$ select b.policy from bare_auth_policy as b $$,
  $$ values
       ('public.catalog_test_notes bare_uid'), ('public.catalog_test_notes bare_jwt'),
       ('public.catalog_test_notes half_wrapped') $$,
  'the policy check sees bare calls in using and with check, and accepts wrapped ones'
);
-- A helper grant that no invoker function of that role needs, and one whose only caller that role lost.
grant execute on function private.catalog_test_probe() to service_role;
revoke execute on function public.create_payment(text, text, text) from authenticated;
select set_eq(
  $$ select u.function_name, u.role_name from unneeded_helper_grant as u $$,
  $$ values
       ('private.catalog_test_probe()'::regprocedure::text, 'service_role'),
       ('private.create_payment(text,text,text)'::regprocedure::text, 'authenticated') $$,
  'the need check sees a helper grant no invoker function of that role calls (the probe), and one whose '
  || 'only caller that role lost (public.create_payment)'
);

-- A definer function in public, a function and a table granted to PUBLIC, a policy without a role.
create function public.catalog_test_definer()
returns integer
language sql
volatile
security definer
set search_path = ''
as $$ select 1 $$;
grant execute on function public.catalog_test_probe() to public;
create table private.catalog_test_shared (id integer primary key);
alter table private.catalog_test_shared enable row level security;
grant select on private.catalog_test_shared to public;
create policy catalog_test_everyone on public.catalog_test_notes for select using (true);
select set_eq(
  $$ select d.function_name from definer_in_public as d $$,
  $$ values ('public.catalog_test_definer()'::regprocedure::text) $$,
  'the definer check sees a security definer function in public'
);
select set_eq(
  $$ select g.what from granted_to_public as g $$,
  $$ values
       ('function ' || 'public.catalog_test_probe()'::regprocedure::text),
       ('relation private.catalog_test_shared') $$,
  'the PUBLIC check sees a function and a table granted to PUBLIC'
);
select set_eq(
  $$ select p.policy from policy_for_public as p $$,
  $$ values ('public.catalog_test_notes catalog_test_everyone') $$,
  'the policy-role check sees a policy that applies to PUBLIC'
);

-- A salt readable through a table grant, through a function's row type and through an OUT column.
create table private.catalog_test_salted (id integer primary key, pepper_salt bytea);
grant select on private.catalog_test_salted to service_role;
create function private.catalog_test_salted_row()
returns private.catalog_test_salted
language sql
stable
set search_path = ''
as $$ select s from private.catalog_test_salted as s $$;
grant execute on function private.catalog_test_salted_row() to authenticated;
create function public.catalog_test_salt_out(out id integer, out salt bytea)
language sql
stable
set search_path = ''
as $$ select 1, null::bytea $$;
grant execute on function public.catalog_test_salt_out() to anon;
select set_eq(
  $$ select s.what, s.role_name from readable_salt as s $$,
  $$ values
       ('private.catalog_test_salted.pepper_salt', 'service_role'),
       ('private.catalog_test_salted_row() returns pepper_salt', 'authenticated'),
       ('catalog_test_salt_out() returns salt', 'anon') $$,
  'the salt check sees a salt column granted to an API role, and salts in function results'
);

-- An extension in public (a trusted one the migration role may create), as the advisor would flag it.
create extension tsm_system_rows with schema public;
select set_eq(
  $$ select e.extension_name from extension_in_public as e $$,
  $$ values ('tsm_system_rows') $$,
  'the extension check sees an extension created in public'
);

-- A foreign key without an index, and one covered only by a partial index.
create table private.catalog_test_refs (
  id bigint primary key,
  plain_code text references public.currencies (code),
  partial_code text constraint catalog_test_refs_partial_fkey references public.currencies (code)
);
create index catalog_test_refs_partial_idx on private.catalog_test_refs (partial_code)
where partial_code is not null;
select set_eq(
  $$ select f.foreign_key from unindexed_foreign_key as f $$,
  $$ values
       ('private.catalog_test_refs (catalog_test_refs_plain_code_fkey)'),
       ('private.catalog_test_refs (catalog_test_refs_partial_fkey)') $$,
  'the foreign-key check sees a foreign key without an index, and one only a partial index covers'
);

create table public.catalog_test_open (id bigint primary key);
select * from check_test(
  tests.rls_enabled('public'), false, 'the RLS check sees a public table without RLS',
  'All tables in schema public have row level security enabled'
);

select * from finish();
rollback;
