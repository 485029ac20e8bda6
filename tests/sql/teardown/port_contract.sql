-- Removes what tests/sql/port_contract.sql installed, at the end of the pytest session: the pgTAP suite
-- checks that schema `tests` holds exactly its documented helpers, and `make test` may run again on the
-- same local stack.

do $$
declare
  fn regprocedure;
begin
  for fn in
    select p.oid::regprocedure
    from pg_catalog.pg_proc as p
    join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
    where n.nspname = 'tests' and p.proname like 'contract\_%'
  loop
    execute format('drop function %s', fn);
  end loop;
end
$$;

drop table if exists tests.contract_keys;
