-- Test-only functions for the database-port contract test (tests/test_port_contract.py). Installed on the
-- local stack by the pytest session, as superuser; never part of a migration. Idempotent.

create schema if not exists tests;
grant usage on schema tests to anon, authenticated, service_role;

create table if not exists tests.contract_keys (k text primary key);
grant select, insert on tests.contract_keys to anon, authenticated, service_role;

-- Who am I, as the database sees it: the role, the claims and the request GUCs.
create or replace function tests.contract_whoami()
returns json
language sql
stable
set search_path = ''
as $$
  select json_build_object(
    'current_user', current_user,
    'role', auth.role(),
    'uid', auth.uid(),
    'email', auth.email(),
    'method', current_setting('request.method', true),
    'path', current_setting('request.path', true),
    'x_probe', (current_setting('request.headers', true)::json ->> 'x-probe'),
    'read_only', current_setting('transaction_read_only'),
    'statement_timeout', current_setting('statement_timeout')
  )
$$;

create or replace function tests.contract_add(a integer, b integer default 10)
returns integer
language sql
immutable
set search_path = ''
as $$ select a + b $$;

create or replace function tests.contract_series(n integer)
returns setof integer
language sql
immutable
set search_path = ''
as $$ select pg_catalog.generate_series(1, n) $$;

create or replace function tests.contract_rows(n integer)
returns table (i integer, label text, at timestamptz)
language sql
immutable
set search_path = ''
as $$
  select g, 'row ' || g, timestamptz '2026-01-01 00:00:00+00' + pg_catalog.make_interval(days => g)
  from pg_catalog.generate_series(1, n) as g
$$;

create or replace function tests.contract_one_row()
returns tests.contract_keys
language sql
immutable
set search_path = ''
as $$ select row('only')::tests.contract_keys $$;

create or replace function tests.contract_echo_json(payload jsonb, tags text[] default '{}')
returns jsonb
language sql
immutable
set search_path = ''
as $$ select jsonb_build_object('payload', payload, 'tags', to_jsonb(tags)) $$;

create or replace function tests.contract_raise_plain()
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  raise exception 'plain failure' using detail = 'some detail', hint = 'some hint';
end;
$$;

create or replace function tests.contract_raise_pt403()
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  raise exception using errcode = 'PT403', message = 'not_yours', detail = '{"owner": "someone else"}',
    hint = 'ask the owner';
end;
$$;

create or replace function tests.contract_raise_42501()
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  raise exception using errcode = '42501', message = 'permission denied for this thing';
end;
$$;

create or replace function tests.contract_unique_violation(k text)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  insert into tests.contract_keys (k) values (k);
  insert into tests.contract_keys (k) values (k);
end;
$$;

create or replace function tests.contract_insert_key(k text)
returns void
language sql
volatile
set search_path = ''
as $$ insert into tests.contract_keys (k) values (k) $$;

-- STABLE, so PostgREST runs it read-only: the write it reaches must fail with 25006 (405).
create or replace function tests.contract_write_in_stable(k text)
returns void
language sql
stable
set search_path = ''
as $$ select tests.contract_insert_key(k) $$;

-- Executable by service_role only: anon gets 401, a user 403 (42501 depends on who asks).
create or replace function tests.contract_service_only()
returns text
language sql
stable
set search_path = ''
as $$ select 'secret' $$;

-- Exactly the roles below may call these (PUBLIC loses its default EXECUTE).
do $$
declare
  fn regprocedure;
begin
  for fn in
    select p.oid::regprocedure from pg_catalog.pg_proc as p
    where p.pronamespace = 'tests'::regnamespace and p.proname like 'contract\_%'
  loop
    execute format('revoke execute on function %s from public', fn);
    if fn::text <> 'tests.contract_service_only()' then
      execute format('grant execute on function %s to anon, authenticated', fn);
    else
      execute format('revoke execute on function %s from anon, authenticated', fn);
    end if;
    execute format('grant execute on function %s to service_role', fn);
  end loop;
end;
$$;
