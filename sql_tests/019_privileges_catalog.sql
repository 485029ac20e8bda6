-- The catalog-driven guard: it reads pg_catalog rather than naming objects, so a new migration that forgets a
-- rule fails here. Every function in `public` that anon or authenticated may execute must be on the reviewed
-- allow-list below (with exactly its roles); every function pins its search_path (security definer ones to
-- ""); no policy calls auth.uid()/auth.jwt()/auth.role() bare (unwrapped, they run once per row instead of
-- once per query); RLS is on everywhere; PUBLIC is granted nothing. The helpers in `private` are on a
-- reviewed allow-list of their own (anon, authenticated and service_role), and each grant must be needed by
-- an invoker function the role may call; no API role reads a salt; no extension lives in `public`. Runs as
-- `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(31);

-- The reviewed allow-list ----------------------------------------------------------------------------------
-- Each entry: a public function app clients call through PostgREST, and the API roles that may call it.
-- Adding a function here is a review decision: say who calls it and why. service_role is not listed: it is
-- not a client role. Entries whose migration is not applied yet are skipped, not failed.
create temporary table reviewed_rpc (signature text primary key, roles text[] not null, why text not null)
on commit drop;
insert into reviewed_rpc (signature, roles, why) values
-- issue 3: the money path
(
  'public.set_cancel_at_period_end(boolean)', '{authenticated}',
  'the one subscription change a user makes; acts on auth.uid() only'
),
(
  'public.create_payment(text,text,text)', '{authenticated}',
  'starts a checkout as the user: price from the catalog, rate-limited'
),
-- issue 3: admin RPCs, each 403 unless user_roles says admin
('public.admin_set_role(text,text)', '{authenticated}', 'admin only (private.require_admin)'),
('public.admin_bootstrap(text[])', '{authenticated}', 'admin only (private.require_admin)'),
('public.admin_list_users(text,integer,integer)', '{authenticated}', 'admin only (private.require_admin)'),
('public.admin_payment_metrics()', '{authenticated}', 'admin only (private.require_admin)'),
('public.admin_revenue_by_day(integer)', '{authenticated}', 'admin only (private.require_admin)'),
(
  'public.admin_list_payments(text,text,timestamptz,uuid,text,integer,integer)', '{authenticated}',
  'admin only (private.require_admin)'
),
(
  'public.admin_list_webhook_events(text,text,timestamptz,text,integer,integer)', '{authenticated}',
  'admin only (private.require_admin)'
),
('public.admin_get_webhook_event(uuid)', '{authenticated}', 'admin only (private.require_admin)'),
(
  'public.admin_list_audit(uuid,text,text,text,timestamptz,bigint,integer)', '{authenticated}',
  'admin only (private.require_admin)'
),
('public.admin_reset_rate_limit(text,text)', '{authenticated}', 'admin only (private.require_admin)'),
(
  'public.admin_upsert_plan(text,text,text,jsonb,bigint,integer,integer,text,boolean,text,integer)',
  '{authenticated}', 'admin only (private.require_admin)'
),
-- read-only catalog (20261122003000): invoker, over tables anon and authenticated already read
(
  'public.currency_exponents()', '{anon,authenticated}',
  'ISO 4217 exponents for formatting amounts; invoker over public.currencies'
),
(
  'public.plan_catalog()', '{anon,authenticated}',
  'active plans with their prices for a pricing page; invoker over plans and plan_prices'
),
-- issue 4: product features app clients call directly
('public.join_waitlist(text,text)', '{anon,authenticated}', 'the public waitlist form; rate-limited per IP'),
('public.my_ai_usage()', '{authenticated}', 'the caller''s own AI usage this month'),
('public.update_profile(text,text)', '{authenticated}', 'the caller''s own name and avatar path');

-- The reviewed allow-list of private helpers ---------------------------------------------------------------
-- `private` is not exposed through PostgREST, but a grant there is still a grant: any session that can set
-- one of these roles (the CLI's DATABASE_URL, a definer bug elsewhere) can call the helper directly. A
-- definer function runs as its owner, so the helpers *it* calls need no grant at all; a role needs EXECUTE
-- on a private function only when an invoker function it calls (or a policy, default or check evaluated
-- as that role) calls it. Each entry: the helper, the roles that need it, and the invoker caller that
-- makes them need it. service_role is listed here (unlike above): a grant to it is a grant too.
create temporary table reviewed_helper (signature text primary key, roles text[] not null, why text not null)
on commit drop;
insert into reviewed_helper (signature, roles, why) values
-- the definer halves of the user-facing RPCs: each public wrapper is invoker, so its callers need them
(
  'private.join_waitlist(text,text)', '{anon,authenticated}',
  'definer half of public.join_waitlist (invoker; the waitlist form)'
),
(
  'private.set_cancel_at_period_end(boolean)', '{authenticated}',
  'definer half of public.set_cancel_at_period_end (invoker)'
),
(
  'private.create_payment(text,text,text)', '{authenticated}',
  'definer half of public.create_payment (invoker)'
),
('private.my_ai_usage()', '{authenticated}', 'definer half of public.my_ai_usage (invoker)'),
('private.update_profile(text,text)', '{authenticated}', 'definer half of public.update_profile (invoker)'),
-- the definer halves of the admin RPCs, whose public wrappers admins and the service role call;
-- each starts with private.require_admin (which itself needs no grant: only definers call it)
(
  'private.admin_set_role(text,text)', '{authenticated,service_role}',
  'definer half of public.admin_set_role'
),
('private.admin_bootstrap(text[])', '{authenticated,service_role}', 'definer half of public.admin_bootstrap'),
(
  'private.admin_list_users(text,integer,integer)', '{authenticated,service_role}',
  'definer half of public.admin_list_users'
),
(
  'private.admin_payment_metrics()', '{authenticated,service_role}',
  'definer half of public.admin_payment_metrics'
),
(
  'private.admin_revenue_by_day(integer)', '{authenticated,service_role}',
  'definer half of public.admin_revenue_by_day'
),
(
  'private.admin_list_payments(text,text,timestamptz,uuid,text,integer,integer)',
  '{authenticated,service_role}', 'definer half of public.admin_list_payments'
),
(
  'private.admin_list_webhook_events(text,text,timestamptz,text,integer,integer)',
  '{authenticated,service_role}', 'definer half of public.admin_list_webhook_events'
),
(
  'private.admin_get_webhook_event(uuid)', '{authenticated,service_role}',
  'definer half of public.admin_get_webhook_event'
),
(
  'private.admin_list_audit(uuid,text,text,text,timestamptz,bigint,integer)', '{authenticated,service_role}',
  'definer half of public.admin_list_audit'
),
(
  'private.admin_reset_rate_limit(text,text)', '{authenticated,service_role}',
  'definer half of public.admin_reset_rate_limit'
),
(
  'private.admin_upsert_plan(text,text,text,jsonb,bigint,integer,integer,text,boolean,text,integer)',
  '{authenticated,service_role}', 'definer half of public.admin_upsert_plan'
),
-- the definer halves the operator RPCs kept (20261204001020): the service role lacks what they read
(
  'private.operator_list_admins()', '{service_role}',
  'definer half of public.operator_list_admins: reads auth.users'
),
(
  'private.operator_get_user(text)', '{service_role}',
  'definer half of public.operator_get_user: reads auth.users'
),
(
  'private.operator_get_payment(text)', '{service_role}',
  'definer half of public.operator_get_payment: reads auth.users'
),
(
  'private.operator_diagnostics()', '{service_role}',
  'definer half of public.operator_diagnostics: reads cron.job'
),
-- what the service RPCs, which are invoker and run as service_role, call
(
  'private.current_settings()', '{service_role}',
  'claim_webhook_event, record_contact_submission, activate_paid_plan and revert_refunded_plan read '
  || 'operator settings; the row holds no salt (private.ip_hash_salt does)'
),
(
  'private.consume_rate_limit(text,text,integer,integer,timestamptz)', '{service_role}',
  'public.consume_rate_limit and public.record_contact_submission'
),
(
  'private.hash_ip(text)', '{service_role}',
  'public.record_contact_submission; returns a hash, never the salt'
),
('private.normalize_email(text)', '{service_role}', 'public.record_contact_submission'),
(
  'private.rate_limit_ip_subject(text)', '{service_role}',
  'public.record_contact_submission: the per-IP bucket (an IPv6 client by its /64)'
),
(
  'private.activate_paid_plan(public.payments,timestamptz)', '{service_role}',
  'public.apply_payment_event (invoker helper: runs as the service role)'
),
(
  'private.revert_refunded_plan(public.payments,timestamptz)', '{service_role}',
  'public.apply_payment_event (invoker helper: runs as the service role)'
),
(
  'private.payment_transition(text,text)', '{service_role}',
  'public.apply_payment_event (invoker: runs as the service role): the transition table'
),
(
  'private.webhook_event_claimable(text,timestamptz)', '{service_role}',
  'public.apply_payment_event and public.claim_webhook_event (invoker): the ledger takeover rule'
),
(
  'private.write_audit(text,text,text,jsonb,jsonb)', '{service_role}',
  'the operator RPCs (invoker, service role only) audit each call; the service role may insert into '
  || 'private.audit_logs anyway'
),
('private.page_size(integer)', '{service_role}', 'public.operator_pending_payments: a pure function'),
('private.latest_migration_version()', '{service_role}', 'public.health'),
('private.reserve_ai_usage(uuid,integer,timestamptz)', '{service_role}', 'public.reserve_ai_usage'),
('private.run_billing_cycle(timestamptz)', '{service_role}', 'public.run_billing_cycle');

-- The checks, as views: asserted empty on the real catalog first, then shown to catch planted violations.
-- Functions are named by regprocedure on both sides, so the two lists compare exactly.
create temporary view granted_rpc as
select
  p.oid::regprocedure::text as function_name,
  r.role_name
from pg_catalog.pg_proc as p
cross join (values ('anon'), ('authenticated')) as r (role_name)
where p.pronamespace = 'public'::regnamespace and has_function_privilege(r.role_name, p.oid, 'execute');

create temporary view allowed_rpc as
select
  to_regprocedure(l.signature)::text as function_name,
  r.role_name
from reviewed_rpc as l
cross join lateral unnest(l.roles) as r (role_name)
where to_regprocedure(l.signature) is not null;

create temporary view granted_helper as
select
  p.oid::regprocedure::text as function_name,
  r.role_name
from pg_catalog.pg_proc as p
cross join (values ('anon'), ('authenticated'), ('service_role')) as r (role_name)
where p.pronamespace = 'private'::regnamespace and has_function_privilege(r.role_name, p.oid, 'execute');

create temporary view allowed_helper as
select
  to_regprocedure(l.signature)::text as function_name,
  r.role_name
from reviewed_helper as l
cross join lateral unnest(l.roles) as r (role_name)
where to_regprocedure(l.signature) is not null;

-- Grants on private helpers that no invoker function executable by that role calls (nor a policy, column
-- default or check constraint, which are evaluated as the caller). Bodies are matched by name, so a mention
-- only in a comment counts as a call: this errs on the side of accepting, the allow-list is the review.
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

-- On the real catalog ---------------------------------------------------------------------------------------
select is_empty(
  $$ select l.signature from reviewed_rpc as l
     where l.signature not like 'public.%' or l.roles = '{}' or not l.roles <@ '{anon,authenticated}' $$,
  'the allow-list names public functions and only the client roles anon/authenticated'
);
select cmp_ok(
  (select count(*)::integer from allowed_rpc), '>=', 13,
  'the allow-list resolves against the catalog (the issue 3 RPCs at least)'
);
select set_eq(
  $$ select g.function_name, g.role_name from granted_rpc as g $$,
  $$ select a.function_name, a.role_name from allowed_rpc as a $$,
  'anon and authenticated may execute exactly the reviewed public functions, with exactly the reviewed roles'
);
select is_empty(
  $$ select l.signature from reviewed_helper as l
     where l.signature not like 'private.%' or l.roles = '{}'
       or not l.roles <@ '{anon,authenticated,service_role}' $$,
  'the helper allow-list names private functions and only the API roles'
);
select set_eq(
  $$ select g.function_name, g.role_name from granted_helper as g $$,
  $$ select a.function_name, a.role_name from allowed_helper as a $$,
  'anon, authenticated and service_role may execute exactly the reviewed private helpers, with exactly '
  || 'the reviewed roles'
);
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
  $$ select p.oid::regprocedure::text from pg_catalog.pg_proc as p
     where p.pronamespace = 'public'::regnamespace and p.prosecdef $$,
  'no RPC in public is security definer (definer helpers live in private)'
);
select is_empty(
  $$ select p.oid::regprocedure::text from pg_catalog.pg_proc as p
     where p.pronamespace in ('public'::regnamespace, 'private'::regnamespace)
       and (p.proacl is null or exists (select 1 from aclexplode(p.proacl) as a where a.grantee = 0)) $$,
  'no function in public or private is executable by PUBLIC (and none relies on the default ACL)'
);
select is_empty(
  $$ select format('%s.%s %s', p.schemaname, p.tablename, p.policyname) from pg_catalog.pg_policies as p
     where p.schemaname = 'public' and 'public' = any(p.roles) $$,
  'every policy in public names its role (to anon / to authenticated), none applies to PUBLIC'
);
select tests.rls_enabled('public');
select tests.rls_enabled('private');
select is_empty(
  $$ select c.oid::regclass::text from pg_catalog.pg_class as c
     where c.relnamespace in ('public'::regnamespace, 'private'::regnamespace)
       and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
       and exists (select 1 from aclexplode(c.relacl) as a where a.grantee = 0) $$,
  'no table, view or sequence in public or private grants anything to PUBLIC'
);
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
grant execute on function public.catalog_test_probe() to anon;
revoke execute on function public.create_payment(text, text, text) from authenticated;
select set_eq(
  $$ (select g.function_name, g.role_name from granted_rpc as g
      except select a.function_name, a.role_name from allowed_rpc as a)
     union all
     (select a.function_name, a.role_name from allowed_rpc as a
      except select g.function_name, g.role_name from granted_rpc as g) $$,
  $$ values
       ('public.catalog_test_probe()'::regprocedure::text, 'anon'),
       ('public.create_payment(text,text,text)'::regprocedure::text, 'authenticated') $$,
  'the allow-list check sees a function granted without review, and a reviewed grant gone missing'
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
-- A helper granted without review (and needed by nothing), and a reviewed helper grant gone missing.
grant execute on function private.catalog_test_probe() to service_role;
revoke execute on function private.hash_ip(text) from service_role;
select set_eq(
  $$ (select g.function_name, g.role_name from granted_helper as g
      except select a.function_name, a.role_name from allowed_helper as a)
     union all
     (select a.function_name, a.role_name from allowed_helper as a
      except select g.function_name, g.role_name from granted_helper as g) $$,
  $$ values
       ('private.catalog_test_probe()'::regprocedure::text, 'service_role'),
       ('private.hash_ip(text)'::regprocedure::text, 'service_role') $$,
  'the helper allow-list check sees a private function granted without review, and a reviewed grant gone'
);
select set_eq(
  $$ select u.function_name, u.role_name from unneeded_helper_grant as u $$,
  $$ values
       ('private.catalog_test_probe()'::regprocedure::text, 'service_role'),
       ('private.create_payment(text,text,text)'::regprocedure::text, 'authenticated') $$,
  'the need check sees a helper grant no invoker function of that role calls (the probe), and one whose '
  || 'only caller that role lost (public.create_payment, revoked above)'
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
